"""Training in several processes: start them with torchrun's launcher and join them into one group.

zoolab does not ship a launcher of its own. ``--nproc N`` calls torch's elastic launcher (the API
behind ``torchrun --standalone --nproc-per-node N``) with a Python function as the entry point; a
run started by ``torchrun`` itself (one machine or several, ``--nnodes``/``--rdzv-endpoint``)
arrives with ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set and takes the same path from :func:`join`.

- :func:`spawn` starts ``nproc`` local processes, each calling ``entry(*args)``, and returns what
  rank 0 returned; a failed process becomes one :class:`TrainingError` line, not N tracebacks;
- :func:`join` (in each process) initialises ``torch.distributed``: gloo on CPU, nccl on CUDA
  (each local rank on its own GPU; ``ZOOLAB_DIST_BACKEND=gloo`` lets processes share GPUs), and
  returns the :class:`Group`;
- :class:`Group` wraps the few collectives the trainers need (sums, a broadcast from rank 0, a
  barrier); a one-process group does no communication at all.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from zoolab.errors import InvalidInputError, TrainingError, UnsupportedError, ZoolabError

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
BACKEND_ENV = "ZOOLAB_DIST_BACKEND"
"""Forces the backend: ``gloo`` lets several processes share one GPU (nccl refuses that)."""


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None
    """"gloo" or "nccl"; None for a single process."""

    @property
    def active(self) -> bool:
        """True when there is more than one process."""
        return self.world > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and models."""
        return self.rank == 0

    def _device(self) -> Any:
        import torch

        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")

    def all_sum(self, values: Any) -> np.ndarray:
        """Element-wise float64 sum over all processes (the values themselves for one process)."""
        arr = np.asarray(values, dtype=np.float64)
        if not self.active:
            return arr
        import torch
        import torch.distributed as dist

        t = torch.from_numpy(arr.copy()).to(self._device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().numpy()

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is True on at least one (keeps decisions in step)."""
        return bool(self.all_sum([1.0 if flag else 0.0])[0] > 0) if self.active else bool(flag)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process (any picklable value)."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self._device())
        return box[0]

    def barrier(self) -> None:
        """Wait until every process got here."""
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def on_leader(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on rank 0 only and hand its result to every process; a ZoolabError it raises
        is raised on every process, so none is left waiting in a collective."""
        result: Any = None
        error: tuple[str, str, str | None] | None = None
        if self.leader:
            try:
                result = fn()
            except ZoolabError as exc:
                if not self.active:
                    raise
                error = (type(exc).__name__, exc.message, exc.hint)
        result, error = self.broadcast((result, error))
        if error is not None:
            raise rebuild_error(error)
        return result


_GROUP = Group()


def current() -> Group:
    """The group :func:`join` made in this process (a one-process group before that)."""
    return _GROUP


def is_leader() -> bool:
    """True on rank 0 or in a single process; also before :func:`join` (from torchrun's ``RANK``)."""
    if _GROUP.active:
        return _GROUP.leader
    return not launched() or int(os.environ["RANK"]) == 0


def launched() -> bool:
    """True inside a process started by torchrun or :func:`spawn` with more than one process."""
    return all(k in os.environ for k in _ENV) and int(os.environ["WORLD_SIZE"]) > 1


def join(device: str = "auto") -> Group:
    """Join the process group torchrun described in the environment (nothing to do for one process).

    ``device`` is the run's device setting: CUDA ("auto" with a GPU, "cuda", "cuda:N") uses nccl with
    local rank i on GPU i; otherwise gloo.

    Raises:
        UnsupportedError: more processes on this machine than GPUs for a CUDA run.
    """
    global _GROUP
    if not launched():
        return _GROUP
    import torch
    import torch.distributed as dist

    rank, world, local = (int(os.environ[k]) for k in _ENV)
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = os.environ.get(BACKEND_ENV) or ("nccl" if cuda else "gloo")
    if backend not in ("nccl", "gloo"):
        raise InvalidInputError(f"{BACKEND_ENV}={backend} is not a backend zoolab uses", hint="nccl or gloo")
    if backend == "nccl" and not cuda:
        raise UnsupportedError("the nccl backend needs CUDA GPUs", hint=f"unset {BACKEND_ENV} (gloo is used on CPU)")
    if cuda:
        gpus = torch.cuda.device_count()
        if local >= gpus and backend == "nccl":
            raise UnsupportedError(f"process {local} on this machine has no GPU of its own ({gpus} found)",
                                   hint=f"use at most one process per GPU (or {BACKEND_ENV}=gloo to share one)")
        torch.cuda.set_device(local % max(gpus, 1))
    if not dist.is_initialized():
        dist.init_process_group(backend, device_id=torch.device("cuda", local) if backend == "nccl" else None)
    _GROUP = Group(rank, world, local, backend)
    return _GROUP


def leave() -> None:
    """Tear the process group down (end of a worker)."""
    global _GROUP
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _GROUP = Group()


def rebuild_error(error: tuple[str, str, str | None]) -> ZoolabError:
    """A ZoolabError of the named class (from ``zoolab.errors``) with that message and hint."""
    import zoolab.errors as errors

    cls = getattr(errors, error[0], None)
    if not (isinstance(cls, type) and issubclass(cls, ZoolabError)):
        cls = ZoolabError
    return cls(error[1], hint=error[2])


def check_nproc(nproc: int) -> int:
    """``nproc`` if it is a usable process count.

    Raises:
        InvalidInputError: not a whole number from 1 to 256, or asked for inside a launched process.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or not 1 <= nproc <= 256:
        raise InvalidInputError(f"--nproc must be a whole number from 1 to 256, not {nproc!r}")
    if nproc > 1 and launched():
        raise InvalidInputError("--nproc was given inside a run that torchrun already started",
                                hint="give the process count to torchrun (--nproc-per-node) only")
    return nproc


def spawn(nproc: int, entry: Callable[..., Any], *args: Any) -> Any:
    """Run ``entry(*args)`` in ``nproc`` new local processes (torchrun's ``--standalone`` launch)
    and return rank 0's result. ``entry`` must be a module-level function, ``args`` picklable.

    Each process gets ``OMP_NUM_THREADS`` = cores / nproc unless it is set (as torchrun does), so
    N processes do not fight over the cores.

    Raises:
        TrainingError: a process failed (the message is its error, first line).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          start_method="spawn", monitor_interval=0.2)
    threads_set = "OMP_NUM_THREADS" in os.environ
    if not threads_set:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    try:
        results = elastic_launch(config, entry)(*args)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        detail = _failure_line(failure)
        raise TrainingError(f"training process {rank} of {nproc} failed: {detail}") from None
    finally:
        if not threads_set:
            os.environ.pop("OMP_NUM_THREADS", None)
    return results[0]


def _failure_line(failure: Any) -> str:
    """The last line of a failed process's error (its exception), else its exit code."""
    message = failure.message
    if isinstance(message, dict):  # the error file's content: {"message": ..., "extraInfo": ...}
        message = message.get("message", "")
    text = str(message or "").strip()
    if text and "To enable traceback" not in text:
        return text.splitlines()[-1][:500]
    return f"exit code {failure.exitcode}"
