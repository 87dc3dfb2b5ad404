"""The local registry as a source: publish, search, info, download, cache — library and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zoolab.hub as hub
from zoolab.cli.main import app
from zoolab.errors import InvalidCardError, RepoNotFoundError, UnsupportedError
from zoolab.hub import layout
from zoolab.hub.store import Store
from tests.client.conftest import make_model, sha256

runner = CliRunner()


def test_publish_download_roundtrip(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    res = hub.publish(folder, "local:me/tiny", message="v1")
    assert res.source == "local" and res.card_generated and "README.md" in res.files
    snap = hub.download("local:me/tiny", progress=False)
    assert snap.commit == res.commit_id
    assert snap.path == layout.cache_dir("local") / "models--me--tiny" / "snapshots" / res.commit_id
    for name in ("config.json", "model.safetensors", "tf_model.h5", "zoolab.json"):
        assert sha256(snap.path / name) == sha256(folder / name)
        assert (snap.path / name).is_symlink()
    assert (snap.path.parent.parent / "refs" / "main").read_text() == res.commit_id
    # The layout is huggingface_hub's: its own offline lookup finds the snapshot.
    from huggingface_hub import snapshot_download, try_to_load_from_cache

    cache = str(layout.cache_dir("local"))
    assert snapshot_download("me/tiny", cache_dir=cache, local_files_only=True) == str(snap.path)
    assert try_to_load_from_cache("me/tiny", "config.json", cache_dir=cache) == str(snap.path / "config.json")
    assert Store().repo_info("me/tiny").downloads == 1


def test_framework_and_patterns(tmp_path: Path) -> None:
    hub.publish(make_model(tmp_path / "m"), "me/fw", source="local")
    torch_snap = hub.download("local:me/fw", framework="torch", progress=False)
    assert "tf_model.h5" not in torch_snap.files and "model.safetensors" in torch_snap.files
    assert not (torch_snap.path / "tf_model.h5").exists()
    tf_snap = hub.download("local:me/fw", framework="tf", progress=False)
    assert "tf_model.h5" in tf_snap.files and "model.safetensors" not in tf_snap.files
    only = hub.download("local:me/fw", include=["*.json"], exclude=["zoolab*"], progress=False)
    assert only.files == ["config.json"]
    torch_only = make_model(tmp_path / "t", tf=False)
    # A timm architecture keras-hub does not convert: no way to load it in TensorFlow.
    (torch_only / "config.json").write_text('{"architecture": "convnext_tiny", "num_classes": 3}')
    hub.publish(torch_only, "me/torchonly", source="local")
    with pytest.raises(UnsupportedError, match="no tf weights"):
        hub.download("local:me/torchonly", framework="tf", progress=False)
    # One that keras-hub converts (resnet) downloads its safetensors for --framework tf, as
    # `zoolab predict --framework tf` loads it.
    hub.publish(make_model(tmp_path / "r", tf=False), "me/convertible", source="local")
    snap = hub.download("local:me/convertible", framework="tf", progress=False)
    assert "model.safetensors" in snap.files and "config.json" in snap.files


def test_pinned_revision_tag_branch_and_local_dir(tmp_path: Path) -> None:
    first = hub.publish(make_model(tmp_path / "a"), "local:me/rev")
    second = hub.publish(make_model(tmp_path / "b"), "local:me/rev")
    Store().create_tag("me/rev", "v1", revision=first.commit_id)
    hub.publish(make_model(tmp_path / "c"), "local:me/rev", branch="dev")
    assert hub.download("local:me/rev", revision="v1", progress=False).commit == first.commit_id
    assert hub.download("local:me/rev", progress=False).commit == second.commit_id
    pinned = hub.download("local:me/rev", revision=first.commit_id, progress=False)
    assert sha256(pinned.path / "model.safetensors") == sha256(tmp_path / "a" / "model.safetensors")
    again = hub.download("local:me/rev", revision=first.commit_id, progress=False)
    assert again.from_cache
    dev = hub.download("local:me/rev", revision="dev", progress=False)
    assert sha256(dev.path / "model.safetensors") == sha256(tmp_path / "c" / "model.safetensors")
    out = hub.download("local:me/rev", local_dir=tmp_path / "out", progress=False)
    assert out.path == (tmp_path / "out").resolve()
    assert not (tmp_path / "out" / "model.safetensors").is_symlink()
    assert sha256(tmp_path / "out" / "model.safetensors") == sha256(tmp_path / "b" / "model.safetensors")


def test_invalid_card_refused_before_upload(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", card="---\nlicense: not-a-license\n---\n# x\n")
    with pytest.raises(InvalidCardError, match="'license'"):
        hub.publish(folder, "local:me/badcard")
    with pytest.raises(RepoNotFoundError):
        Store().repo_info("me/badcard")


def test_cache_verify_detects_corruption_and_rm(tmp_path: Path) -> None:
    hub.publish(make_model(tmp_path / "m"), "local:me/cache")
    snap = hub.download("local:me/cache", progress=False)
    r = runner.invoke(app, ["cache", "verify", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["problems"] == []
    blob = (snap.path / "model.safetensors").resolve()
    blob.chmod(0o644)
    blob.write_bytes(b"corrupt")
    r = runner.invoke(app, ["cache", "verify", "--json"])
    assert r.exit_code == 1
    problems = json.loads(r.stdout)["problems"]
    assert len(problems) == 1 and blob.name in problems[0]
    r = runner.invoke(app, ["cache", "ls", "--json"])
    listed = json.loads(r.stdout)
    assert [(x["repo_id"], x["source"]) for x in listed] == [("me/cache", "local")]
    assert listed[0]["revisions"][0]["refs"] == ["main"]
    r = runner.invoke(app, ["cache", "rm", "local:me/cache"])
    assert r.exit_code == 0 and not snap.path.exists()
    r = runner.invoke(app, ["cache", "rm", "local:me/cache"])
    assert r.exit_code != 0 and "not in any download cache" in r.stderr


def test_cache_prune_removes_detached_revisions(tmp_path: Path) -> None:
    first = hub.publish(make_model(tmp_path / "a"), "local:me/prune")
    old = hub.download("local:me/prune", revision=first.commit_id, progress=False)
    hub.publish(make_model(tmp_path / "b"), "local:me/prune")
    new = hub.download("local:me/prune", progress=False)
    r = runner.invoke(app, ["cache", "prune"])
    assert r.exit_code == 0, r.output
    assert not old.path.exists() and new.path.exists()
    assert (new.path / "model.safetensors").exists()


def test_cli_local_flow(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    r = runner.invoke(app, ["publish", str(folder), "me/cli", "--source", "local", "--json"])
    assert r.exit_code == 0, r.output
    commit = json.loads(r.stdout)["commit_id"]
    r = runner.invoke(app, ["search", "cli", "--source", "local", "--json"])
    hits = json.loads(r.stdout)["hits"]
    assert [(h["repo_id"], h["source"], h["frameworks"]) for h in hits] == [("me/cli", "local", ["torch", "tf"])]
    r = runner.invoke(app, ["info", "local:me/cli", "--json"])
    info = json.loads(r.stdout)
    assert info["sha"] == commit and info["branches"] == {"main": commit} and info["library"] == "timm"
    assert {f["path"] for f in info["files"]} >= {"config.json", "model.safetensors", "README.md"}
    r = runner.invoke(app, ["download", "local:me/cli", "--framework", "torch", "-q"])
    assert r.exit_code == 0, r.output
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.name == commit and (path / "model.safetensors").exists() and not (path / "tf_model.h5").exists()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    cases = [
        (["download", "local:nobody/nothing"], "not found"),
        (["download", "bad id!"], "invalid repository id"),
        (["info", "nosuch:me/x"], "unknown source 'nosuch'"),
        (["publish", str(tmp_path / "missing"), "local:me/x"], "is not a folder"),
        (["search", "x", "--sort", "stars"], "unknown sort"),
        (["download", "local:me/x", "--framework", "jax"], "unknown framework"),
        (["source", "remove", "hf"], "built-in"),
    ]
    for args, needle in cases:
        r = runner.invoke(app, args)
        assert r.exit_code != 0, args
        err = r.stderr.strip()
        assert needle in err, (args, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in r.output, err


def test_help_has_examples() -> None:
    commands = [["source", "add"], ["source", "list"], ["source", "remove"], ["source", "default"], ["login"],
                ["search"], ["info"], ["download"], ["cache", "ls"], ["cache", "rm"], ["cache", "prune"],
                ["cache", "verify"], ["publish"]]
    for cmd in commands:
        r = runner.invoke(app, [*cmd, "--help"])
        assert r.exit_code == 0 and "Example: zoolab" in r.stdout, cmd


def test_interrupted_local_download_is_invisible_and_retried(tmp_path: Path, monkeypatch) -> None:
    folder = make_model(tmp_path / "m", big=3 * 2**20)
    hub.publish(folder, "local:me/interrupt")
    real_put = layout.put_blob

    def interrupted(storage, etag, src, *, progress=None):
        def boom(n: int) -> None:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-copy

        return real_put(storage, etag, src, progress=boom if src.stat().st_size > 2**20 else progress)

    monkeypatch.setattr(layout, "put_blob", interrupted)
    with pytest.raises(KeyboardInterrupt):
        hub.download("local:me/interrupt", progress=False)
    storage = layout.storage_folder("local", "me/interrupt")
    big = sha256(folder / "weights/big.bin")
    assert not (storage / "blobs" / big).exists()
    assert (storage / "blobs" / f"{big}.incomplete").exists()
    assert not any((p / "weights" / "big.bin").exists() for p in (storage / "snapshots").iterdir())
    monkeypatch.setattr(layout, "put_blob", real_put)
    snap = hub.download("local:me/interrupt", progress=False)
    assert sha256(snap.path / "weights/big.bin") == big
    assert not (storage / "blobs" / f"{big}.incomplete").exists()


def test_four_processes_download_from_the_local_registry(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = make_model(tmp_path / "m", big=6 * 2**20)
    hub.publish(folder, "local:me/many")
    procs = [subprocess.Popen([sys.executable, "-m", "zoolab", "download", "local:me/many", "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    paths = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(paths) == 1
    path = Path(paths.pop())
    assert sha256(path / "weights/big.bin") == sha256(folder / "weights/big.bin")
    from zoolab.hub.cache import verify

    checked, problems = verify("local:me/many")
    assert checked == 7 and problems == []
    assert Store().repo_info("me/many").downloads == 4
