"""What killed processes leave behind, found and removed: a store's temporary record and
predictions files and its stale claims, and a dataset home's `.NAME.building-PID`
staging folders. Only leftovers of dead processes count (see `mmbench.runner.owners`); every
delete is guarded to stay inside the store or home.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from mmbench.paths import remove_file, remove_tree
from mmbench.runner import claims, owners
from mmbench.runner.store import TEMP_NAME

# Temporary names written before they carried a pid (`.KEY.json.XXXXXXXX`, `.KEY.parquet.tmp`):
# their writer is unknown, so they count as stale once older than any write takes.
_OLD_TEMP = re.compile(r"\.(?:.+\.json\.[A-Za-z0-9_]{8}|.+\.parquet\.tmp)")
OLD_TEMP_AGE_S = 3600.0


@dataclass(frozen=True)
class Leftover:
    path: Path
    what: str  # "temporary file", "claim", "staging folder"
    why: str


def _stale_temp(path: Path) -> str | None:
    match = TEMP_NAME.fullmatch(path.name)
    if match is not None:
        pid = int(match["pid"])
        return None if owners.owner_alive(path, pid) else f"its writer (pid {pid}) is gone"
    if _OLD_TEMP.fullmatch(path.name):
        try:
            age = time.time() - path.lstat().st_mtime
        except FileNotFoundError:
            return None
        return f"unfinished write, {age / 3600:.1f} h old" if age > OLD_TEMP_AGE_S else None
    return None


def store_leftovers(root: Path) -> list[Leftover]:
    """Temporary files of dead writers and claims no process holds, in the store at `root`."""
    found = []
    for folder in ("records", "predictions"):
        if (root / folder).is_dir():
            for path in sorted((root / folder).glob(".*")):
                why = _stale_temp(path)
                if why is not None:
                    found.append(Leftover(path, "temporary file", why))
    if (root / claims.CLAIMS).is_dir():
        for path in sorted((root / claims.CLAIMS).glob(f"*{claims.SUFFIX}")):
            if not claims.held(path):
                found.append(Leftover(path, "claim", f"no process holds it ({claims.owner(path)})"))
    return found


def sweep_store(root: Path) -> list[Leftover]:
    """Remove the store's leftovers of dead processes; return what was removed."""
    removed = []
    for left in store_leftovers(root):
        if left.what == "claim":
            _remove_claim(left.path, root)
        else:
            remove_file(left.path, root, left.what)
        removed.append(left)
    return removed


def _remove_claim(path: Path, root: Path) -> None:
    # Taking it first: a process may have claimed the job since it was found unheld;
    # releasing a claim removes its file.
    with claims.hold(path, root, wait=False):
        pass


def staging_leftovers(home: Path, verb: str = "building") -> list[Leftover]:
    """`.NAME.<verb>-PID` folders under `home` whose process is gone (`building`: dataset
    builds in the dataset home; `rescoring`: rescore outputs beside their final place)."""
    if not home.is_dir():
        return []
    pattern = re.compile(rf"\.(?P<name>.+)\.{verb}-(?P<pid>\d+)")
    found = []
    for path in sorted(home.glob(f".*.{verb}-*")):
        match = pattern.fullmatch(path.name)
        if match is not None and not owners.owner_alive(path, int(match["pid"])):
            found.append(Leftover(path, "staging folder", f"its process (pid {match['pid']}) is gone"))
    return found


def sweep_staging(home: Path, verb: str = "building") -> list[Leftover]:
    """Remove the staging folders of dead processes under `home` (see `staging_leftovers`)."""
    found = staging_leftovers(home, verb)
    for left in found:
        remove_tree(left.path, home, left.what)
    return found
