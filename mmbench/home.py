"""Where datasets and results live: `MMBENCH_HOME`, default `~/.mmbench`.

`MMBENCH_HOME` may also be a storage URL (`s3://bucket/mmbench`): datasets and results
then live there, and this machine works on a local mirror of what it reads, under
`MMBENCH_CACHE` (default `~/.cache/mmbench`), keyed by the URL.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mmbench.objects import is_url


def home_url() -> str | None:
    """The storage URL `MMBENCH_HOME` names, or None when it is a local folder."""
    value = os.environ.get("MMBENCH_HOME", "")
    return value.rstrip("/") if is_url(value) else None


def cache_dir() -> Path:
    return Path(os.environ.get("MMBENCH_CACHE", Path.home() / ".cache" / "mmbench")).expanduser()


def mirror_of(url: str, kind: str) -> Path:
    """This machine's local mirror of the remote home or store at `url`."""
    return cache_dir() / kind / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def home() -> Path:
    """The local home folder: `MMBENCH_HOME`, or this machine's mirror of it when it is a URL."""
    url = home_url()
    if url is not None:
        return mirror_of(url, "homes")
    return Path(os.environ.get("MMBENCH_HOME", Path.home() / ".mmbench")).expanduser()


def datasets_dir() -> Path:
    return home() / "datasets"


def default_store() -> Path | str:
    """`results` in the home: a folder, or a URL when the home is one."""
    url = home_url()
    return f"{url}/results" if url is not None else home() / "results"
