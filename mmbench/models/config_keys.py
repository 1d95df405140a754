"""Which configuration keys a model's constructor takes, so that a misspelt key in a suite is
an error with a suggestion, not a silently different configuration (and config hash)."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class ModelConfigError(ValueError):
    """A model's configuration names a key its constructor does not take, or is refused by it."""


def _parameters(function: Any) -> tuple[set[str], bool]:
    """(named keyword parameters, whether it also takes **kwargs)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin or C factory: nothing to say
        return set(), True
    names = {p.name for p in params if p.kind in _NAMED and p.name != "self"}
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def accepted_keys(factory: Any) -> set[str] | None:
    """The keyword names `factory` accepts, or None when it accepts any.

    A class is read along its method resolution order: an `__init__` that takes **kwargs
    hands them to the next one (cooperative constructors). A chain that ends with **kwargs
    still open accepts anything, unless the class that ends it sets `config_keys_closed`
    (its **kwargs only collects what subclasses name).
    """
    if not inspect.isclass(factory):
        names, open_ended = _parameters(factory)
        return None if open_ended else names
    names = set()
    for klass in factory.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        found, open_ended = _parameters(init)
        names |= found
        if not open_ended:
            return names
        if klass.__dict__.get("config_keys_closed", False):
            return names
    return None


def check_keys(name: str, accepted: set[str] | None, config: dict[str, Any]) -> None:
    """ModelConfigError naming each key of `config` not in `accepted` (None: any key)."""
    if accepted is None:
        return
    for key in config:
        if key not in accepted:
            close = difflib.get_close_matches(str(key), sorted(accepted), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelConfigError(f"model {name!r}: unknown config key {key!r}{hint} "
                                   f"(it takes: {', '.join(sorted(accepted)) or 'no keys'})")
