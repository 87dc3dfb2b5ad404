"""Run huggingface_hub's own test files against a real zoolab hub server and count the results.

    .venv/bin/python tests/hub/hf_suite/run.py [--sdist huggingface_hub-2.4.0.tar.gz] [-n 2]
                                              [--files test_hf_api.py ...] [-- PYTEST_ARGS...]

The source distribution of huggingface_hub (the version installed, downloaded with
``pip download --no-deps --no-binary :all:`` unless ``--sdist`` names one) contains ``tests/``.
The runner copies five of its test files into a temporary package, points
``tests/testing_constants.py`` at a fresh ``zoolab hub serve`` (endpoint, users, tokens), adds the
fixtures the sdist leaves out (``suite_conftest.py``), deselects the tests of features zoolab does
not offer (``exclusions.py``, each group with its reason) and runs pytest. It prints the
pass/fail/skip/deselected counts; the exit status is pytest's.

Too long for ``make test`` (minutes); each difference it found has a fast regression test in
tests/hub/ instead.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for hub_server_support
sys.path.insert(0, str(HERE))

from exclusions import EXCLUDED, EXCLUDED_FILES_NOTE, MARKERS, PATCHES  # noqa: E402
from hub_server_support import HubServer  # noqa: E402

TEST_FILES = ("test_hf_api.py", "test_file_download.py", "test_snapshot_download.py", "test_commit_api.py",
              "test_hf_file_system.py")
HELPERS = ("testing_constants.py", "testing_utils.py")
# Valid user names on the server (the Hub CI's "__DUMMY_HUB_USER__" is not a valid Hub user name).
USER, OTHER_USER, ENTERPRISE_USER, ENTERPRISE_ORG = "dummy-hub-user", "DVUser", "EnterpriseAdmin", "EnterpriseOrgPrivate"


def installed_version() -> str:
    from importlib.metadata import version

    return version("huggingface_hub")


def fetch_sdist(dest: Path) -> Path:
    """The sdist of the installed huggingface_hub, downloaded from the package index."""
    name = f"huggingface_hub=={installed_version()}"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", name,
                    "-d", str(dest)], check=True)
    return next(dest.glob("huggingface_hub-*.tar.gz"))


def unpack_tests(sdist: Path, work: Path) -> Path:
    """The sdist's test files and helpers, as the package ``work/hfsuite``."""
    package = work / "hfsuite"
    package.mkdir()
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "tests" and parts[2] in TEST_FILES + HELPERS and member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                (package / parts[2]).write_bytes(source.read())
    missing = [name for name in TEST_FILES + HELPERS if not (package / name).exists()]
    if missing:
        raise SystemExit(f"{sdist.name} lacks {', '.join(missing)}")
    (package / "__init__.py").write_text("")
    shutil.copy(HERE / "suite_conftest.py", package / "conftest.py")
    (work / "pytest.ini").write_text("[pytest]\nmarkers =\n    xet\n    transfer\n    production\n    vcr\n")
    return package


def point_at_server(package: Path, server: HubServer) -> dict[str, str]:
    """Users, organisation and tokens of testing_constants on the server; the constants rewritten."""
    tokens = {"TOKEN": server.token(USER), "OTHER_TOKEN": server.token(OTHER_USER),
              "ENTERPRISE_TOKEN": server.token(ENTERPRISE_USER, orgs=[ENTERPRISE_ORG])}
    overrides = {"USER": USER, "FULL_NAME": USER, "OTHER_USER": OTHER_USER, "ENTERPRISE_USER": ENTERPRISE_USER,
                 "ENTERPRISE_ORG": ENTERPRISE_ORG, "ENDPOINT_STAGING": server.url, **tokens}
    constants = package / "testing_constants.py"
    text = constants.read_text()
    text += "\n# Pointed at a zoolab hub server by tests/hub/hf_suite/run.py\n"
    text += "".join(f"{key} = {value!r}\n" for key, value in overrides.items())
    constants.write_text(text)
    return tokens


def apply_patches(package: Path) -> None:
    """Remove what ``exclusions.PATCHES`` names (fixture steps that need an excluded feature)."""
    for patch in PATCHES:
        path = package / patch.file
        text, count = re.subn(patch.pattern, "", path.read_text(), flags=re.DOTALL)
        if count == 0:
            raise SystemExit(f"patch for {patch.file} matches nothing: {patch.pattern!r}")
        path.write_text(text)


def deselect_args(package: Path) -> list[str]:
    """``--deselect`` for every excluded node id that exists in these files (checked, so typos show)."""
    args = []
    for group in EXCLUDED:
        for node in group.nodes:
            file = node.split("::", 1)[0]
            if file not in TEST_FILES:
                raise SystemExit(f"exclusion {node!r} names a file that is not run")
            args += ["--deselect", f"hfsuite/{node}"]
    return args


def summarise(output: str) -> dict[str, int]:
    """Counts from pytest's final line (``3 failed, 120 passed, 4 skipped, 50 deselected``)."""
    counts = {key: 0 for key in ("passed", "failed", "skipped", "deselected", "error", "xfailed", "xpassed")}
    for line in output.splitlines()[::-1]:
        found = re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)", line)
        if found and line.lstrip("= ").split(" ")[0].isdigit():
            for number, key in found:
                counts[key.rstrip("s") if key.startswith("error") else key] += int(number)
            break
    return counts


def _is_selection(args: list[str], i: int) -> bool:
    """True for the deselection arguments (``--deselect X``, ``-m EXPR``) at index ``i``."""
    return args[i] in ("--deselect", "-m") or (i > 0 and args[i - 1] in ("--deselect", "-m"))


def _collected(command: list[str], work: Path, env: dict[str, str]) -> int:
    """How many tests ``command`` (a --collect-only run) selects."""
    out = subprocess.run(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # -qq prints one "hfsuite/test_x.py: N" line per file
    counts = re.findall(r"^hfsuite/\S+\.py: (\d+)$", out.stdout, flags=re.MULTILINE)
    return sum(int(n) for n in counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="huggingface_hub sdist (default: download the installed version)")
    parser.add_argument("--files", nargs="*", default=list(TEST_FILES), help="which of the five files to run")
    parser.add_argument("-n", "--workers", type=int, default=1, help="pytest-xdist workers")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server home, test copy)")
    parser.add_argument("--log", type=Path, help="write pytest's whole output here (the tail is printed)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zoolab-hf-suite-"))
    server = None
    try:
        sdist = args.sdist or fetch_sdist(work / "sdist")
        package = unpack_tests(sdist, work)
        server = HubServer(work / "home", extra_args=["--upload-mode", "lfs"])
        point_at_server(package, server)
        apply_patches(package)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        # The Hub's split of files into regular and LFS (no Xet, which zoolab does not speak).
        env.update({"HF_ENDPOINT": server.url, "HF_HOME": str(work / "hf_home"), "HF_HUB_DISABLE_XET": "1",
                    "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "10", "OMP_NUM_THREADS": "1",
                    "PYTHONPATH": str(work)})
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "console_output_style=classic",
                   "--rootdir", str(work), "-c", str(work / "pytest.ini"), "-rfEs", "-m", MARKERS,
                   *[f"hfsuite/{name}" for name in args.files], *deselect_args(package), *args.pytest_args]
        if args.workers > 1:
            command += ["-n", str(args.workers)]
        print(f"huggingface_hub {installed_version()} tests against {server.url} ({len(args.files)} files)",
              flush=True)
        # What the five files hold and what the exclusions leave (counted before the run: xdist's
        # summary has no deselected count).
        serial = [arg for i, arg in enumerate(command) if arg != "-n" and (i == 0 or command[i - 1] != "-n")]
        collect = serial[:3] + ["--collect-only", "-q", *serial[3:]]
        everything = collect[:3] + [arg for i, arg in enumerate(collect) if i >= 3 and not _is_selection(collect, i)]
        total, selected = _collected(everything, work, env), _collected(collect, work, env)
        result = subprocess.run(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        if args.log:
            args.log.write_text(result.stdout)
        print(result.stdout[-6000:])
        counts = summarise(result.stdout)
        counts["deselected"] = total - selected
        print("zoolab hub vs huggingface_hub tests: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
        print(EXCLUDED_FILES_NOTE)
        return result.returncode
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
