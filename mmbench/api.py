"""The library functions the CLI wraps: ingest, run, leaderboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmbench.data import IngestReport
from mmbench.runner.store import RunRecord


class IngestRejected(RuntimeError):
    """`strict` ingest saw at least one rejected row."""


def ingest(adapter: str, root: str | Path | None = None, *, name: str | None = None,
           strict: bool = False, home: Path | None = None, max_pixels: int | None = None,
           full_decode: bool = False, workers: int = 1, allow_symlinks_out: bool = False,
           **options: Any) -> IngestReport:
    """Build dataset `name` (default: the adapter's name) from a corpus at `root`.

    `workers` > 1 checks images and writes shards in that many forked processes. A file
    whose path leads outside `root` (through a symlink, or an absolute path) is never
    opened unless `allow_symlinks_out`.
    """
    from mmbench import data
    from mmbench.adapters import ADAPTERS
    from mmbench.images import DEFAULT_MAX_PIXELS

    adapter_obj = ADAPTERS.get(adapter)(**options)
    report = data.build(adapter_obj, root, name=name, home=home,
                        max_pixels=max_pixels or DEFAULT_MAX_PIXELS, full_decode=full_decode,
                        workers=workers, allow_symlinks_out=allow_symlinks_out)
    if strict and report.rejected:
        raise IngestRejected(f"{report.rejected} row(s) rejected (strict mode); see "
                             f"{Path(report.path) / 'rejections.jsonl'}")
    return report


def run(suite: str = "default", *, models: list[str] | str | None = None,
        datasets: list[str] | str | None = None, seeds: int | None = None, limit: int | None = None,
        store: str | Path | None = None, progress: bool = False,
        log: Callable[[str], None] | None = None,
        model_files: list[str] | None = None, workers: int = 1, threads: int | None = None,
        device: str = "cpu", portable: bool = False, executor: str = "local", address: str | None = None,
        retries: int = 0, eval_batch_size: int | None = None, precision: str = "fp32",
        leaderboard_next: bool = True) -> list[RunRecord]:
    """Run a suite (by name or YAML path); returns the RunRecords of every evaluate step.

    `precision` ("fp32", "bf16", "fp16") is what torch models compute in (`mmbench.precision`;
    autocast, not part of any key: records say which ran).
    `threads` is torch threads per job; None gives each job its share of the cores this
    process may use (one per job with `portable`; see `mmbench.runner.threads`).
    `model_files` ("path.py:ClassName") are registered and run on the suite's datasets.
    `device` ("cpu", "cuda", "cuda:N" or "auto") is where every torch model runs.
    `portable` pins the numeric paths (`mmbench.numerics`) so that the records are
    bit-identical on any x86-64 CPU; it must be chosen before torch is imported.
    `executor` "ray" runs the steps as Ray tasks on the cluster at `address` (None: a
    local one), `workers` then being unused; a failing unit is tried `retries` more times,
    and steps that still fail raise `StepsFailed` at the end (the others are recorded).
    `leaderboard_next` (a leaderboard is written after the run) hashes the datasets' images
    for its health section while the steps run; False skips that work.
    """
    if portable:
        from mmbench.numerics import use_portable

        use_portable()
    from mmbench.devices import resolve_device
    from mmbench.home import default_store
    from mmbench.model_files import load_model_file
    from mmbench.precision import check_precision
    from mmbench.runner import driver
    from mmbench.runner.plan import plan, positive_int
    from mmbench.runner.remote_store import open_store
    from mmbench.runner.suite import load_suite

    positive_int(workers, "workers")
    if threads is not None:
        positive_int(threads, "threads")
    where = resolve_device(device)
    computed_in = check_precision(precision)
    result_store = open_store(store or default_store())  # a bad store fails before any work
    if model_files:
        models = [*([models] if isinstance(models, str) else models or []),
                  *(load_model_file(spec) for spec in model_files)]

    loaded = load_suite(suite)
    if eval_batch_size is not None:
        positive_int(eval_batch_size, "eval_batch_size")
    steps = plan(loaded, models=models, datasets=datasets, seeds=seeds, limit=limit)
    return driver.run(steps, result_store, progress=progress, log=log, workers=workers,
                      threads=threads, device=where, retries=retries,
                      eval_batch=eval_batch_size or loaded.eval_batch_size, precision=computed_in,
                      prepare_health=leaderboard_next,
                      executor=_executor(executor, address, retries, model_files or []))


def _executor(kind: str, address: str | None, retries: int, model_files: list[str]) -> Any:
    """None for the local executors (the driver picks one by worker count), else Ray's."""
    from mmbench.runner.executors import ExecutorError

    if retries < 0:
        raise ExecutorError(f"retries must be 0 or more, got {retries}")
    if kind == "local":
        if address is not None:
            raise ExecutorError("an address (--address) is for the Ray executor: add --executor ray")
        return None
    if kind == "ray":
        from mmbench.runner.ray_executor import RayExecutor

        return RayExecutor(address, retries, model_files)
    raise ExecutorError(f"unknown executor {kind!r}; expected 'local' or 'ray'")


def write_leaderboard(store: str | Path | None = None, out: str | Path = "leaderboard",
                      run_options: dict[str, Any] | None = None) -> list[Path]:
    """Write README.md, leaderboard.csv and the static site (index.html and its pages, see
    `mmbench.report.site`) for every record in the store, and with `run_options` (the suite
    and options of the run that filled it) suite.json, which `mmbench verify` reads."""
    from mmbench.home import default_store
    from mmbench.report import leaderboard as board  # the module, not this function
    from mmbench.report.compare import store_reader
    from mmbench.report.history import history, runs
    from mmbench.report.leak_free import leaked_ids
    from mmbench.report.site.write import dataset_card, write_site
    from mmbench.runner.remote_store import open_store

    result_store = open_store(store or default_store())
    records = result_store.records()
    if not records:
        raise FileNotFoundError(f"no run records in {store or default_store()}; run `mmbench run` first")
    read = store_reader(result_store)
    built = board.build(records, read, leaked_ids(records))
    written = board.write_board(built, Path(out))
    written += write_site(built, Path(out), runs(records), history(records, read), dataset_card)
    if run_options is not None:
        from mmbench.report.verify import write_run_options

        written.append(write_run_options(Path(out), run_options))
    return written


def verify(folder: str | Path = "leaderboard", *, store: str | Path | None = None, workers: int = 1,
           log: Callable[[str], None] | None = None) -> Any:
    """Run the suite behind a leaderboard again here and report the cells that differ."""
    from mmbench.report.verify import verify as verify_board

    return verify_board(folder, store=store, workers=workers, log=log)


def rescore(store: str | Path | None = None, out: str | Path | None = None) -> Any:
    """Recompute every record's metrics from its stored predictions into a new store."""
    from mmbench.home import default_store
    from mmbench.report.rescore import rescore as rescore_store

    return rescore_store(store or default_store(), out)


def compare(a: str | Path, b: str | Path, *, force: bool = False) -> Any:
    """Compare two result stores, run record files or suites (see `mmbench.report.compare`)."""
    from mmbench.report.compare import compare as compare_sources

    return compare_sources(a, b, force=force)
