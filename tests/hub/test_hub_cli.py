"""`zoolab hub ...` maintenance commands: tokens, organisations, verify, gc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from zoolab.cli.main import app
from zoolab.hub.store import AddFile, Store

runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_token_create_prints_only_a_working_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = subprocess.run([sys.executable, "-m", "zoolab", "hub", "token", "create", "--user", "alice", "--write",
                          "--home", str(home)], capture_output=True, text=True, check=True)
    token = out.stdout.strip()
    assert len(out.stdout.strip().splitlines()) == 1 and token.startswith("zl_")
    user = Store(home).authenticate(token)
    assert user is not None and user.name == "alice" and user.can_write
    read_only = invoke("hub", "token", "create", "--user", "bob", "--home", str(home)).output.strip()
    assert Store(home).authenticate(read_only).can_write is False  # type: ignore[union-attr]


def test_home_defaults_to_zoolab_home(isolated_home: Path) -> None:
    token = invoke("hub", "token", "create", "--user", "alice").output.strip()
    assert Store(isolated_home).authenticate(token) is not None


def test_org_commands(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert invoke("hub", "org", "create", "vision-lab", "--home", home).exit_code == 0
    assert invoke("hub", "org", "add-member", "vision-lab", "alice", "--home", home).exit_code == 0
    assert invoke("hub", "org", "add-member", "vision-lab", "bob", "--home", home).exit_code == 0
    assert invoke("hub", "org", "remove-member", "vision-lab", "bob", "--home", home).exit_code == 0
    listed = invoke("hub", "org", "list", "--json", "--home", home)
    assert json.loads(listed.output) == {"vision-lab": ["alice"]}
    again = invoke("hub", "org", "create", "vision-lab", "--home", home)
    assert again.exit_code != 0 and "exists already" in again.output
    missing = invoke("hub", "org", "add-member", "nope", "alice", "--home", home)
    assert missing.exit_code != 0 and "zoolab hub org create nope" in missing.output
    bad = invoke("hub", "org", "create", "bad name!", "--home", home)
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_verify_and_gc(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(home)
    store.create_repo("alice/m")
    store.commit("alice/m", [AddFile("w.bin", content=b"\0" * 4096)], message="w")
    orphan, _ = store.put_blob(b"orphan bytes")
    old = time.time() - 7200
    os.utime(store.blob_path(orphan), (old, old))
    ok = invoke("hub", "verify", "--home", str(home))
    assert ok.exit_code == 0 and "OK" in ok.output
    gc = invoke("hub", "gc", "--json", "--home", str(home))
    assert json.loads(gc.output) == {"blobs_removed": 1, "bytes_freed": len(b"orphan bytes")}
    assert store.blob_path(store.file_entry("alice/m", "w.bin").sha256).exists()
    store.blob_path(store.file_entry("alice/m", "w.bin").sha256).chmod(0o644)  # stored read-only
    store.blob_path(store.file_entry("alice/m", "w.bin").sha256).write_bytes(b"\1" * 4096)
    bad = invoke("hub", "verify", "--json", "--home", str(home))
    assert bad.exit_code == 1
    assert len(json.loads(bad.output)["problems"]) == 1


def test_serve_refuses_bad_options(tmp_path: Path) -> None:
    result = invoke("hub", "serve", "--home", str(tmp_path), "--upload-mode", "xet")
    assert result.exit_code == 2 and "upload mode" in result.output


def test_every_hub_command_has_an_example_in_help() -> None:
    for command in (["serve"], ["verify"], ["gc"], ["token", "create"], ["token", "list"], ["token", "revoke"],
                    ["org", "create"], ["org", "add-member"],
                    ["org", "remove-member"], ["org", "list"]):
        result = invoke("hub", *command, "--help")
        assert result.exit_code == 0 and "Example" in result.output, command


def test_serve_prints_exactly_one_listening_line(make_hub_server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    server = make_hub_server()
    assert httpx.get(f"{server.url}/api/models").json() == []
    server.stop()
    lines = server.stdout_path.read_text().splitlines()
    assert lines == [f"zoolab hub listening on {server.url}"]


def test_serve_on_a_busy_port_is_one_clear_error(hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = hub_server.url.rsplit(":", 1)[1]
    out = subprocess.run([sys.executable, "-m", "zoolab", "hub", "serve", "--home", str(tmp_path), "--port", port],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "cannot listen" in out.stderr and "Traceback" not in out.stderr


def test_token_list_and_revoke(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    keep = invoke("hub", "token", "create", "--user", "alice", "--home", home).output.strip()
    drop = invoke("hub", "token", "create", "--user", "alice", "--write", "--home", home).output.strip()
    listed = json.loads(invoke("hub", "token", "list", "--user", "alice", "--json", "--home", home).output)
    assert [(t["user"], t["write"]) for t in listed] == [("alice", False), ("alice", True)]
    assert keep not in json.dumps(listed) and drop not in json.dumps(listed)
    assert invoke("hub", "token", "revoke", listed[1]["id"], "--home", home).exit_code == 0
    store = Store(Path(home))
    assert store.authenticate(drop) is None and store.authenticate(keep) is not None
    assert invoke("hub", "token", "revoke", keep, "--home", home).exit_code == 0
    assert store.authenticate(keep) is None
    again = invoke("hub", "token", "revoke", keep, "--home", home)
    assert again.exit_code != 0 and "token list" in again.output
