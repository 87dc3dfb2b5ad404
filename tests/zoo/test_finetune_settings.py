"""FinetuneSettings: defaults, dotted keys and aliases, closest-key errors, range checks; the lr
schedule; the step plan and seeded data orders."""

from __future__ import annotations

import numpy as np
import pytest

from zoolab.errors import InvalidInputError
from zoolab.zoo.tuning.loop import Monitor, epoch_order, length_grouped_order, plan_steps, split_batches
from zoolab.zoo.tuning.schedule import lr_factor
from zoolab.zoo.tuning.settings import EarlyStoppingSettings, FinetuneSettings, describe


def test_overrides_dotted_aliases_and_strings():
    s = FinetuneSettings.from_overrides({"optim.lr": 1e-4, "batch_size": 8, "lora_rank": "4"})
    s = s.with_overrides(["schedule.decay=linear", "lora.target_modules=qkv,proj", "optim.max_grad_norm=none",
                          "precision=bf16", "epochs=0.5", "optim.lr=3e-4"])
    assert (s.optim.lr, s.optim.batch_size, s.lora.rank, s.schedule.decay) == (3e-4, 8, 4, "linear")
    assert s.lora.target_modules == ("qkv", "proj") and s.optim.max_grad_norm is None and s.schedule.epochs == 0.5
    assert s.changed() == {"optim.lr": 3e-4, "optim.batch_size": 8, "optim.max_grad_norm": None, "schedule.epochs": 0.5,
                           "schedule.decay": "linear", "lora.rank": 4, "lora.target_modules": ["qkv", "proj"],
                           "precision": "bf16"}
    assert FinetuneSettings.from_dict(s.to_dict()) == s
    assert FinetuneSettings().changed() == {}


@pytest.mark.parametrize("override, message", [
    ({"optim.lrr": 1}, "did you mean optim.lr"),
    ({"optim.learning_rate": 1}, "did you mean optim.lr"),
    ({"lora.rnak": 2}, "did you mean lora.rank"),
    ({"optim.lr": -1}, "'optim.lr': must be > 0"),
    ({"optim.batch_size": 0}, "'optim.batch_size': must be an integer >= 1"),
    ({"optim.batch_size": 2.5}, "expected int"),
    ({"data.val_split": 1.5}, "must be in (0, 1)"),
    ({"precision": "fp8"}, "choose one of auto, fp32, bf16, fp16"),
    ({"schedule.decay": "step"}, "choose one of cosine, linear, constant"),
    ({"device": "gpu"}, "choose auto, cpu, cuda, cuda:N or mps"),
    ({"early_stopping.monitor": "accuracy"}, "name a validation metric"),
    ({"schedule.warmup_ratio": 1.0}, "must be in [0, 1)"),
])
def test_bad_settings_get_one_clear_line(override, message):
    with pytest.raises(InvalidInputError) as info:
        FinetuneSettings.from_overrides(override)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_every_setting_is_documented():
    docs = describe()
    assert "optim.lr" in docs and "lora.merge" in docs
    assert all(text.split(": ", 1)[1] for text in docs.values()), [k for k, t in docs.items() if not t.split(": ", 1)[1]]


def test_schedule_warmup_then_decay():
    total, warm = 100, 10
    cos = [lr_factor(s, total, warm, "cosine") for s in range(total)]
    assert cos[0] == pytest.approx(1 / 11) and cos[warm] == 1.0 and cos[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a < b for a, b in zip(cos[:warm], cos[1:warm + 1]))
    assert all(a >= b for a, b in zip(cos[warm:], cos[warm + 1:]))
    lin = [lr_factor(s, total, 0, "linear", min_ratio=0.1) for s in range(total)]
    assert lin[0] == 1.0 and lin[-1] == pytest.approx(0.1) and lin[50] == pytest.approx(1 - 0.9 * 50 / 99)
    assert {lr_factor(s, total, warm, "constant") for s in range(warm, total)} == {1.0}


def test_step_plan_and_batches():
    s = FinetuneSettings.from_overrides({"batch_size": 10, "grad_accumulation": 3, "epochs": 1.5, "warmup_ratio": 0.1})
    plan = plan_steps(101, s)  # 101 = 10 batches of 10 + one sample that joins the last batch
    assert (plan.batches_per_epoch, plan.steps_per_epoch, plan.total_steps, plan.warmup_steps) == (10, 4, 6, 1)
    batches = split_batches(np.arange(101), 10)
    assert len(batches) == 10 and len(batches[-1]) == 11


def test_orders_depend_on_seed_and_epoch_only():
    assert np.array_equal(epoch_order(50, 1, 2), epoch_order(50, 1, 2))
    assert not np.array_equal(epoch_order(50, 1, 2), epoch_order(50, 1, 3))
    lengths = np.random.default_rng(0).integers(1, 100, size=400)
    order = length_grouped_order(lengths, 8, 0, 0)
    assert sorted(order.tolist()) == list(range(400))
    spread = np.mean([np.ptp(lengths[order[i:i + 8]]) for i in range(0, 400, 8)])
    assert spread < 0.25 * np.mean([np.ptp(lengths[i:i + 8]) for i in range(0, 400, 8)])


def test_monitor_best_and_patience():
    m = Monitor(EarlyStoppingSettings(monitor="val_loss", patience=2))
    assert m.update({"val_loss": 1.0}) and m.update({"val_loss": 0.5})
    assert not m.update({"val_loss": 0.6}) and not m.should_stop
    assert not m.update({"val_loss": 0.5}) and m.should_stop
    assert m.best_row == {"val_loss": 0.5}
    with pytest.raises(InvalidInputError, match="choose one of val_loss"):
        Monitor(EarlyStoppingSettings(monitor="val_f2")).update({"val_loss": 1.0})
