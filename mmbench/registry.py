"""One generic registry for adapters, models and tasks.

Entries come from a decorator, from lazy "module:attr" targets (imported on first
use, so listing names costs no imports), or from package entry points.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mmbench.names import check_name

T = TypeVar("T")


class RegistryError(KeyError):
    """Unknown or duplicate name; str() is the plain message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _import_target(target: str) -> object:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


class Registry(Generic[T]):
    """Names -> objects of one kind, with a did-you-mean hint for unknown names."""

    def __init__(self, kind: str, entry_point_group: str | None = None, *,
                 names_are_paths: bool = False) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        # Model, adapter and task names end up in dataset folders and store keys.
        self.names_are_paths = names_are_paths
        self._objects: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._builtins: dict[str, str] = {}  # name -> target, as register_builtins gave it
        self._entry_points_loaded = False

    def register(self, name: str, obj: T | None = None, *, origin: str | None = None
                 ) -> Callable[[T], T]:
        """Register `obj` under `name`; used bare as a decorator when `obj` is None.

        `origin` is the defining module, when `obj` (an instance) does not say it itself.
        """

        def decorator(target: T) -> T:
            self._add(name, target, origin or getattr(target, "__module__", None))
            return target

        if obj is not None:
            decorator(obj)
        return decorator

    def _check(self, name: str) -> str:
        if self.names_are_paths:
            check_name(name, f"{self.kind} name")
        return name

    def unregister(self, name: str) -> None:
        """Forget `name` (a plugin unloaded, a test's temporary entry); unknown is an error."""
        if name not in self._objects and name not in self._lazy:
            raise RegistryError(self._unknown_message(name))
        self._objects.pop(name, None)
        self._lazy.pop(name, None)
        self._builtins.pop(name, None)

    def register_lazy(self, name: str, target: str) -> None:
        """Register "module:attr", imported only when `name` is first looked up."""
        self._check(name)
        if name in self._objects or name in self._lazy:
            raise RegistryError(f"{self.kind} {name!r} is already registered")
        self._lazy[name] = target

    def register_builtins(self, targets: dict[str, str]) -> None:
        """Register lazy built-ins whose module exists; a missing module is left out, not an error."""
        import importlib.util

        for name, target in targets.items():
            if importlib.util.find_spec(target.partition(":")[0]) is not None:
                self.register_lazy(name, target)
                self._builtins[name] = target

    def _add(self, name: str, obj: T, origin: str | None) -> None:
        self._check(name)
        if name in self._objects:
            raise RegistryError(f"{self.kind} {name!r} is already registered")
        # A lazy placeholder is replaced by the real object when its own module registers
        # it; anything else claiming that name is a duplicate.
        lazy = self._lazy.get(name)
        if lazy is not None and origin != lazy.partition(":")[0]:
            raise RegistryError(f"{self.kind} {name!r} is already registered (by {lazy})")
        self._lazy.pop(name, None)
        self._objects[name] = obj

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or self.entry_point_group is None:
            return
        from importlib import metadata  # 25 ms to import: only when a name is not built in

        found = [ep for ep in metadata.entry_points(group=self.entry_point_group)
                 if ep.name not in self._objects and ep.name not in self._lazy]
        for ep in found:  # all or none: a plugin with a bad name fails every scan until fixed
            try:
                self._check(ep.name)
            except ValueError as err:
                raise RegistryError(f"{err} (entry point {ep.name} = {ep.value} in group "
                                    f"{self.entry_point_group}; rename it in its package)") from None
        self._entry_points_loaded = True
        self._lazy.update((ep.name, ep.value) for ep in found)

    def lazy_target(self, name: str) -> str | None:
        """The "module:attr" target of `name` while it is registered lazily and not imported yet."""
        return None if name in self._objects else self._lazy.get(name)

    def builtin_target(self, name: str) -> str | None:
        """The "module:attr" target `name` was registered with as a built-in, while the
        entry is still that one (imported or not); None for anything else."""
        target = self._builtins.get(name)
        if target is None:
            return None
        if name in self._objects:
            module = getattr(self._objects[name], "__module__", None)
            return target if module == target.partition(":")[0] else None
        return target if self._lazy.get(name) == target else None

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(set(self._objects) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        # A registered name needs no scan of the installed packages' entry points (25 ms
        # per registry): an entry point never replaces a name registered before it.
        if not isinstance(name, str):
            return False
        return name in self._objects or name in self._lazy or name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        if name in self._objects:
            return self._objects[name]
        if name not in self._lazy:  # as in __contains__: a registered name needs no scan
            self._load_entry_points()
        if name in self._lazy:
            target = self._lazy[name]
            obj = _import_target(target)
            # Importing the module may have registered `name` through its decorator.
            if name not in self._objects:
                self._lazy.pop(name, None)
                self._objects[name] = obj  # type: ignore[assignment]
            return self._objects[name]
        raise RegistryError(self._unknown_message(name))

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(known) or 'none'}."
