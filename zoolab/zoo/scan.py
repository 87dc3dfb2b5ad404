"""``zoolab scan``: what a repository would make zoolab do, without loading it.

A scan resolves the reference as :func:`zoolab.zoo.load` does (a folder, or a repository
downloaded into the cache with the same file filters), then runs the loader's own checks
(:func:`zoolab.zoo.checks.check_folder`) for each framework the folder is for, collecting every
refusal instead of stopping at the first. It reports the files weights would be read from, the
repository code the folder names, the Keras classes a preset builds, and the sizes the config
declares against the sizes the weights hold. No model is built and no weights are loaded: the
sizes come from the safetensors and HDF5 headers and from a build on PyTorch's meta device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoolab.errors import UnsupportedError, ZoolabError
from zoolab.zoo.checks import Findings, check_folder


@dataclass
class ScanReport:
    """The result of :func:`scan`."""

    ref: str
    folder: Path | None
    library: str | None = None
    frameworks: tuple[str, ...] = ()
    findings: dict[str, Findings] = field(default_factory=dict)
    """Framework -> what loading the folder in it would do."""
    refusals: list[str] = field(default_factory=list)
    """Every refusal, one line each (framework-independent ones first)."""

    @property
    def ok(self) -> bool:
        """True when zoolab would load the repository in every framework it is for."""
        return not self.refusals

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content."""
        return {
            "ref": self.ref,
            "folder": str(self.folder) if self.folder else None,
            "library": self.library,
            "frameworks": list(self.frameworks),
            "ok": self.ok,
            "refusals": list(self.refusals),
            "findings": {
                fw: {
                    "format": f.checkpoint_format,
                    "weights": f.weights,
                    "code_references": f.code_references,
                    "keras_classes": f.keras_classes,
                    "sizes": f.sizes,
                    "refusals": [str(e) for e in f.refusals],
                }
                for fw, f in self.findings.items()
            },
        }


def _resolve(ref: str, framework: str | None, source: str | None, revision: str | None) -> Path:
    from zoolab.zoo.loading import resolve

    resolved = resolve(ref, framework=framework or "torch", source=source, revision=revision)
    if resolved.folder is None:
        raise UnsupportedError(f"{ref} is keras-hub's built-in preset {resolved.preset!r}; keras-hub itself loads it")
    folder = resolved.folder
    if framework is None and resolved.origin.get("repo_id") and (folder / "metadata.json").is_file():
        # A keras-hub preset: its weights are TensorFlow files, fetched by the tf download.
        folder = resolve(ref, framework="tf", source=source, revision=revision).folder or folder
    return folder


def scan(
    ref: str | Path,
    *,
    framework: str | None = None,
    source: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> ScanReport:
    """Report what loading ``ref`` would do, in ``framework`` or every framework it is for.

    Raises:
        ZoolabError: ``ref`` cannot be resolved (no folder, catalog entry or repository).
    """
    from zoolab.zoo.metadata import inspect_folder

    folder = _resolve(str(ref), framework, source, revision)
    report = ScanReport(str(ref), folder)
    labels = None
    try:
        info = inspect_folder(folder)
        report.library, report.frameworks = info.library, info.frameworks
        labels = info.zoolab.get("labels")
    except ZoolabError as exc:
        report.refusals.append(str(exc))
    frameworks = (framework,) if framework else (report.frameworks or ("torch",))
    seen: set[str] = set(report.refusals)
    for fw in frameworks:
        found = check_folder(folder, framework=fw, trust_remote_code=trust_remote_code, labels=labels,
                             collect=True, run_code=False)  # fmt: skip
        report.findings[fw] = found
        for exc in found.refusals:
            if str(exc) not in seen:
                seen.add(str(exc))
                report.refusals.append(str(exc))
    return report
