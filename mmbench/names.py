"""The one rule for every name that becomes a path: dataset names, model labels, suite and
benchmark names, registry names, store and artifact keys.

A name is data, never a path: it must be a single plain file name, so that
`home / name` can only ever be a child of `home`. Checked here, once, at every entry
(CLI, Python API, suite files, registrations); the code that writes or deletes checks
its target again (`mmbench.paths`).
"""

from __future__ import annotations

import re

NAME_MAX = 64
KEY_MAX = 200  # a store key joins several names; its files add a prefix and a suffix
NAME_RULE = ("1-{max} ASCII letters, digits, '_', '-' or '.', starting with a letter or digit "
             "and not ending with '.' (no '/', no '..', no leading dot, no spaces or control "
             "characters)")
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")


class BadName(ValueError):
    """A name that cannot safely become a file or folder name; the message names the rule."""


def name_problem(value: object, max_len: int = NAME_MAX) -> str | None:
    """Why `value` breaks the rule, or None when it is a valid name."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "is empty"
    if len(value) > max_len:
        return f"is {len(value)} characters long, over the limit of {max_len}"
    if _NAME.fullmatch(value) is None:
        return "breaks the rule: " + NAME_RULE.format(max=max_len)
    return None


def check_name(value: object, what: str, max_len: int = NAME_MAX) -> str:
    """`value` if it is a valid name, else BadName saying which `what` it was and why."""
    problem = name_problem(value, max_len)
    if problem is not None:
        raise BadName(f"{what} {value!r} {problem}")
    assert isinstance(value, str)
    return value


def is_name(value: object, max_len: int = NAME_MAX) -> bool:
    return name_problem(value, max_len) is None


def check_key(value: object, what: str = "store key") -> str:
    """A store or artifact key: the same rule, longer."""
    return check_name(value, what, KEY_MAX)
