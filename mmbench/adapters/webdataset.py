"""`webdataset`: samples stored as tar shards in the WebDataset layout.

A shard is a plain or gzipped tar (`.tar`, `.tar.gz`, `.tgz`). Members that share a
key (the member path up to the first dot of its file name: `dir/s001.jpg`,
`dir/s001.txt`) form one sample. Recognised extensions: jpg/jpeg/png/webp images,
`txt` (captions, one per non-empty line), `json` (kept in meta; its `caption`,
`captions` and `label` keys are used when no txt/cls member says otherwise) and
`cls` (an integer label, or a name listed in `classnames.txt`).

Splits: each sub-folder of the root holding shards is a split named after it (the
CLIP_benchmark layout `root/test/0.tar`); a shard directly under the root goes to
the split its name matches with `split_pattern` (`train-0001.tar` -> train), else
to `split`. Shards are streamed, never extracted; unsafe members (absolute or `..`
paths, links, devices) and corrupt or truncated shards become rejections.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters._wds_tar import Broken, Member, iter_members
from mmbench.adapters.base import (
    MAX_CLASS_INDEX,
    Adapter,
    AdapterError,
    BadJson,
    CorpusInfo,
    ImageRef,
    Item,
    Rejection,
    corpus_file,
    outside_root,
    parse_json,
    require_root,
    small_int,
)
from mmbench.schema import make_record

NAME = "webdataset"
SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")
IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "webp"})
# Members read while scanning for labels and captions (never the images).
SCAN_EXTS = frozenset({"cls", "txt", "json"})


def is_shard(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SHARD_SUFFIXES)


def _natural(path: Path) -> list[Any]:
    # "2.tar" before "10.tar", as shard writers number them.
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name)]


def _read_lines(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    try:
        text = corpus_file(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise AdapterError(f"{NAME}: {path} is not valid UTF-8: {err}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass
class _Scan:
    """What a pass over the small members found (used only without classnames.txt)."""

    labels: set[int] = field(default_factory=set)
    has_text: bool = False


@register_adapter(NAME)
@dataclass
class WebDatasetAdapter(Adapter):
    """Tar shards of key-grouped members (image + txt/json/cls)."""

    description = "WebDataset tar shards: image + txt captions / json / cls label per key"
    version = "1"

    split: str = field(default="train", metadata={
        "help": "split name for shards directly under the root that split_pattern does not match"})
    split_pattern: str = field(default=r"^(train|val|validation|test|dev)[-_.]", metadata={
        "help": "regex on a top-level shard's file name; group 1 is its split"})
    require_caption: bool = field(default=False, metadata={
        "help": "reject samples that carry no caption (txt member or json caption)"})
    max_member_mb: int = field(default=256, metadata={
        "help": "members larger than this many MiB are rejected unread"})

    # -- layout -------------------------------------------------------------------

    def _root(self, root: Path) -> Path:
        require_root(root, NAME)
        if not root.is_dir():
            raise AdapterError(f"{NAME}: corpus root {root} is not a folder")
        return root

    def shards(self, root: Path) -> dict[str, list[Path]]:
        """Shards per split, in a stable order; raises AdapterError when there are none."""
        return self._layout(root)[0]

    def _layout(self, root: Path) -> tuple[dict[str, list[Path]], list[Rejection]]:
        """`shards`, and a rejection for each folder that leads outside the corpus root
        (never listed: whether it holds shards is not known)."""
        found: dict[str, list[Path]] = {}
        refused: list[Rejection] = []
        pattern = re.compile(self.split_pattern)
        for path in sorted(self._root(root).iterdir()):
            if path.name.startswith("."):
                continue
            if path.is_dir():
                problem = outside_root(path)
                if problem is not None:
                    refused.append(Rejection(path.name, "folder", problem))
                    continue
                inner = sorted((p for p in path.iterdir() if is_shard(p)), key=_natural)
                if inner:
                    found.setdefault(path.name, []).extend(inner)
            elif is_shard(path):
                match = pattern.match(path.name)
                found.setdefault(match.group(1) if match else self.split, []).append(path)
        if not found:
            why = "".join(f"; {r.reason}" for r in refused)
            raise AdapterError(f"{NAME}: no .tar/.tar.gz/.tgz shards in {root} or its "
                               f"sub-folders{why}")
        return {split: sorted(paths, key=_natural) for split, paths in found.items()}, refused

    def splits(self, root: Path) -> list[str]:
        return list(self.shards(root))

    def info(self, root: Path) -> CorpusInfo:
        names = _read_lines(root / "classnames.txt")
        extra: dict[str, Any] = {}
        templates = _read_lines(root / "zeroshot_classification_templates.txt")
        if templates:
            extra["templates"] = templates
        kind = _read_lines(root / "dataset_type.txt")
        if names is not None:
            tasks = ["classification", "linear-probe", "zero-shot"]
            if kind == ["retrieval"]:
                tasks.append("retrieval")
            return CorpusInfo(class_names=names, tasks=tuple(tasks), extra=extra)
        scan = self._scan(root)
        tasks = ["retrieval"] if scan.has_text or kind == ["retrieval"] else []
        class_names = None
        if scan.labels:
            # Integer labels without a names file: class i is called "i".
            class_names = [str(i) for i in range(max(scan.labels) + 1)]
            tasks = ["classification", "linear-probe", *tasks]
        return CorpusInfo(class_names=class_names, tasks=tuple(tasks), extra=extra)

    def _scan(self, root: Path) -> _Scan:
        scan = _Scan()
        for paths in self.shards(root).values():
            for shard in paths:
                for item in iter_members(shard, str(shard), self.max_member_mb, SCAN_EXTS):
                    if isinstance(item, Member):
                        _scan_member(scan, item)
        return scan

    # -- records ------------------------------------------------------------------

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        names = _read_lines(root / "classnames.txt")
        found, refused = self._layout(root)
        if split == next(iter(found)):  # folders of no known split are reported once, here
            yield from refused
        for shard in found.get(split, []):
            display = shard.relative_to(root).as_posix()
            yield from self._shard_items(shard, display, names)

    def _shard_items(self, shard: Path, display: str, names: list[str] | None) -> Iterator[Item]:
        key: str | None = None
        group: dict[str, bytes] = {}
        for item in iter_members(shard, display, self.max_member_mb):
            if isinstance(item, Rejection):
                yield item  # a refused member does not close the open sample
            elif isinstance(item, Broken):
                if key is not None:
                    yield Rejection(display, f"key {key}", f"sample cut off: {item.reason}")
                key = None
                yield Rejection(display, item.locator, item.reason)
            elif item.key == key:
                if item.ext in group:
                    yield Rejection(display, f"member {item.name}", "duplicate member in sample")
                else:
                    group[item.ext] = item.data
            else:
                # Members of a sample are consecutive: a new key closes the open one.
                if key is not None:
                    yield self._sample(display, key, group, names)
                key, group = item.key, {item.ext: item.data}
        if key is not None:
            yield self._sample(display, key, group, names)

    def _sample(self, display: str, key: str, group: dict[str, bytes],
                names: list[str] | None) -> Item:
        try:
            return self._record(display, key, group, names)
        except _Reject as err:
            return Rejection(display, f"key {key}", str(err))

    def _record(self, display: str, key: str, group: dict[str, bytes],
                names: list[str] | None) -> dict[str, Any]:
        images = [ImageRef(name=f"{display}/{key}.{ext}", data=group[ext])
                  for ext in sorted(group) if ext.rsplit(".", 1)[-1] in IMAGE_EXTS]
        if not images:
            raise _Reject(f"sample has no image member (has: {', '.join(sorted(group))})")
        meta: dict[str, Any] = {"key": key, "members": sorted(group)}
        captions: list[str] = []
        if "txt" in group:
            captions = [c.strip() for c in _text(group["txt"], "txt").splitlines() if c.strip()]
        label: int | None = None
        if "json" in group:
            obj = _json(group["json"])
            meta["json"] = obj
            if isinstance(obj, dict):
                captions = captions or _json_captions(obj)
                label = _json_label(obj)
        if "cls" in group:
            label = _label(_text(group["cls"], "cls").strip(), names)
        elif label is not None and names is not None and label >= len(names):
            raise _Reject(f"unknown label {label} (classnames.txt has {len(names)} classes)")
        if self.require_caption and not captions:
            raise _Reject("sample has no caption (no txt member, no json caption)")
        other = {ext: _describe(data) for ext, data in group.items()
                 if ext not in SCAN_EXTS and ext.rsplit(".", 1)[-1] not in IMAGE_EXTS}
        if other:
            meta["other"] = other
        return make_record(
            id=f"{display}#{key}", images=images, captions=captions, label=label,
            source={"dataset": NAME, "file": display, "locator": f"key {key}"}, meta=meta,
        )


class _Reject(ValueError):
    """A sample that cannot become a record; the message is the reason."""


def _scan_member(scan: _Scan, member: Member) -> None:
    try:
        if member.ext == "txt":
            scan.has_text = scan.has_text or bool(member.data.strip())
        elif member.ext == "cls":
            label = small_int(member.data.decode("ascii").strip())
            if label is not None and label < MAX_CLASS_INDEX:
                scan.labels.add(label)
        else:
            obj = parse_json(member.data)
            if isinstance(obj, dict):
                scan.has_text = scan.has_text or bool(_json_captions(obj))
                label = _json_label(obj)
                if label is not None:
                    scan.labels.add(label)
    except (ValueError, _Reject):
        pass  # the record pass rejects it with a reason


def _text(data: bytes, ext: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Reject(f"invalid UTF-8 in .{ext} member: {err}") from None


def _json(data: bytes) -> Any:
    try:
        return parse_json(_text(data, "json"))
    except BadJson as err:
        raise _Reject(f"broken JSON in .json member: {err}") from None


def _json_captions(obj: dict[str, Any]) -> list[str]:
    value = obj.get("captions", obj.get("caption"))
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    return []


def _json_label(obj: dict[str, Any]) -> int | None:
    value = obj.get("label")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Reject(f"json label {value!r} is not a non-negative integer")
    if value >= MAX_CLASS_INDEX:
        raise _Reject(f"json label {value} is not below {MAX_CLASS_INDEX}, the most classes "
                      f"integer labels can index")
    return value


def _label(value: str, names: list[str] | None) -> int:
    label = small_int(value)
    if label is not None:
        if names is not None and label >= len(names):
            raise _Reject(f"unknown label {label} (classnames.txt has {len(names)} classes)")
        if label >= MAX_CLASS_INDEX:
            raise _Reject(f"label {label} is not below {MAX_CLASS_INDEX}, the most classes "
                          f"integer labels can index without a classnames.txt")
        return label
    if names is not None and value in names:
        return names.index(value)
    raise _Reject(f"unknown label {value!r} in .cls member")


def _describe(data: bytes) -> Any:
    # Small text members are kept verbatim in meta; anything else only by size.
    if len(data) <= 4096:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"bytes": len(data)}


__all__ = ["WebDatasetAdapter", "is_shard"]
