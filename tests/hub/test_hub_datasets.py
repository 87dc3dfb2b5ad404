"""Dataset repositories on a live hub server, through stock clients: huggingface_hub (HfApi,
snapshot_download, HfFileSystem) and ``datasets.load_dataset`` with HF_ENDPOINT at the server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hub_server_support import HubServer

TRAIN_CSV = b"text,label\nhello,1\nworld,0\nagain,1\n"
TEST_CSV = b"text,label\nbye,0\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = HubServer(tmp_path_factory.mktemp("datasets") / "home")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def token(server: HubServer) -> str:
    return server.token("alice", orgs=["lab"])


@pytest.fixture(scope="module")
def dataset_id(server: HubServer, token: str) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=server.url, token=token)
    repo_id = "lab/reviews"
    url = api.create_repo(repo_id, repo_type="dataset")
    assert url.repo_type == "dataset" and url.repo_id == repo_id
    api.create_commit(repo_id, repo_type="dataset", commit_message="data", operations=[
        CommitOperationAdd("data/train.csv", TRAIN_CSV), CommitOperationAdd("data/test.csv", TEST_CSV),
        CommitOperationAdd("README.md", b"---\nlicense: mit\ntags: [reviews]\n---\n# Reviews\n"),
    ])
    return repo_id


def test_dataset_and_model_of_one_id_are_apart(server: HubServer, token: str, dataset_id: str) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(endpoint=server.url, token=token)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(dataset_id)  # only the dataset exists
    api.create_repo(dataset_id)  # a model of the same id may exist beside it
    api.upload_file(repo_id=dataset_id, path_in_repo="config.json", path_or_fileobj=b"{}")
    info = api.dataset_info(dataset_id)
    assert sorted(s.rfilename for s in info.siblings) == [".gitattributes", "README.md", "data/test.csv",
                                                          "data/train.csv"]
    assert "config.json" not in {s.rfilename for s in info.siblings}
    assert info.card_data.license == "mit"
    assert [d.id for d in api.list_datasets(search="reviews")] == [dataset_id]
    assert [d.id for d in api.list_datasets(filter="reviews")] == [dataset_id]
    assert dataset_id not in {m.id for m in api.list_models(search="reviews") if m.id != dataset_id} | {None}
    assert api.file_exists(dataset_id, "data/train.csv", repo_type="dataset")
    assert not api.file_exists(dataset_id, "data/train.csv")  # not in the model
    api.delete_repo(dataset_id)  # the model; the dataset stays
    assert api.repo_exists(dataset_id, repo_type="dataset")


def test_private_dataset_is_invisible_to_others(server: HubServer, token: str) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    owner = HfApi(endpoint=server.url, token=token)
    owner.create_repo("alice/secret-data", repo_type="dataset", private=True)
    owner.upload_file(repo_id="alice/secret-data", repo_type="dataset", path_in_repo="x.csv", path_or_fileobj=b"a\n1\n")
    other = HfApi(endpoint=server.url, token=server.token("bob"))
    with pytest.raises(RepositoryNotFoundError):
        other.dataset_info("alice/secret-data")
    with pytest.raises(RepositoryNotFoundError):
        other.upload_file(repo_id="alice/secret-data", repo_type="dataset", path_in_repo="y.csv",
                          path_or_fileobj=b"b\n")
    assert "alice/secret-data" not in {d.id for d in other.list_datasets(author="alice")}
    assert "alice/secret-data" in {d.id for d in owner.list_datasets(author="alice")}


def test_snapshot_download_and_file_system(server: HubServer, token: str, dataset_id: str, tmp_path: Path) -> None:
    from huggingface_hub import HfFileSystem, hf_hub_download, snapshot_download

    folder = Path(snapshot_download(dataset_id, repo_type="dataset", endpoint=server.url, token=token,
                                    cache_dir=tmp_path / "cache", allow_patterns=["data/*"]))
    assert (folder / "data" / "train.csv").read_bytes() == TRAIN_CSV
    assert not (folder / "README.md").exists()
    path = hf_hub_download(dataset_id, "data/test.csv", repo_type="dataset", endpoint=server.url, token=token,
                           cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == TEST_CSV
    fs = HfFileSystem(endpoint=server.url, token=token, skip_instance_cache=True)
    assert sorted(fs.ls(f"datasets/{dataset_id}/data", detail=False)) == [
        f"datasets/{dataset_id}/data/test.csv", f"datasets/{dataset_id}/data/train.csv"]
    assert fs.cat(f"datasets/{dataset_id}/data/train.csv") == TRAIN_CSV
    with fs.open(f"datasets/{dataset_id}/notes.txt", "wb") as fh:
        fh.write(b"written through fsspec")
    assert fs.cat(f"datasets/{dataset_id}/notes.txt") == b"written through fsspec"
    assert fs.info(f"datasets/{dataset_id}/data/train.csv")["size"] == len(TRAIN_CSV)


LOAD = """
import sys
from datasets import load_dataset
ds = load_dataset(sys.argv[1])
print("ROWS", ds["train"].num_rows, ds["test"].num_rows, ds["train"][0]["text"], ds["train"][0]["label"])
"""


def test_datasets_load_dataset_reads_from_the_server(server: HubServer, token: str, dataset_id: str,
                                                     tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update({"HF_ENDPOINT": server.url, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf"),
                "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1"})
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(LOAD), dataset_id], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ROWS 3 1 hello 1" in result.stdout


def test_cli_publishes_searches_and_downloads_datasets(server: HubServer, token: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from zoolab.cli.main import app

    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    folder = tmp_path / "reviews"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.csv").write_bytes(TRAIN_CSV)
    runner = CliRunner()
    for target in ("hf:alice/cli-reviews", "local:alice/cli-reviews"):  # a server and the local registry
        published = runner.invoke(app, ["publish", str(folder), target, "--type", "dataset", "--json"])
        assert published.exit_code == 0, published.output
        assert json.loads(published.output)["files"] == ["data/train.csv"]  # no model card generated
        source = target.split(":")[0]
        found = runner.invoke(app, ["search", "cli-reviews", "--type", "dataset", "--source", source, "--json"])
        assert found.exit_code == 0, found.output
        assert [h["repo_id"] for h in json.loads(found.output)["hits"]] == ["alice/cli-reviews"]
        models = runner.invoke(app, ["search", "cli-reviews", "--source", source, "--json"])
        assert json.loads(models.output)["hits"] == []  # a dataset is not a model
        got = runner.invoke(app, ["download", target, "--type", "dataset", "--json", "-q"])
        assert got.exit_code == 0, got.output
        snapshot = json.loads(got.output)
        assert Path(snapshot["path"], "data", "train.csv").read_bytes() == TRAIN_CSV
        assert "datasets--alice--cli-reviews" in snapshot["path"]
    refused = runner.invoke(app, ["download", "hf:alice/cli-reviews", "--type", "dataset", "--framework", "torch"])
    assert refused.exit_code != 0 and "datasets" in refused.output and "Traceback" not in refused.output
    unknown = runner.invoke(app, ["search", "x", "--type", "space"])
    assert unknown.exit_code != 0 and "unknown repo type" in unknown.output


def test_dataset_lfs_uploads_through_zoolab_publish(server: HubServer, token: str, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    from zoolab.hub import config, download, publish

    config.add_source("team", server.url, token=token)
    folder = tmp_path / "shards"
    folder.mkdir()
    shard = bytes(range(256)) * 512  # binary: an LFS file, sent through the dataset's LFS batch URL
    (folder / "train-00000.bin").write_bytes(shard)
    result = publish(folder, "team:alice/shards", repo_type="dataset", progress=False)
    assert result.url.endswith("/datasets/alice/shards")
    info = HfApi(endpoint=server.url, token=token).dataset_info("alice/shards", files_metadata=True)
    lfs = {s.rfilename: s.lfs for s in info.siblings}
    assert lfs["train-00000.bin"] is not None and lfs["train-00000.bin"].size == len(shard)
    snap = download("team:alice/shards", repo_type="dataset", progress=False)
    assert (Path(snap.path) / "train-00000.bin").read_bytes() == shard
