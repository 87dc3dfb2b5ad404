"""Training progress for people: a tqdm bar per epoch in Jupyter, a rich bar in a terminal.

In Jupyter each epoch gets one ``tqdm.auto`` bar (loss and learning rate as postfix) and one
metrics table (HTML, with a plain-text twin) is updated in place after every validation, so the
saved notebook stays readable where widget bars do not render. In a terminal a rich progress bar
runs on stderr and each validation prints one line; when stderr is not a terminal (CI, pipes)
only those lines are printed. ``quiet`` shows nothing. stdout is never used: the CLI keeps it for
its results.
"""

from __future__ import annotations

import sys
from typing import Any


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    try:
        ip = shell.get_ipython() if shell is not None else None  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any IPython oddity means "not a notebook"
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Progress:
    """The interface both trainers call; this base class shows nothing (``quiet=True``)."""

    def start_epoch(self, epoch: int, batches: int, done: int = 0) -> None:
        """A new epoch of ``batches`` forward passes begins (``done`` already run, on resume)."""

    def advance(self, n: int = 1, **shown: float) -> None:
        """``n`` more batches ran; ``shown`` (loss, lr) is displayed next to the bar."""

    def end_epoch(self, row: dict[str, Any]) -> None:
        """A validation finished; ``row`` holds epoch, step and the val_* metrics."""

    def note(self, text: str) -> None:
        """A line the user should read (resumed from, stopped early, ...)."""

    def close(self) -> None:
        """Training ended."""


class _Notebook(Progress):
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.bar: Any = None
        self.handle: Any = None

    def start_epoch(self, epoch: int, batches: int, done: int = 0) -> None:
        from tqdm.auto import tqdm

        self._close_bar()
        self.bar = tqdm(total=batches, initial=done, desc=f"epoch {epoch}", leave=True)

    def advance(self, n: int = 1, **shown: float) -> None:
        if self.bar is not None:
            self.bar.update(n)
            if shown:
                self.bar.set_postfix({k: _fmt(v) for k, v in shown.items()}, refresh=False)

    def end_epoch(self, row: dict[str, Any]) -> None:
        from IPython.display import HTML, display

        self.rows.append(row)
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        head = "".join(f"<th>{k}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(k, ''))}</td>" for k in keys) + "</tr>" for r in self.rows)
        html = HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if self.handle is None:
            self.handle = display(html, display_id=True)
        else:
            self.handle.update(html)

    def note(self, text: str) -> None:
        print(text, file=sys.stderr)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close_bar()


class _Terminal(Progress):
    def __init__(self, live: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.live = live
        self.bar: Any = None
        self.task: Any = None

    def start_epoch(self, epoch: int, batches: int, done: int = 0) -> None:
        if not self.live:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

        self._stop()
        self.bar = RichProgress(TextColumn(f"epoch {epoch}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("{task.fields[shown]}"),
                                console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("train", total=batches, completed=done, shown="")

    def advance(self, n: int = 1, **shown: float) -> None:
        if self.bar is not None:
            text = "  ".join(f"{k} {_fmt(v)}" for k, v in shown.items())
            self.bar.update(self.task, advance=n, **({"shown": text} if shown else {}))

    def end_epoch(self, row: dict[str, Any]) -> None:
        self._stop()
        self.console.print("  ".join(f"{k} {_fmt(v)}" for k, v in row.items()), soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, markup=False)

    def _stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def close(self) -> None:
        self._stop()


def make_progress(quiet: bool = False) -> Progress:
    """The display that fits where this runs: quiet, a notebook or a terminal."""
    if quiet:
        return Progress()
    if _in_notebook():
        return _Notebook()
    return _Terminal(live=sys.stderr.isatty())
