"""Fine-tuning on a CUDA GPU with mixed precision (runs only where a GPU is present)."""

from __future__ import annotations

import pytest

from finetune_support import tiny_pretrained, write_digits_folder

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16"])
def test_cuda_mixed_precision_finetune(precision, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    import zoolab.zoo as zoo
    from zoolab.zoo.tuning.api import finetune

    model = zoo.load(str(tiny_pretrained(tmp_path / "pre")))
    data = write_digits_folder(tmp_path / "digits", classes=range(5, 10), per_class=60)
    run = finetune(model, str(data), epochs=3, out=tmp_path / "run", quiet=True, device="cuda", precision=precision,
                   **{"optim.lr": 3e-3, "optim.backbone_lr_scale": 1.0, "batch_size": 32})
    assert next(run.model.model.parameters()).device.type == "cuda"
    assert run.evaluation.accuracy > 0.6
    assert zoo.load(str(run.folder / "best")).labels == ["5", "6", "7", "8", "9"]
