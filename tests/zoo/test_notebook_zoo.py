"""The zoo quickstart notebook runs top to bottom, offline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "zoo_quickstart.ipynb"


def test_zoo_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits TMPDIR: the notebook's scratch folder lands here, and its last cell deletes it.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    outputs = "".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    assert "max abs difference: 0.0" in outputs
    assert "['cat', 'dog', 'rabbit', 'hamster']" in outputs
    (deleted,) = re.findall(r"deleted (\S+) \(\d+ MiB\)", outputs)
    assert Path(deleted).parent == scratch and not Path(deleted).exists()
