"""``zoo.data``: labelled data for fine-tuning and evaluation, read through the ``datasets`` library.

    >>> import zoolab.zoo as zoo
    >>> data = zoo.data.image_folder("pets/")                     # pets/<label>/*.jpg
    >>> data = zoo.data.table("reviews.csv", text="review", label="stars")
    >>> data = zoo.data.from_datasets(my_dataset_dict, text="sentence", label="label")
    >>> data["train"], data.labels, data.notes

Every reader returns a :class:`LabelledData` with normalised columns, so the trainers and the
evaluation never look at the original names: images are an ``image`` column (a ``datasets.Image``
feature that decodes to PIL on access) and texts a ``text`` column (plus ``text_pair`` for pair
tasks); ``label`` holds integer ids into ``LabelledData.labels`` (sorted names). Tables are read
into memory-mapped Arrow files under the ``datasets`` cache, so data larger than RAM works; image
folders keep only file paths in Arrow and decode each image when it is used.

Split layouts: ``DATA/<label>/*`` (one pool), or ``DATA/{train,validation,test}/<label>/*``
(Keras ``image_dataset_from_directory`` and ``datasets``' imagefolder layout); for tables, one
file, or a folder with ``train.*`` / ``validation.*`` / ``test.*`` files. Without a validation
split a stratified, seeded ``val_split`` of the training rows is held out, and the notes say so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from zoolab.errors import InvalidInputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
TABLE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json",
                  ".ndjson": "json", ".parquet": "parquet"}  # fmt: skip
# Split folder / file names people use, mapped to the three names zoolab works with.
SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation",
                 "valid": "validation", "val": "validation", "dev": "validation",
                 "test": "test", "testing": "test"}  # fmt: skip
TASKS = ("image-classification", "text-classification")
_SHOWN = 3  # how many bad files or rows a note names


@dataclass
class LabelledData:
    """Labelled splits for classification, with normalised column names."""

    splits: Any
    """``datasets.DatasetDict`` with keys among ``train``, ``validation``, ``test``."""
    labels: list[str]
    """Label names; the ``label`` column holds ids into this list."""
    task: str
    """``image-classification`` or ``text-classification``."""
    notes: list[str] = field(default_factory=list)
    """What the user should be told: held-out validation, skipped files or rows."""
    origin: dict[str, Any] = field(default_factory=dict)
    """Where the data came from (path or ref, format, split sizes), for ``zoolab.json``."""

    def __getitem__(self, split: str) -> Any:
        if split not in self.splits:
            raise InvalidInputError(f"the data has no '{split}' split; it has: {', '.join(self.splits)}")
        return self.splits[split]

    def __contains__(self, split: str) -> bool:
        return split in self.splits

    @property
    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {name: len(ds) for name, ds in self.splits.items()}

    @property
    def has_pairs(self) -> bool:
        """True for text-pair data (a ``text_pair`` column)."""
        return "text_pair" in next(iter(self.splits.values())).column_names

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return f"LabelledData({self.task}, {len(self.labels)} labels, {sizes})"


# ---------------------------------------------------------------------------------------------
# Image folders


def _split_dirs(root: Path) -> dict[str, Path]:
    subdirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    named = {SPLIT_ALIASES[p.name.lower()]: p for p in subdirs if p.name.lower() in SPLIT_ALIASES}
    if named and "train" in named and len(named) == len(subdirs):
        return named
    return {"train": root}


def _image_files(split_dir: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(image file, label) pairs under ``split_dir/<label>/``, and the files that are no image."""
    found, other = [], []
    for label_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(label_dir.rglob("*")):
            if not file.is_file() or file.name.startswith("."):
                continue
            if file.suffix.lower() in IMAGE_SUFFIXES:
                found.append((file, label_dir.name))
            else:
                other.append(file)
    return found, other


def _readable(file: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.verify()  # reads the file's structure without decoding every pixel
        return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


def _name_some(paths: list[Path], root: Path) -> str:
    shown = ", ".join(str(p.relative_to(root)) for p in paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def image_folder(path: str | Path, *, val_split: float = 0.1, seed: int = 0, verify: bool = True) -> LabelledData:
    """Read ``path/<label>/*`` or ``path/{train,validation,test}/<label>/*`` as labelled images.

    Unreadable images are skipped, counted and named (the first few) in ``notes``; with
    ``verify=False`` the check is left to decoding time.

    Raises:
        InvalidInputError: no such folder, no images, a single label, or a validation/test
            label the training split does not have.
    """
    import datasets

    root = Path(path).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"image folder {root} does not exist" if not root.exists()
                                else f"{root} is a file; an image folder is DATA/<label>/*.png")  # fmt: skip
    notes: list[str] = []
    columns: dict[str, tuple[list[str], list[str]]] = {}
    for split, split_dir in _split_dirs(root).items():
        files, other = _image_files(split_dir)
        if verify:
            bad = [f for f, _ in files if not _readable(f)]
            if bad:
                notes.append(f"skipped {len(bad)} unreadable image(s) in {split}: {_name_some(bad, root)}")
                bad_set = set(bad)
                files = [(f, label) for f, label in files if f not in bad_set]
        if other:
            notes.append(f"ignored {len(other)} file(s) that are not images in {split}: {_name_some(other, root)}")
        columns[split] = ([str(f) for f, _ in files], [label for _, label in files])
    train_paths, train_labels = columns["train"]
    if not train_paths:
        raise InvalidInputError(f"no images found in {root}",
                                hint=f"lay them out as {root}/<label>/*.png (or train/validation/test/<label>/*)")  # fmt: skip
    labels = _label_names(train_labels, f"image folder {root}")
    for split, (_, split_labels) in columns.items():
        unknown = sorted(set(split_labels) - set(labels))
        if unknown:
            raise InvalidInputError(f"the {split} split of {root} has labels the training split lacks: "
                                    f"{', '.join(unknown[:5])}")  # fmt: skip
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=labels)})
    index = {name: i for i, name in enumerate(labels)}
    splits = {split: datasets.Dataset.from_dict({"image": paths, "label": [index[x] for x in split_labels]},
                                                features=features)
              for split, (paths, split_labels) in columns.items() if paths}  # fmt: skip
    data = datasets.DatasetDict(splits)
    data = _hold_out(data, val_split, seed, notes)
    origin = {"path": str(root.resolve()), "format": "imagefolder", "sizes": {k: len(v) for k, v in data.items()}}
    return LabelledData(data, labels, "image-classification", notes, origin)


# ---------------------------------------------------------------------------------------------
# Tables (CSV / JSON Lines / Parquet)


def _table_files(root: Path) -> dict[str, str]:
    if root.is_file():
        if root.suffix.lower() not in TABLE_BUILDERS:
            raise InvalidInputError(f"{root} is not a table zoolab reads",
                                    hint="use CSV, TSV, JSON Lines or Parquet, or an image folder")  # fmt: skip
        return {"train": str(root)}
    files = {}
    for file in sorted(root.iterdir()):
        split = SPLIT_ALIASES.get(file.stem.lower())
        if file.is_file() and split and file.suffix.lower() in TABLE_BUILDERS:
            files.setdefault(split, str(file))
    if "train" not in files:
        raise InvalidInputError(f"{root} has no train.csv / train.jsonl / train.parquet",
                                hint="pass one table file, or a folder with train.* (and validation.*, test.*)")  # fmt: skip
    return files


def _read_tables(files: dict[str, str]) -> Any:
    import datasets

    suffixes = {Path(f).suffix.lower() for f in files.values()}
    if len({TABLE_BUILDERS[s] for s in suffixes}) > 1:
        raise InvalidInputError("the split files must have one format: " + ", ".join(files.values()))
    suffix = suffixes.pop()
    kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
    try:
        return datasets.load_dataset(TABLE_BUILDERS[suffix], data_files=files, **kwargs)
    except (ValueError, TypeError, OSError) as exc:
        # pyarrow's parse errors are ValueErrors (ArrowInvalid); one line names the file.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot read {', '.join(files.values())}: {first[:300]}") from None


def table(
    path: str | Path,
    *,
    text: str | None = None,
    label: str | None = None,
    text_pair: str | None = None,
    val_split: float = 0.1,
    seed: int = 0,
) -> LabelledData:
    """Read a CSV / TSV / JSON Lines / Parquet table (or a folder of split files) of labelled texts.

    ``text`` and ``label`` name the columns (defaults: ``text`` and ``label``); ``text_pair``
    names a second text for pair tasks. Rows with an empty text or label are dropped and counted.

    Raises:
        InvalidInputError: no such file, an unknown format, a missing column (the message lists
            the columns the table has), or a label column with a single value.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise InvalidInputError(f"table {root} does not exist")
    with _quiet_datasets():
        raw = _read_tables(_table_files(root))
        origin = {"path": str(root.resolve()), "format": root.suffix.lower().lstrip(".") or "table"}
        return _from_text_rows(raw, text=text, label=label, text_pair=text_pair, val_split=val_split,
                               seed=seed, where=f"table {root}", origin=origin)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# datasets objects


def from_datasets(data: Any, **kwargs: Any) -> LabelledData:
    """Wrap a ``datasets.Dataset`` or ``DatasetDict`` (split names as in :data:`SPLIT_ALIASES`).

    An ``image`` column (or one with a ``datasets.Image`` feature) makes it image data;
    otherwise ``text`` / ``text_pair`` / ``label`` are read as for :func:`table`. Keywords:
    ``text``, ``label``, ``text_pair``, ``image``, ``val_split``, ``seed``.
    """
    with _quiet_datasets():
        return _from_datasets(data, **kwargs)


def _from_datasets(
    data: Any,
    *,
    text: str | None = None,
    label: str | None = None,
    text_pair: str | None = None,
    image: str | None = None,
    val_split: float = 0.1,
    seed: int = 0,
) -> LabelledData:
    import datasets

    if isinstance(data, datasets.Dataset):
        data = datasets.DatasetDict({"train": data})
    if not isinstance(data, datasets.DatasetDict):
        raise InvalidInputError(f"expected a datasets.Dataset or DatasetDict, got {type(data).__name__}")
    data = datasets.DatasetDict({SPLIT_ALIASES.get(k.lower(), k): v for k, v in data.items()
                                 if SPLIT_ALIASES.get(k.lower())})  # fmt: skip
    if "train" not in data:
        raise InvalidInputError("the dataset has no train split")
    first = data["train"]
    image = image or next((c for c, f in first.features.items() if isinstance(f, datasets.Image)), None)
    origin = {"format": "datasets", "fingerprint": getattr(first, "_fingerprint", None)}
    if image is None:
        return _from_text_rows(data, text=text, label=label, text_pair=text_pair, val_split=val_split,
                               seed=seed, where="the dataset", origin=origin)  # fmt: skip
    label = label or "label"
    _require_columns(first.column_names, [image, label], "the dataset")
    names = _label_values(data, label, "the dataset")
    out = _normalise(data, {image: "image"}, label, names)
    out = out.cast_column("image", datasets.Image())
    notes: list[str] = []
    out = _hold_out(out, val_split, seed, notes)
    origin["sizes"] = {k: len(v) for k, v in out.items()}
    return LabelledData(out, names, "image-classification", notes, origin)


# ---------------------------------------------------------------------------------------------
# One entry point for the CLI and zoo.finetune


def load_data(
    data: Any,
    *,
    task: str | None = None,
    text: str | None = None,
    label: str | None = None,
    text_pair: str | None = None,
    val_split: float | None = 0.1,
    seed: int = 0,
    source: str | None = None,
    revision: str | None = None,
) -> LabelledData:
    """Read ``data`` whatever it is: a LabelledData, a ``datasets`` object, an image folder, a table
    file or folder of split tables, or a dataset repository ``SOURCE:org/name`` in the registry.

    Raises:
        InvalidInputError: nothing readable answers to ``data``, or it does not fit ``task``.
    """
    if isinstance(data, LabelledData):
        result = data
    elif hasattr(data, "column_names") or type(data).__name__ == "DatasetDict":
        result = from_datasets(data, text=text, label=label, text_pair=text_pair, val_split=val_split, seed=seed)
    else:
        result = _load_path(str(data), task=task, text=text, label=label, text_pair=text_pair,
                            val_split=val_split, seed=seed, source=source, revision=revision)  # fmt: skip
    if task is not None and task not in TASKS:
        raise InvalidInputError(f"fine-tuning takes task {' or '.join(TASKS)}, not '{task}'")
    if task is not None and result.task != task:
        raise InvalidInputError(f"the data is {result.task} data, not {task}")
    return result


def _load_path(ref: str, *, task: str | None, source: str | None, revision: str | None, **kwargs: Any) -> LabelledData:
    path = Path(ref).expanduser()
    if path.is_file():
        return table(path, **kwargs)
    if path.is_dir():
        if task == "text-classification" or _has_split_tables(path):
            return table(path, **kwargs)
        kwargs = {k: kwargs[k] for k in ("val_split", "seed")}
        return image_folder(path, **kwargs)
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1 and ":" not in ref:
        raise InvalidInputError(f"{ref} does not exist")
    folder = _download_dataset(ref, source=source, revision=revision)
    data = _load_path(str(folder), task=task, source=None, revision=None, **kwargs)
    data.origin.update({"ref": ref, "path": str(folder)})
    return data


def _has_split_tables(folder: Path) -> bool:
    return any(f.is_file() and f.suffix.lower() in TABLE_BUILDERS and f.stem.lower() in SPLIT_ALIASES
               for f in folder.iterdir())  # fmt: skip


def _download_dataset(ref: str, *, source: str | None, revision: str | None) -> Path:
    """A dataset repository's snapshot folder (``data/`` inside it when that is where the files are)."""
    from zoolab.hub import download

    try:
        snapshot = download(ref, repo_type="dataset", source=source, revision=revision)
    except TypeError:  # a hub client without dataset repositories
        raise InvalidInputError(f"{ref} is not a folder or a file, and this zoolab cannot download datasets") from None
    folder = Path(snapshot.path)
    inner = folder / "data"
    if inner.is_dir() and not _has_split_tables(folder) and not any(
            p.is_dir() and p.name != "data" and not p.name.startswith(".") for p in folder.iterdir()):
        return inner
    return folder


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _require_columns(columns: list[str], wanted: Iterable[str], where: str) -> None:
    for name in wanted:
        if name not in columns:
            raise InvalidInputError(f"{where} has no column '{name}'; its columns: {', '.join(columns)}",
                                    hint="name the columns with --text-column / --label-column")  # fmt: skip


def _label_names(values: Iterable[Any], where: str) -> list[str]:
    counts = Counter(str(v) for v in values)
    if len(counts) < 2:
        only = next(iter(counts), "?")
        raise InvalidInputError(f"{where} has a single label ('{only}'); classification needs at least two")
    names = list(counts)
    numeric = all(n.lstrip("-").isdigit() for n in names)
    return sorted(names, key=(lambda n: (int(n), n)) if numeric else None)


def _label_values(data: Any, column: str, where: str) -> list[str]:
    import datasets

    feature = data["train"].features[column]
    if isinstance(feature, datasets.ClassLabel):
        present = set(data["train"].unique(column))
        names = [feature.names[i] for i in range(len(feature.names)) if i in present]
        return _label_names(names, where) if len(names) < 2 else names
    return _label_names(data["train"].unique(column), where)


def _names_in(ds: Any, column: str) -> set[str]:
    """The label names a split uses (ClassLabel ids turned into their names)."""
    import datasets

    feature = ds.features[column]
    if isinstance(feature, datasets.ClassLabel):
        return {feature.names[v] for v in ds.unique(column)}
    return {str(v) for v in ds.unique(column)}


def _from_text_rows(data: Any, *, text: str | None, label: str | None, text_pair: str | None,
                    val_split: float, seed: int, where: str, origin: dict[str, Any]) -> LabelledData:
    text, label = text or "text", label or "label"
    wanted = [text, label] + ([text_pair] if text_pair else [])
    first = data["train"]
    _require_columns(first.column_names, wanted, where)
    for split, ds in data.items():
        _require_columns(ds.column_names, wanted, f"the {split} split of {where}")
    notes: list[str] = []
    before = {k: len(v) for k, v in data.items()}
    data = data.filter(lambda rows: [all(rows[c][i] is not None and str(rows[c][i]).strip() != ""
                                         for c in wanted) for i in range(len(rows[label]))],
                       batched=True, desc="dropping empty rows")  # fmt: skip
    dropped = sum(before[k] - len(v) for k, v in data.items())
    if dropped:
        notes.append(f"dropped {dropped} row(s) with an empty text or label")
    if len(data["train"]) == 0:
        raise InvalidInputError(f"{where} has no rows with both a text and a label")
    names = _label_values(data, label, where)
    for split, ds in data.items():
        unknown = sorted(_names_in(ds, label) - set(names)) if split != "train" else []
        if unknown:
            raise InvalidInputError(f"the {split} split of {where} has labels the training split lacks: "
                                    f"{', '.join(unknown[:5])}")  # fmt: skip
    renames = {text: "text", **({text_pair: "text_pair"} if text_pair else {})}
    out = _normalise(data, renames, label, names)
    out = _hold_out(out, val_split, seed, notes)
    origin = {**origin, "columns": {"text": text, "label": label, "text_pair": text_pair},
              "sizes": {k: len(v) for k, v in out.items()}}  # fmt: skip
    return LabelledData(out, names, "text-classification", notes, origin)


def _normalise(data: Any, renames: dict[str, str], label: str, names: list[str]) -> Any:
    """Keep the renamed columns plus ``label`` as ids into ``names`` (a ClassLabel feature)."""
    import datasets

    index = {name: i for i, name in enumerate(names)}
    out = {}
    for split, ds in data.items():
        feature = ds.features[label]
        as_name = (lambda v, f=feature: f.names[v]) if isinstance(feature, datasets.ClassLabel) else str
        keep = [c for c in ds.column_names if c in renames or c == label]
        ds = ds.remove_columns([c for c in ds.column_names if c not in keep])

        def ids(rows: dict[str, list[Any]], conv: Any = as_name) -> dict[str, list[int]]:
            return {"_label": [index[conv(v)] for v in rows[label]]}

        ds = ds.map(ids, batched=True, desc=f"labels ({split})")
        ds = ds.remove_columns([label]).rename_columns({**renames, "_label": "label"})
        for column in renames.values():
            if column.startswith("text") and ds.features[column].dtype != "string":
                ds = ds.cast_column(column, datasets.Value("string"))
        out[split] = ds.cast_column("label", datasets.ClassLabel(names=names))
    return datasets.DatasetDict(out)


def _hold_out(data: Any, val_split: float | None, seed: int, notes: list[str]) -> Any:
    """Add a stratified, seeded validation split taken from ``train`` when there is none."""
    import datasets

    if "validation" in data or val_split is None:  # None: keep the rows as they are (evaluation)
        return data
    if not 0 < val_split < 1:
        raise InvalidInputError(f"val_split must be between 0 and 1, got {val_split}")
    train = data["train"]
    counts = Counter(train["label"])
    n_val = int(round(len(train) * val_split))
    if n_val < 1 or len(train) - n_val < 1:
        raise InvalidInputError(f"{len(train)} training rows are too few to hold out a validation split",
                                hint="add rows, or give a validation split")  # fmt: skip
    stratified = min(counts.values()) >= 2 and len(counts) <= n_val <= len(train) - len(counts)
    parts = train.train_test_split(test_size=n_val, seed=seed,
                                   stratify_by_column="label" if stratified else None)  # fmt: skip
    how = "stratified, " if stratified else ""
    notes.append(f"no validation split: held out {n_val} of {len(train)} training rows "
                 f"({val_split:.0%}, {how}seed {seed})")  # fmt: skip
    out = {"train": parts["train"], "validation": parts["test"]}
    if "test" in data:
        out["test"] = data["test"]
    return datasets.DatasetDict(out)


class _quiet_datasets:
    """Silence the ``datasets`` progress bars of a table read (the CLI shows its own)."""

    def __enter__(self) -> None:
        import datasets

        self._was = datasets.utils.logging.is_progress_bar_enabled()
        datasets.utils.logging.disable_progress_bar()

    def __exit__(self, *exc: Any) -> None:
        import datasets

        if self._was:
            datasets.utils.logging.enable_progress_bar()
