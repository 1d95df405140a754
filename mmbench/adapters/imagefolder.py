"""`imagefolder`: bring your own corpus as a folder of images.

Two layouts, as torchvision's ImageFolder and Hugging Face's imagefolder read them:

(a) class folders, `root/<split>/<class>/<image>` or `root/<class>/<image>`: the label
    is the index of the class folder name among all class names, sorted. A split
    folder without class folders holds unlabeled images.
(b) metadata, `metadata.jsonl` or `metadata.csv` next to the images: a `file_name`
    column (a path relative to the metadata file's folder; a list of paths in jsonl
    for several images) plus any other columns; `text_column`, `caption_column` and
    `label_column` name the ones to map, the rest go to `meta`.

Splits are the sub-folders named train/validation/test (and their usual variants),
each in either layout; or, for one metadata file at the root, its `split_column`;
otherwise the whole root is the single split named by `split`.

Symlinks are followed while they stay inside the root; a class or split folder that
leads outside it is one rejection and is never listed (`mmbench.corpus_root`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters._metadata_rows import metadata_rows
from mmbench.adapters.base import (
    MAX_CLASS_INDEX,
    Adapter,
    AdapterError,
    CorpusInfo,
    ImageRef,
    Item,
    Rejection,
    is_plain_name,
    outside_root,
    require_root,
    small_int,
)
from mmbench.schema import make_record

NAME = "imagefolder"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
SPLIT_DIRS = ("train", "training", "validation", "valid", "val", "dev",
              "test", "testing", "eval", "evaluation")
METADATA_NAMES = ("metadata.jsonl", "metadata.csv")
FILE_COLUMN = "file_name"


class _Reject(ValueError):
    """A row or image that cannot become a record; the message is the reason."""


@dataclass(frozen=True)
class _Source:
    folder: Path  # where file_name paths and class folders start
    metadata: Path | None = None  # None: class folders
    by_column: bool = False  # one root metadata file; rows pick their split
    outside: str = ""  # why the folder may not be read (it leads outside the corpus root)


@dataclass
class _Scan:
    folder_classes: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)
    has_captions: bool = False


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _walk_images(folder: Path) -> Iterator[Path]:
    for here, dirs, files in os.walk(folder):  # does not follow folder symlinks
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from (Path(here) / f for f in sorted(files) if _is_image(Path(f)))


def _file_names(value: Any) -> list[str]:
    if value is None or value == "" or value == []:
        raise _Reject(f"missing required field '{FILE_COLUMN}'")
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise _Reject(f"'{FILE_COLUMN}' must be a path or a list of paths")
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts:
            raise _Reject(f"'{FILE_COLUMN}' {name!r} leaves the corpus folder")
    return names


def _text(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Reject(f"field '{column}' must be a string, got {type(value).__name__}")
    return value


def _captions(row: dict[str, Any], column: str) -> list[str]:
    value = row.get(column)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise _Reject(f"field '{column}' must be a string or a list of strings")


def _split_problem(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a fold number
    if value is None or value == "" or isinstance(value, str) and is_plain_name(value):
        return None
    return f"split {value!r} is not a plain name (letters, digits, '_', '-'; it names a folder)"


def _is_index(text: str) -> bool:
    return small_int(text) is not None


def _label(value: Any, names: list[str] | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Reject(f"label {value!r} must be an integer or a string")
    text = str(value).strip()
    if names is not None and text in names:
        return names.index(text)
    if names is not None and _is_index(text) and int(text) < len(names):
        return int(text)  # an index into the given class names
    raise _Reject(f"unknown label {value!r}")


@register_adapter(NAME)
@dataclass
class ImageFolderAdapter(Adapter):
    """A folder of images: class sub-folders, or a metadata.jsonl / metadata.csv."""

    description = "your own images: class folders or metadata.jsonl/.csv with file_name"
    version = "1"

    split: str = field(default="train", metadata={
        "help": "split name when the root has no split folders (and for rows with no split)"})
    text_column: str = field(default="text", metadata={
        "help": "metadata column mapped to `text`, the primary text input"})
    caption_column: str = field(default="caption", metadata={
        "help": "metadata column mapped to `captions` (a string or a list of strings)"})
    label_column: str = field(default="label", metadata={
        "help": "metadata column holding the label (a class name or an integer)"})
    split_column: str = field(default="split", metadata={
        "help": "column of a root metadata file that names each row's split"})
    classes: str = field(default="", metadata={
        "help": "comma-separated class names in label order (default: found in the data)"})

    # -- layout -------------------------------------------------------------------

    def _metadata_file(self, folder: Path) -> Path | None:
        found = [folder / n for n in METADATA_NAMES if (folder / n).is_file()]
        if len(found) > 1:
            raise AdapterError(f"{NAME}: both metadata.jsonl and metadata.csv in {folder}")
        return found[0] if found else None

    def _sources(self, root: Path) -> dict[str, _Source]:
        require_root(root, NAME)
        if not root.is_dir():
            raise AdapterError(f"{NAME}: corpus root {root} is not a folder")
        meta = self._metadata_file(root)
        if meta is not None:
            return {s: _Source(root, meta, True) for s in self._row_splits(meta, root)}
        dirs = [root / d for d in SPLIT_DIRS if (root / d).is_dir()]
        if not dirs:
            return {self.split: _Source(root)}
        return {d.name: self._split_source(d) for d in dirs}

    def _split_source(self, folder: Path) -> _Source:
        problem = outside_root(folder, "split folder")
        if problem is not None:  # not looked into at all; its split is one rejection
            return _Source(folder, outside=problem)
        return _Source(folder, self._metadata_file(folder))

    def _row_split(self, row: dict[str, Any] | Rejection) -> str:
        """The row's split; the default split for none and for a value that cannot be one
        (the row is rejected there, see `_split_problem`)."""
        value = None if isinstance(row, Rejection) else row.get(self.split_column)
        if value is None or value == "" or _split_problem(value):
            return self.split
        return str(value)

    def _row_splits(self, meta: Path, root: Path) -> list[str]:
        display = meta.relative_to(root).as_posix()
        found = {self._row_split(row): None for _, row in metadata_rows(meta, display)}
        return list(found) or [self.split]

    def splits(self, root: Path) -> list[str]:
        return list(self._sources(root))

    def _scan(self, root: Path) -> _Scan:
        scan = _Scan()
        # Splits of one root metadata file share a source: read it once.
        for source in {s: None for s in self._sources(root).values()}:
            if source.outside:
                continue
            if source.metadata is None:
                scan.folder_classes.update(p.name for p in _class_dirs(source.folder)
                                           if outside_root(p) is None)
                continue
            for _, row in metadata_rows(source.metadata, ""):
                if isinstance(row, Rejection):
                    continue
                value = row.get(self.label_column)
                if isinstance(value, int | str) and not isinstance(value, bool) and value != "":
                    scan.labels.add(str(value).strip())
                scan.has_captions = scan.has_captions or bool(row.get(self.caption_column))
        return scan

    def _class_names(self, scan: _Scan) -> list[str] | None:
        if self.classes:
            return [c.strip() for c in self.classes.split(",") if c.strip()]
        values = scan.labels | scan.folder_classes
        if not values:
            return None
        if not scan.folder_classes and all(_is_index(v) for v in values):
            top = max(int(v) for v in values)
            if top < MAX_CLASS_INDEX:
                return [str(i) for i in range(top + 1)]
            # too sparse to be indices (0..max would not fit in memory): they are names
            return sorted(values, key=int)
        return sorted(values)

    def info(self, root: Path) -> CorpusInfo:
        scan = self._scan(root)
        names = self._class_names(scan)
        tasks: list[str] = []
        if names:
            tasks = ["classification", "linear-probe"]
            if not all(_is_index(n) for n in names):
                tasks.append("zero-shot")  # only names that say something
        if scan.has_captions:
            tasks.append("retrieval")
        return CorpusInfo(class_names=names, tasks=tuple(tasks))

    # -- records ------------------------------------------------------------------

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        source = self._sources(root)[split]
        names = self._class_names(self._scan(root))
        if source.outside:
            yield Rejection(source.folder.relative_to(root).as_posix(), "split folder",
                            source.outside)
        elif source.metadata is None:
            yield from self._folder_items(root, source.folder, names)
        else:
            yield from self._metadata_items(root, source, split, names)

    def _metadata_items(self, root: Path, source: _Source, split: str,
                        names: list[str] | None) -> Iterator[Item]:
        assert source.metadata is not None
        display = source.metadata.relative_to(root).as_posix()
        for locator, row in metadata_rows(source.metadata, display):
            if source.by_column and self._row_split(row) != split:
                continue
            if isinstance(row, Rejection):
                yield row
                continue
            problem = _split_problem(row.get(self.split_column)) if source.by_column else None
            if problem:
                yield Rejection(display, locator, problem)
                continue
            try:
                yield self._row_record(row, root, source, names, display, locator)
            except _Reject as err:
                yield Rejection(display, locator, str(err))

    def _row_record(self, row: dict[str, Any], root: Path, source: _Source,
                    names: list[str] | None, display: str, locator: str) -> dict[str, Any]:
        paths = [source.folder / n for n in _file_names(row.get(FILE_COLUMN))]
        refs = [ImageRef(name=p.relative_to(root).as_posix(), path=p) for p in paths]
        mapped = {FILE_COLUMN, self.text_column, self.caption_column, self.label_column}
        if source.by_column:
            mapped.add(self.split_column)
        return make_record(
            id="+".join(ref.name for ref in refs), images=refs,
            text=_text(row, self.text_column), captions=_captions(row, self.caption_column),
            label=_label(row.get(self.label_column), names),
            source={"dataset": NAME, "file": display, "locator": locator},
            meta={k: v for k, v in row.items() if k not in mapped},
        )

    def _folder_items(self, root: Path, folder: Path, names: list[str] | None) -> Iterator[Item]:
        classes = _class_dirs(folder)
        for path in sorted(p for p in folder.iterdir() if p.is_file() and _is_image(p)):
            rel = path.relative_to(root).as_posix()
            if classes:
                yield Rejection(rel, "no class folder", "image is not inside a class folder")
            else:
                yield self._image_item(root, path, None, names)
        for cls in classes:
            problem = outside_root(cls, "class folder")
            if problem is not None:  # never listed: one rejection stands for what it holds
                yield Rejection(cls.relative_to(root).as_posix(), f"class folder {cls.name}",
                                problem)
                continue
            for path in _walk_images(cls):
                yield self._image_item(root, path, cls.name, names)

    def _image_item(self, root: Path, path: Path, cls: str | None,
                    names: list[str] | None) -> Item:
        rel = path.relative_to(root).as_posix()
        locator = f"class folder {cls}" if cls is not None else "no class folder"
        try:
            label = None if cls is None else _label(cls, names)
        except _Reject as err:
            return Rejection(rel, locator, str(err))
        return make_record(
            id=rel, images=[ImageRef(name=rel, path=path)], label=label,
            source={"dataset": NAME, "file": rel, "locator": locator},
            meta={"class_folder": cls} if cls is not None else {},
        )
