"""What planning asks of a model class, cached for the built-in ones so that a rerun with
nothing left to do never imports torch.

Planning a suite asks each model for the config keys its constructor takes, its full
config with defaults (part of every key), the version of its code (part of an artifact's
key) and which methods it has (which tasks it can serve, and how it is fitted).
Answering means importing the model's module, and every built-in one imports torch:
about 2 s of the 3.4 s a finished default suite took to rerun. For a built-in model the
answers are a function of mmbench's own source alone, so they are kept in the home
(`cache/model-facts-<digest>.json`, the digest taken over every `.py` file of the
installed package): any change to mmbench's code starts a new file. Models from
plugins, model files or decorators are asked directly, every time.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parents[1]  # the installed mmbench package


def code_version_of(factory: Any) -> str:
    """A model class's own `fit_version` when it declares one, else a hash of the source
    of its module."""
    declared = getattr(factory, "fit_version", None)
    if declared:
        return f"{factory.__module__}.{getattr(factory, '__qualname__', '')}:{declared}"
    try:
        source = inspect.getsource(inspect.getmodule(factory))  # type: ignore[arg-type]
    except (OSError, TypeError):  # defined in a notebook or from a compiled module
        source = getattr(factory, "__qualname__", repr(factory))
    return f"{factory.__module__}:{hashlib.sha256(source.encode()).hexdigest()[:12]}"


def _stand_in_method(*args: Any, **kwargs: Any) -> Any:
    raise TypeError("a planning stand-in has method names only; nothing can be called")


@lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 over the path and bytes of every .py file of the mmbench package."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _builtin(name: str) -> bool:
    """Whether `name` is still the built-in entry of that name (not a plugin's, not replaced)."""
    from mmbench.models import MODELS

    target = MODELS.builtin_target(name)
    return target is not None and target.startswith("mmbench.")


class _Cache:
    """The facts of built-in models, one JSON file per source digest in the home's cache."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.path: Path | None = None
        self.home: Path | None = None
        self.dirty = False

    def load(self) -> None:
        from mmbench.home import home

        base = home().resolve()
        path = base / "cache" / f"model-facts-{source_digest()}.json"
        if path == self.path:
            return
        self.path, self.home, self.entries, self.dirty = path, base, {}, False
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent, or a damaged file: asked again and rewritten
            return
        if isinstance(loaded, dict):
            self.entries = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    def save(self) -> None:
        from mmbench.paths import inside, make_dir

        if not self.dirty or self.path is None or self.home is None:
            return
        try:
            folder = make_dir(self.path.parent, self.home, "model-facts cache")
            target = inside(self.path, self.home, "model-facts cache")
            fd, scratch = tempfile.mkstemp(prefix=".model-facts-", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.entries, out, sort_keys=True)
            os.replace(scratch, target)  # readers see the old file or the new one
            self.dirty = False
        except OSError:  # a read-only home: the facts are simply asked again next time
            pass


_CACHE = _Cache()


def _entry(name: str) -> dict[str, Any]:
    """The facts of a built-in `name`: from the cache while its module is not imported yet;
    asked of the class (and written through) once it is, or when the cache lacks them."""
    _CACHE.load()
    entry = _CACHE.entries.get(name)
    complete = entry is not None and {"accepted", "callables", "code"} <= set(entry)
    if complete and not _imported(name):
        return entry  # type: ignore[return-value]
    asked = _asked(name)
    if entry is None or any(entry.get(k) != v for k, v in asked.items()):
        entry = {**asked, "configs": (entry or {}).get("configs", {})}
        _CACHE.entries[name] = entry
        _CACHE.dirty = True
        _CACHE.save()
    return entry


def _imported(name: str) -> bool:
    from mmbench.models import MODELS

    return MODELS.lazy_target(name) is None


def _asked(name: str) -> dict[str, Any]:
    from mmbench.models import MODELS
    from mmbench.models.config_keys import accepted_keys

    factory = MODELS.get(name)
    accepted = accepted_keys(factory)
    return {"accepted": None if accepted is None else sorted(accepted),
            "callables": sorted(n for n in dir(factory) if callable(getattr(factory, n, None))),
            "code": code_version_of(factory)}


def accepted(name: str) -> set[str] | None:
    """The keyword names model `name`'s constructor accepts (None: any)."""
    if not _builtin(name):
        from mmbench.models import MODELS
        from mmbench.models.config_keys import accepted_keys

        return accepted_keys(MODELS.get(name))
    keys = _entry(name)["accepted"]
    return None if keys is None else set(keys)


def code_version(name: str) -> str:
    """The version of model `name`'s code that goes into its artifact key."""
    if not _builtin(name):
        from mmbench.models import MODELS

        return code_version_of(MODELS.get(name))
    return str(_entry(name)["code"])


def capabilities(name: str) -> Any:
    """Model `name`'s class, or for a built-in one a stand-in with the same method names:
    enough for the checks of what a task can use (`callable(getattr(cls, method))`)."""
    from mmbench.models import MODELS

    if not _builtin(name):
        return MODELS.get(name)
    return _stand_in(name, tuple(_entry(name)["callables"]))


@cache
def _stand_in(name: str, callables: tuple[str, ...]) -> type:
    methods = {n: staticmethod(_stand_in_method) for n in callables if not n.startswith("__")}
    return type(f"PlanningStandIn[{name}]", (), methods)


def effective_config(name: str, config: dict[str, Any], build: Any) -> dict[str, Any]:
    """`build(name, config)` (the model's full config), remembered for a built-in model
    when the JSON round trip keeps it exactly (it is part of keys only through JSON)."""
    if not _builtin(name):
        return dict(build(name, config))
    try:
        wanted = json.dumps(config, sort_keys=True)
    except (TypeError, ValueError):  # a value JSON cannot hold: asked every time
        return dict(build(name, config))
    configs = _entry(name).setdefault("configs", {})
    if wanted in configs and not _imported(name):
        return _copy(configs[wanted])
    full = build(name, config)  # imported: asked again, cheaply (a class may be patched at run time)
    try:
        exact = _copy(full) == full
    except (TypeError, ValueError):
        exact = False
    if exact and configs.get(wanted) != full:
        configs[wanted] = _copy(full)
        _CACHE.dirty = True
        _CACHE.save()
    return dict(full)


def _copy(value: Any) -> Any:
    """A deep copy through JSON (TypeError/ValueError for what JSON cannot hold)."""
    return json.loads(json.dumps(value))
