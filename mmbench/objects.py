"""Object storage (S3 and S3-compatible servers) for a dataset home or a result store
given as a URL, e.g. `MMBENCH_HOME=s3://bucket/mmbench` or `--store s3://bucket/results`.

Object storage has no rename and no locks; what mmbench needs from it is what one PUT
gives: an object appears whole or not at all. On top of that it uses S3's conditional
writes: `create` (If-None-Match: *) writes only when no object is there, which keeps the
store append-only with two writers on two machines; `replace` and `delete` (If-Match on
an ETag) change an object only if nobody changed it since it was read, which is what
the leases of `mmbench.runner.leases` are made of.

The endpoint is S3's unless `MMBENCH_S3_ENDPOINT` (or AWS_ENDPOINT_URL) names another;
credentials come from the usual AWS settings. Requires `pip install 'mmbench[s3]'`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>.*)$")
SCHEMES = ("s3",)
# A component of an object key mmbench writes: the names and keys it checks elsewhere,
# so nothing a user names becomes `..` or an absolute key.
_PART = re.compile(r"^[A-Za-z0-9_.=+-]+$")
NOT_JSON = object()  # what read_json gives for an object whose bytes are not JSON


class ObjectStoreError(ValueError):
    """A storage URL mmbench cannot use; the message says why and what to do."""


def is_url(location: str | Path | None) -> bool:
    """Whether `location` is a storage URL (`scheme://...`) rather than a local path."""
    return isinstance(location, str) and URL.match(location) is not None \
        and not location.startswith("file://")


def _check_part(part: str, url: str) -> str:
    if part in (".", "..") or not _PART.match(part):
        raise ObjectStoreError(f"{url}: {part!r} is not a plain object name")
    return part


class ObjectStore:
    """The objects under one URL prefix (`s3://bucket/prefix`); keys are relative to it."""

    def __init__(self, url: str) -> None:
        match = URL.match(url)
        if match is None or match["scheme"] not in SCHEMES:
            raise ObjectStoreError(f"{url}: not a storage URL mmbench can use; supported: "
                                   + ", ".join(f"{s}://bucket/prefix" for s in SCHEMES))
        parts = [p for p in match["rest"].split("/") if p]
        if not parts:
            raise ObjectStoreError(f"{url}: names no bucket")
        self.url = url.rstrip("/")
        self.prefix = "/".join(_check_part(p, url) for p in parts)
        self._fs: Any = None
        self._pid = -1

    @property
    def fs(self) -> Any:
        # One client per process: an async client does not survive a fork.
        if self._fs is None or self._pid != os.getpid():
            try:
                import s3fs
            except ImportError:
                raise ObjectStoreError(f"{self.url}: object storage needs s3fs: "
                                       f"pip install 'mmbench[s3]'") from None
            endpoint = os.environ.get("MMBENCH_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
            self._fs = s3fs.S3FileSystem(endpoint_url=endpoint, use_listings_cache=False,
                                         skip_instance_cache=True)
            self._pid = os.getpid()
        return self._fs

    def path(self, key: str) -> str:
        """The full object path of `key` (a '/'-separated key of plain names)."""
        return self.prefix + "/" + "/".join(_check_part(p, self.url) for p in key.split("/"))

    def url_of(self, key: str) -> str:
        return f"s3://{self.path(key)}"

    def child(self, key: str) -> ObjectStore:
        return ObjectStore(self.url_of(key))

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        found = self.read_with_tag(key)
        return None if found is None else found[0]

    def read_with_tag(self, key: str) -> tuple[bytes, str] | None:
        """(bytes, ETag) of the object, or None; the tag is that of the bytes returned."""
        bucket, name = self._split(key)
        try:
            response = self.fs.call_s3("get_object", Bucket=bucket, Key=name)
        except FileNotFoundError:
            return None
        return _read_body(self.fs, response["Body"]), str(response["ETag"])

    def read_json(self, key: str) -> Any:
        """The object parsed as JSON; None when there is none, and NOT_JSON when its bytes
        are not JSON (so that a caller's check of the shape it expects refuses it)."""
        raw = self.read(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return NOT_JSON

    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        """The bytes of each object that is there, fetched concurrently."""
        if not keys:
            return {}
        paths = {self.path(key): key for key in keys}
        found = self.fs.cat(list(paths), on_error="omit")
        return {paths[path]: bytes(raw) for path, raw in found.items() if path in paths}

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def put(self, key: str, data: bytes) -> None:
        """Write the object, replacing any (one PUT: readers see the old bytes or the new)."""
        self.fs.pipe_file(self.path(key), data)

    def create(self, key: str, data: bytes) -> str | None:
        """Write the object only if none is there: its ETag, or None when one is there
        (nothing written)."""
        bucket, name = self._split(key)
        try:
            response = self.fs.call_s3("put_object", Bucket=bucket, Key=name, Body=data, IfNoneMatch="*")
        except FileExistsError:
            return None
        except OSError as err:
            if _precondition_failed(err):
                return None
            raise
        return str(response["ETag"])

    def replace(self, key: str, data: bytes, tag: str) -> str | None:
        """Overwrite the object if its ETag is still `tag`: the new tag, or None when it
        changed or is gone (nothing written)."""
        bucket, name = self._split(key)
        try:
            response = self.fs.call_s3("put_object", Bucket=bucket, Key=name, Body=data, IfMatch=tag)
        except OSError as err:
            if isinstance(err, FileNotFoundError) or _precondition_failed(err):
                return None
            raise
        return str(response["ETag"])

    def delete(self, key: str, tag: str | None = None) -> bool:
        """Delete the object (only if its ETag is still `tag`, when given); False when it
        changed (nothing deleted)."""
        bucket, name = self._split(key)
        condition = {} if tag is None else {"IfMatch": tag}
        try:
            self.fs.call_s3("delete_object", Bucket=bucket, Key=name, **condition)
        except FileNotFoundError:
            return tag is None
        except OSError as err:
            if _precondition_failed(err):
                return False
            raise
        return True

    def listing(self, folder: str = "") -> list[str]:
        """The key of every object under `folder` (recursively), relative to this store, sorted."""
        base = self.prefix if not folder else self.path(folder)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        cut = len(self.prefix) + 1
        return sorted(name[cut:] for name, meta in found.items() if meta.get("type") == "file")

    def upload(self, local: Path, key: str) -> None:
        self.fs.put_file(str(local), self.path(key))

    def download(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self.path(key), str(local))

    def _split(self, key: str) -> tuple[str, str]:
        bucket, _, name = self.path(key).partition("/")
        return bucket, name


def _read_body(fs: Any, body: Any) -> bytes:
    from fsspec.asyn import sync

    async def read() -> bytes:
        async with body as stream:
            return bytes(await stream.read())

    return bytes(sync(fs.loop, read))


def _precondition_failed(err: BaseException) -> bool:
    """Whether S3 refused a conditional write because its condition did not hold (or a
    concurrent conditional write to the same key was under way)."""
    cause = err.__cause__
    response = getattr(cause, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
