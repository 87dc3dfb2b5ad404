"""Keep TensorFlow's native start-up chatter off a CLI user's terminal (unless ``ZOOLAB_DEBUG``).

TensorFlow's C++ side logs through absl before any Python setting is read: ``WARNING: All log
messages before absl::InitializeLog() ...``, the oneDNN notice, ``cudart_stub`` and
``cpu_feature_guard`` lines, and ``failed call to cuInit`` on machines without a GPU.
``TF_CPP_MIN_LOG_LEVEL=3`` silences what is logged after start-up; the lines printed while the
shared libraries load are written straight to file descriptor 2, so while ``tensorflow`` is being
imported that descriptor goes through a filter that drops exactly those lines and passes every
other byte on.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:. ]+\s+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor|"
    rb"cuda_dnn|cuda_fft|cuda_blas|gpu_device|computation_placer)\.cc:\d+\].*"
    rb"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\."
    rb"|This TensorFlow binary is optimized to use available CPU instructions.*)$"
)


@contextmanager
def filtered_stderr() -> Iterator[None]:
    """Send file descriptor 2 through :data:`_NOISE` for the duration of the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_fd, write_fd = os.pipe()
    except (OSError, ValueError, AttributeError):
        yield
        return

    def pump() -> None:
        buffer = b""
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not _NOISE.match(line))
                if kept:
                    os.write(saved, kept)
        if buffer and not _NOISE.match(buffer):
            os.write(saved, buffer)

    thread = threading.Thread(target=pump, name="zoolab-stderr-filter", daemon=True)
    thread.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        thread.join(timeout=5)
        os.close(saved)


class _QuietTensorflow(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual and runs its import inside :func:`filtered_stderr`.

    It stays on ``sys.meta_path`` until the import has run: a plain ``find_spec("tensorflow")``
    (keras and others probe for it) must not use it up before the real import.
    """

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow" or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        loader = getattr(spec, "loader", None)
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec
        finder = self

        def quiet_exec(module: Any) -> None:
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)  # the one real import: later ones find the module
            with filtered_stderr():
                exec_module(module)

        loader.exec_module = quiet_exec  # type: ignore[union-attr]
        return spec


def quiet_frameworks() -> None:
    """Silence TensorFlow's start-up and C++ log lines for this process, unless ``ZOOLAB_DEBUG``."""
    from zoolab import settings

    if settings.is_debug():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorflow) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorflow())
