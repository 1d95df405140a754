"""pyarrow as a run's processes use it: no pandas, and the system allocator.

The first time pyarrow is handed a Python object (`pa.array(list)`, `pa.table(dict)`, even
`fill_null(0)`), it imports pandas to ask whether the object is a pandas one: 0.44 s and
47 MB on top of torch here (`python -c "import torch, pyarrow as pa; pa.array([1])"`
against the same without the call), a tenth of a small evaluation's memory. mmbench never
hands pyarrow a pandas object, so a unit asks that question once while pandas cannot be
imported; pyarrow then answers "no pandas" without importing it. Anything that needs
pandas from pyarrow later (`to_pandas`, `from_pandas`) still imports it then: pyarrow
retries the import where pandas is required.

pyarrow's default allocator, mimalloc, keeps the pages it frees in arenas of its own: 8-13 MB
more at a small evaluation's peak than the C library's allocator (process-tree PSS, tiny CLIP
retrieval, 5 interleaved runs each, `ARROW_DEFAULT_MEMORY_POOL=system` against the default).
A run allocates little through Arrow (its shards are memory-mapped): a shuffled pass over
OpenMoji's train split at 32 px took 0.95 and 1.04 s with the system allocator against 0.94 and
0.95 s with mimalloc (best of 3, twice).
"""

from __future__ import annotations

import os
import sys
from typing import Any


class _NoPandas:
    """A meta path finder under which `import pandas` fails."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not imported in a run's processes", name=name)


def for_a_run() -> None:
    """Set pyarrow up for this process's run (idempotent)."""
    import pyarrow as pa

    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:  # a user's choice stands
        pa.set_memory_pool(pa.system_memory_pool())
    skip_pandas_lookup()


def skip_pandas_lookup() -> None:
    """Settle pyarrow's pandas check without importing pandas (nothing when pandas is
    already imported: then the check costs nothing)."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])  # pyarrow's one attempt at the import; it remembers the answer
    finally:
        sys.meta_path.remove(blocker)
