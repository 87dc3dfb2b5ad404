"""The remote source against a live zoolab hub server: the same code path as the Hugging Face Hub."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zoolab.hub as hub
from zoolab.cli.main import app
from zoolab.errors import InvalidCardError, OfflineError, RepoNotFoundError
from zoolab.hub import config, layout
from tests.client.conftest import LiveHub, make_model, sha256

runner = CliRunner()
pytestmark = pytest.mark.xdist_group("client-hub")


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any HTTP request through huggingface_hub fail the test."""
    import huggingface_hub.utils._http as http

    def boom(*_a, **_k):
        raise AssertionError("a network call was made")

    monkeypatch.setattr(http, "get_session", boom)
    monkeypatch.setattr("huggingface_hub.file_download.get_session", boom, raising=False)
    monkeypatch.setattr("huggingface_hub.hf_api.get_session", boom, raising=False)


def test_publish_lfs_and_download_roundtrip(team: LiveHub, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", big=11 * 2**20)  # over 10 MiB: an LFS file on the Hub protocol
    repo = team.new_repo_id("alice")
    res = hub.publish(folder, f"team:{repo}", message="first", progress=False)
    assert res.url == f"{team.url}/{repo}" and res.card_generated
    details = hub.info(f"team:{repo}")
    assert details.sha == res.commit_id and details.frameworks == ("torch", "tf")
    assert {f.path: f.size for f in details.files}["weights/big.bin"] == 11 * 2**20
    assert details.card["library_name"] == "timm" and details.summary
    snap = hub.download(f"team:{repo}", progress=False)
    assert snap.commit == res.commit_id and not snap.from_cache
    assert snap.path == layout.cache_dir("team") / f"models--{repo.replace('/', '--')}" / "snapshots" / res.commit_id
    for name in ("weights/big.bin", "model.safetensors", "config.json"):
        assert sha256(snap.path / name) == sha256(folder / name)
    # Blobs are named by ETag: sha256 for LFS files.
    assert (snap.path / "weights/big.bin").resolve().name == sha256(folder / "weights/big.bin")


def test_hf_source_is_the_same_code_path(team: LiveHub, tmp_path: Path) -> None:
    # HF_ENDPOINT points at the live server: the built-in hf source uses the standard HF cache.
    folder = make_model(tmp_path / "m")
    repo = team.new_repo_id("alice")
    hub.publish(folder, f"team:{repo}", progress=False)
    snap = hub.download(f"hf:{repo}", framework="torch", progress=False)
    assert str(snap.path).startswith(str(layout.cache_dir("hf")))
    assert "tf_model.h5" not in snap.files and sha256(snap.path / "model.safetensors") == sha256(folder / "model.safetensors")
    from huggingface_hub import try_to_load_from_cache

    cache = str(layout.cache_dir("hf"))
    assert try_to_load_from_cache(repo, "config.json", cache_dir=cache) == str(snap.path / "config.json")


def test_pinned_commit_in_cache_makes_no_network_call(team: LiveHub, tmp_path: Path, monkeypatch) -> None:
    repo = team.new_repo_id("alice")
    res = hub.publish(make_model(tmp_path / "m"), f"team:{repo}", progress=False)
    first = hub.download(f"team:{repo}", revision=res.commit_id, progress=False)
    _no_network(monkeypatch)
    again = hub.download(f"team:{repo}", revision=res.commit_id, progress=False)
    assert again.from_cache and again.path == first.path and again.files == first.files
    torch_only = hub.download(f"team:{repo}", revision=res.commit_id, framework="torch", progress=False)
    assert "tf_model.h5" not in torch_only.files


def test_offline_and_unreachable_serve_from_cache(team: LiveHub, tmp_path: Path, monkeypatch) -> None:
    repo = team.new_repo_id("alice")
    res = hub.publish(make_model(tmp_path / "m"), f"team:{repo}", progress=False)
    hub.download(f"team:{repo}", framework="torch", progress=False)
    for var in ("ZOOLAB_OFFLINE", "HF_HUB_OFFLINE"):
        with monkeypatch.context() as m:
            m.setenv(var, "1")
            snap = hub.download(f"team:{repo}", framework="torch", progress=False)  # by branch
            assert snap.from_cache and snap.commit == res.commit_id
            with pytest.raises(OfflineError, match="lacks tf_model.h5"):
                hub.download(f"team:{repo}", progress=False)
            with pytest.raises(OfflineError, match="not in the cache"):
                hub.download(f"team:{repo}", revision="v9", progress=False)
    # The server stops answering (same source name, dead URL): the cache still serves the branch.
    from tests.client.conftest import free_port

    config.add_source("team", f"http://127.0.0.1:{free_port()}", replace=True)
    snap = hub.download(f"team:{repo}", framework="torch", progress=False)
    assert snap.from_cache and snap.commit == res.commit_id
    with pytest.raises(OfflineError, match="could not reach 127.0.0.1"):
        hub.download(f"team:{team.new_repo_id()}", progress=False)


def test_search_merges_sources_and_warns(team: LiveHub, tmp_path: Path) -> None:
    name = team.new_repo_id("alice").split("/")[1]
    hub.publish(make_model(tmp_path / "a"), f"team:alice/{name}", progress=False)
    hub.publish(make_model(tmp_path / "b", tf=False), f"local:me/{name}")
    from tests.client.conftest import free_port

    config.add_source("dead", f"http://127.0.0.1:{free_port()}")
    result = hub.search(name, timeout=5)
    got = {(h.source, h.repo_id) for h in result.hits}
    # hf points at the live server too, so the team repo is found through both remote sources.
    assert {("team", f"alice/{name}"), ("hf", f"alice/{name}"), ("local", f"me/{name}")} <= got
    assert any("'dead'" in w for w in result.warnings)
    tf_only = hub.search(name, framework="tf", source="team")
    assert [h.repo_id for h in tf_only.hits] == [f"alice/{name}"]
    r = runner.invoke(app, ["search", name, "--source", "local", "--json"])
    assert json.loads(r.stdout)["hits"][0]["repo_id"] == f"me/{name}"
    both = hub.search(name, source="team,local")
    assert {h.source for h in both.hits} == {"team", "local"} and both.warnings == []


def test_invalid_card_refused_before_anything_reaches_the_server(team: LiveHub, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", card="---\npipeline_tag: flying\n---\n# x\n")
    repo = team.new_repo_id("alice")
    with pytest.raises(InvalidCardError, match="'pipeline_tag'"):
        hub.publish(folder, f"team:{repo}", progress=False)
    with pytest.raises(RepoNotFoundError):
        hub.info(f"team:{repo}")


def test_publish_branch_private_and_permissions(team: LiveHub, tmp_path: Path) -> None:
    repo = team.new_repo_id("alice")
    hub.publish(make_model(tmp_path / "a"), f"team:{repo}", private=True, progress=False)
    dev = hub.publish(make_model(tmp_path / "b"), f"team:{repo}", branch="dev", progress=False)
    details = hub.info(f"team:{repo}")
    assert details.private and details.branches["dev"] == dev.commit_id
    assert hub.download(f"team:{repo}", revision="dev", progress=False).commit == dev.commit_id
    # Without a token the private repo is invisible, and the error says how to log in.
    config.add_source("anon", team.url)
    r = runner.invoke(app, ["info", f"anon:{repo}"])
    assert r.exit_code != 0 and "zoolab login --source anon" in r.stderr, r.output
    # Writing to someone else's namespace is refused.
    r = runner.invoke(app, ["publish", str(tmp_path / "a"), "team:bob/x"])
    assert r.exit_code != 0 and "permission denied" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_login_verifies_and_stores_token(team: LiveHub) -> None:
    config.add_source("other", team.url)
    r = runner.invoke(app, ["login", "--source", "other", "--token", "zl_wrong"])
    assert r.exit_code != 0 and "refused this token" in r.stderr
    assert config.load().sources["other"].token is None
    r = runner.invoke(app, ["login", "--source", "other"], input=team.token("alice") + "\n")
    assert r.exit_code == 0, r.output
    assert "as alice" in r.stdout and team.token("alice") not in r.stdout
    assert config.load().sources["other"].token == team.token("alice")


def _zoolab(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    import os

    return subprocess.Popen([sys.executable, "-m", "zoolab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kw)


def test_subprocess_cli(team: LiveHub, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    repo = team.new_repo_id("alice")
    p = _zoolab("publish", str(folder), f"team:{repo}", "--json")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    commit = json.loads(out)["commit_id"]
    p = _zoolab("download", f"team:{repo}", "--framework", "torch")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path.name == commit and sha256(path / "model.safetensors") == sha256(folder / "model.safetensors")
    p = _zoolab("download", f"team:{team.new_repo_id()}")
    out, err = p.communicate(timeout=120)
    assert p.returncode != 0 and "not found" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_four_processes_download_the_same_repo(team: LiveHub, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", big=24 * 2**20)
    for i in range(20):
        (folder / "extra").mkdir(exist_ok=True)
        (folder / "extra" / f"f{i}.json").write_text(json.dumps({"i": i}))
    repo = team.new_repo_id("alice")
    hub.publish(folder, f"team:{repo}", progress=False)
    procs = [_zoolab("download", f"team:{repo}", "-q") for _ in range(4)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    paths = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(paths) == 1
    path = Path(paths.pop())
    for f in ("weights/big.bin", "extra/f7.json", "model.safetensors"):
        assert sha256(path / f) == sha256(folder / f)
    r = runner.invoke(app, ["cache", "verify", f"team:{repo}", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["problems"] == []
    assert not list((path.parent.parent / "blobs").glob("*.incomplete"))


def test_local_dir_download_from_server(team: LiveHub, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    repo = team.new_repo_id("alice")
    res = hub.publish(folder, f"team:{repo}", progress=False)
    out = tmp_path / "out"
    snap = hub.download(f"team:{repo}", local_dir=out, framework="tf", progress=False)
    assert snap.path == out.resolve() and snap.commit == res.commit_id
    assert sorted(snap.files) == [".gitattributes", "README.md", "config.json", "tf_model.h5", "zoolab.json"]
    assert not (out / "model.safetensors").exists()
    assert not (out / "tf_model.h5").is_symlink() and sha256(out / "tf_model.h5") == sha256(folder / "tf_model.h5")


def test_offline_cli_error_is_one_line_and_info_of_dead_source(team: LiveHub, tmp_path: Path) -> None:
    p = _zoolab("download", f"team:{team.new_repo_id()}", env={"ZOOLAB_OFFLINE": "1"})
    out, err = p.communicate(timeout=120)
    assert p.returncode != 0 and out == ""
    assert "offline mode is on" in err and "zoolab download team:" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    from tests.client.conftest import free_port

    config.add_source("gone", f"http://127.0.0.1:{free_port()}")
    r = runner.invoke(app, ["info", "gone:me/x"])
    assert r.exit_code != 0 and "could not reach 127.0.0.1:" in r.stderr and "zoolab source list" in r.stderr
    assert "ZOOLAB_OFFLINE=1" in r.stderr
