"""Fine-tuning in several processes (PyTorch DistributedDataParallel); see ``zoolab.launch``.

TensorFlow runs take another road (``keras_devices``): ``nproc`` replicas in one process with
MirroredStrategy, and ``TF_CONFIG`` for several machines, where the chief plays rank 0 below.

How a run is shared out, and why it can resume with another process count:

- The global data order stays ``loop.epoch_order(seed, epoch)`` and batches stay global
  (``optim.batch_size`` samples over all processes). Each process takes every ``world``-th row of
  a global batch (:func:`shard`), so a checkpoint's position (epoch, global batch index, step)
  means the same thing to any number of processes.
- Each process's loss is weighted by ``world * rows_here / rows_in_step`` before the backward;
  DDP averages gradients over processes, which makes the step's gradient the mean over all its
  rows, as in one process at the same global batch size. (Batch-norm statistics are per process,
  as in DDP's default; that and the order of float sums are why results agree to a tolerance,
  not bit for bit.)
- Rank 0 alone writes: the other processes get a :class:`FollowerRun` whose writes do nothing,
  and quiet progress. Every process validates on the whole validation split (the weights are the
  same everywhere), so best-model and early-stopping decisions agree without communication;
  the time budget is decided together (:class:`SharedClock`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoolab import launch
from zoolab.zoo.tuning.loop import Clock
from zoolab.zoo.tuning.runfolder import RunFolder

if TYPE_CHECKING:
    from zoolab.zoo.tuning.api import FinetuneRun
    from zoolab.zoo.tuning.settings import FinetuneSettings


def shard(idx: np.ndarray, total: int) -> tuple[np.ndarray, int, float]:
    """This process's rows of the global batch ``idx`` (of a step with ``total`` rows in all).

    Returns ``(rows, counted, grad_share)``: ``counted`` rows count towards the step's loss and
    ``grad_share`` multiplies this process's mean loss before the backward. A batch smaller than
    the process count gives the extra processes a row with weight 0 (DDP needs every process in
    every backward). One process: ``(idx, len(idx), len(idx) / total)``, today's arithmetic.
    """
    g = launch.current()
    if not g.active:
        return idx, len(idx), len(idx) / total
    if len(idx) >= g.world:
        rows = idx[g.rank::g.world]
        return rows, len(rows), g.world * len(rows) / total
    i = g.rank % len(idx)
    counted = 1 if g.rank < len(idx) else 0
    return idx[i:i + 1], counted, g.world * counted / total


def step_loss(local: float) -> float:
    """The step's loss over all processes (each passes its ``sum(mean_loss * counted / total)``)."""
    g = launch.current()
    return float(g.all_sum([local])[0]) if g.active else local


def wrap(model: Any, settings: FinetuneSettings) -> Any:
    """``model`` in DistributedDataParallel for the training forward passes (itself for one process).

    Checkpoints, validation and saving keep using ``model``: its state_dict has no ``module.``
    prefix and evaluation needs no gradient sync. With a frozen backbone phase some parameters
    get no gradient for a while, which DDP must be told about.
    """
    g = launch.current()
    if not g.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    import torch

    on_gpu = next(model.parameters()).device.type == "cuda"
    ids = [torch.cuda.current_device()] if on_gpu else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=settings.freeze_backbone_epochs > 0)


class FollowerRun(RunFolder):
    """The run folder as ranks other than 0 see it: reads work, writes do nothing."""

    def start_logging(self, resume_step: int | None = None, elapsed_s: float = 0.0) -> None:
        """Rank 0 keeps the logs."""

    def log(self, row: dict[str, Any]) -> None:
        """Rank 0 keeps the logs."""

    def close(self) -> None:
        """Nothing to flush."""

    def write_checkpoint(self, step: int, arrays: dict[str, dict[str, Any]], state: dict[str, Any]) -> Path:
        """Rank 0 writes the checkpoints; the path it uses is returned."""
        return self.checkpoints_dir / f"step-{step}"

    def save_model(self, name: str, loaded: Any, row: dict[str, Any] | None = None,
                   same_model_as: str | None = None) -> Path:
        """Rank 0 saves best/ and final/."""
        return self.path / name

    def update_config(self, **values: Any) -> None:
        """Rank 0 writes config.yaml."""
        self.config.update(values)


class SharedClock(Clock):
    """A :class:`Clock` whose budget runs out on every process at the same step."""

    def expired(self) -> bool:
        """True everywhere once it is true on any process (checked only when there is a budget)."""
        return self.budget_s is not None and launch.current().any(super().expired())


def clock(budget_s: float | None) -> Clock:
    """The training clock: shared among processes when there are several."""
    return SharedClock(budget_s) if launch.current().active else Clock(budget_s)


def create_run(path: Path, config: dict[str, Any]) -> RunFolder:
    """The new run folder: rank 0 creates it (its path wins), the others follow it."""
    if tf_workers() is not None:  # TensorFlow workers: the path is the --out every one of them got
        return RunFolder.create(path, config) if leader() else FollowerRun(path, config)
    g = launch.current()
    path = Path(g.broadcast(str(path)))
    created = g.on_leader(lambda: RunFolder.create(path, config).path)
    return RunFolder(created, config) if g.leader else FollowerRun(created, config)


def for_rank(run: RunFolder) -> RunFolder:
    """``run`` for this process: itself on rank 0, a :class:`FollowerRun` elsewhere."""
    return run if leader() else FollowerRun(run.path, run.config)


def leader() -> bool:
    """True on rank 0 (and in a single process); for TensorFlow workers, on the chief."""
    workers = tf_workers()
    return launch.is_leader() and (workers is None or workers[1])


def tf_workers() -> tuple[int, bool] | None:
    """(workers, this one is the chief) when ``TF_CONFIG`` names more than one worker, else None.

    The chief is the "chief" task, or worker 0 in a cluster without one (TensorFlow's rule).

    Raises:
        InvalidInputError: TF_CONFIG is set but is not TensorFlow's cluster JSON.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        doc = json.loads(raw)
        cluster, task = doc.get("cluster", {}), doc.get("task", {})
        count = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        kind, index = task["type"], int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        from zoolab.errors import InvalidInputError

        raise InvalidInputError("TF_CONFIG is not TensorFlow's cluster JSON with a task type and index",
                                hint='for example {"cluster": {"worker": ["a:2222", "b:2222"]}, '
                                     '"task": {"type": "worker", "index": 0}}') from None
    if count <= 1:
        return None
    return count, kind == "chief" or (kind == "worker" and index == 0 and not cluster.get("chief"))


def framework_of(model: Any, framework: str | None, resume: Any) -> str:
    """The framework a run will train in: the argument, the model's, the resumed run's, else torch."""
    if framework:
        return framework
    if hasattr(model, "framework"):
        return str(model.framework)
    if resume is not None:
        return str(RunFolder.open(Path(resume)).config.get("framework") or "torch")
    return "torch"


def join(settings: FinetuneSettings, framework: str | None, replicas: int = 1) -> None:
    """Join the process group when launched with several processes (PyTorch), or set TensorFlow up
    for ``replicas`` local devices / the workers of ``TF_CONFIG`` (before any model loads).

    Raises:
        UnsupportedError: a TensorFlow run launched as several processes by torchrun or ``--nproc``.
    """
    if framework == "tf":
        if launch.launched():
            _torch_only(framework)
        from zoolab.zoo.tuning.keras_devices import prepare

        prepare(settings.device, replicas)
        return
    if not launch.launched():
        return
    launch.join(settings.device)


def _torch_only(framework: str | None) -> None:
    if framework == "tf":
        from zoolab.errors import UnsupportedError

        raise UnsupportedError("TensorFlow fine-tuning trains in one process per machine, not in processes "
                               "started by torchrun", hint="use --nproc N alone (N devices, MirroredStrategy), "
                               "and TF_CONFIG for several machines")


def launch_run(nproc: int, kwargs: dict[str, Any]) -> FinetuneRun:
    """``finetune(**kwargs)`` in ``nproc`` processes; what rank 0 returned.

    The run folder is chosen here, before the processes start, so all of them use the same one.
    """
    from zoolab.zoo.tuning.runfolder import default_run_dir

    _torch_only(kwargs.get("framework") or getattr(kwargs.get("model"), "framework", None))
    if kwargs.get("resume") is None and kwargs.get("out") is None:
        model = kwargs.get("model")
        ref = str(model) if not hasattr(model, "metadata") else str(model.metadata.get("ref") or "model")
        kwargs = {**kwargs, "out": default_run_dir(ref)}
    outcome = launch.spawn(nproc, _worker, kwargs)
    if isinstance(outcome, tuple):
        raise launch.rebuild_error(outcome)
    return outcome


def _worker(kwargs: dict[str, Any]) -> Any:
    """One training process: run ``finetune`` (it joins the group) and hand rank 0's result back.

    A ZoolabError goes back as (class name, message, hint) so the caller can raise it as one line.
    """
    from zoolab.errors import ZoolabError
    from zoolab.zoo.tuning.api import finetune

    try:
        run = finetune(**kwargs)
        return run if launch.current().leader else None
    except ZoolabError as exc:
        return (type(exc).__name__, exc.message, exc.hint)
    finally:
        launch.leave()
