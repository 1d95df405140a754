"""`mmbench` command line: each command parses, calls one library function, prints.

Nothing heavy is imported at start-up, so `mmbench --help` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmbench.precision import PRECISIONS  # a tuple of names: precision.py imports nothing heavy

LIST_KINDS = ("datasets", "models", "tasks", "suites", "adapters", "metrics")

# Errors that mean "your input is wrong", shown as one line (exit 2) instead of a traceback;
# by class name, so that the CLI imports none of the modules that define them.
USER_ERRORS = (
    "RegistryError", "SuiteError", "ModelFileError", "DatasetNotFound", "AdapterError",
    "TaskError", "IngestRejected", "FileNotFoundError", "RecordExists", "CompareError",
    "FingerprintMismatch", "PredictionsError", "WorkerDied", "BadName", "OutsideHome",
    "ModelConfigError", "StoreNotAFolder", "DeviceError", "ArtifactError", "NumericsError",
    "DamagedRecord", "DamagedPredictions", "OutExists", "VerifyError", "RayUnavailable",
    "ExecutorError", "SiteFolderTaken", "ObjectStoreError", "RemoteDatasetError", "ClaimLost",
    # botocore's, for object storage: their messages name the endpoint or the setting
    "NoCredentialsError", "EndpointConnectionError",
)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def positive_int(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    return _at_least(value, 1)


def count(value: str) -> int:
    """An argparse type: an integer of at least 0."""
    return _at_least(value, 0)


def _at_least(value: str, least: int) -> int:
    kind = "positive" if least else "non-negative"
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {value!r}") from None
    if number < least:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer ({least} or more), got {number}")
    return number


def _log(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)  # keeps the progress bar intact


def cmd_run(args: argparse.Namespace) -> int:
    if args.portable:  # before anything imports torch
        from mmbench.numerics import use_portable

        use_portable()
    from mmbench.api import run
    from mmbench.runner.driver import StepsFailed

    status = 0
    try:
        records = run(args.suite, models=_csv(args.models), datasets=_csv(args.datasets),
                      seeds=args.seeds, limit=args.limit, store=args.store,
                      progress=not args.quiet, log=None if args.quiet else _log,
                      model_files=args.model_file, workers=args.jobs, threads=args.threads,
                      device=args.device, portable=args.portable, executor=args.executor,
                      address=args.address, retries=args.retries, eval_batch_size=args.eval_batch_size,
                      precision=args.precision,
                      leaderboard_next=not args.no_leaderboard and bool(args.leaderboard_dir))
    except StepsFailed as failed:  # the others are in the store: report them, then fail
        print(f"mmbench: error: {failed}", file=sys.stderr)
        records, status = failed.records, 1
    print(f"{len(records)} run record(s) in the store for this selection")
    if not args.no_leaderboard and args.leaderboard_dir:
        from mmbench.api import write_leaderboard

        options = {"suite": args.suite, "models": _csv(args.models), "datasets": _csv(args.datasets),
                   "seeds": args.seeds, "limit": args.limit, "threads": args.threads,
                   "device": args.device, "portable": args.portable, "precision": args.precision}
        if records:
            _written(write_leaderboard(args.store, args.leaderboard_dir, run_options=options))
    return status


def _written(paths: list[Path]) -> None:
    """The files written, the site's pages counted rather than listed."""
    pages = [p for p in paths if p.suffix in (".html", ".css", ".js")]
    for path in paths:
        if path not in pages:
            print(f"wrote {path}")
    index = next((p for p in pages if p.name == "index.html" and p.parent == paths[0].parent), None)
    if pages:
        print(f"wrote the site: {len(pages)} files" + (f", open {index}" if index else ""))


def cmd_verify(args: argparse.Namespace) -> int:
    from mmbench.report.verify import run_options

    if run_options(args.folder).get("portable"):  # before anything imports torch
        from mmbench.numerics import use_portable

        use_portable()
    from mmbench.api import verify

    report = verify(args.folder, store=args.store, workers=args.jobs, log=None if args.quiet else _log)
    print(report.summary())
    return 0 if report.ok else 1


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from mmbench.api import write_leaderboard

    _written(write_leaderboard(args.store, args.out))
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from mmbench.api import rescore

    print(rescore(args.store, args.out).summary())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from mmbench.home import default_store
    from mmbench.runner.doctor import doctor

    report = doctor(args.store or default_store(), move=args.quarantine)
    print(report.summary())
    return 1 if report.unresolved else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from mmbench.api import compare
    from mmbench.report.compare import render

    comparison = compare(args.a, args.b, force=args.force)
    print(render(comparison, args.format), end="")
    if args.fail_on_regression is not None:
        worse = comparison.regressions(args.fail_on_regression)
        for row in worse:
            print(f"regression: {row.where} {row.metric} {row.value_a:.3f} -> "
                  f"{row.value_b:.3f} (delta {row.delta:+.3f}, Holm p {row.p_holm:.2g})", file=sys.stderr)
        return 1 if worse else 0
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    if args.kind == "datasets":
        from mmbench import data

        infos = data.list_datasets()
        if not infos:
            print("no datasets ingested yet (see `mmbench ingest --help`)")
        for info in infos:
            size_mb = data.disk_size(info.name) / 1e6
            splits = ", ".join(f"{k}={v}" for k, v in info.splits.items())
            print(f"{info.name:<20} {size_mb:>9.1f} MB  {info.fingerprint[:16]}  {splits}")
        return 0
    if args.kind == "suites":
        from mmbench.runner.suite import list_suites

        names = list_suites()
    else:
        names = _registry(args.kind).names()
    print("\n".join(names))
    return 0


def _registry(kind: str) -> Any:
    if kind == "models":
        from mmbench.models import MODELS

        return MODELS
    if kind == "tasks":
        from mmbench.tasks import TASKS

        return TASKS
    if kind == "metrics":
        from mmbench.metrics import METRICS

        return METRICS
    from mmbench.adapters import ADAPTERS

    return ADAPTERS


def _adapter_parser(adapter_name: str) -> tuple[argparse.ArgumentParser, Any]:
    from mmbench.adapters import ADAPTERS

    adapter_cls = ADAPTERS.get(adapter_name)
    parser = argparse.ArgumentParser(prog=f"mmbench ingest {adapter_name}",
                                     description=adapter_cls.description or adapter_cls.__doc__)
    parser.add_argument("--root", help="corpus folder as its authors distribute it",
                        required=adapter_cls.needs_root)
    parser.add_argument("--name", help="dataset name in the dataset home (default: adapter name)")
    parser.add_argument("--strict", action="store_true", help="exit non-zero if any row is rejected")
    parser.add_argument("--max-pixels", type=positive_int, help="reject larger images (decompression bombs)")
    parser.add_argument("--full-decode", action="store_true", help="decode every image fully")
    parser.add_argument("--allow-symlinks-out", action="store_true",
                        help="read files whose path leads outside --root (through a symlink, "
                             "or an absolute path); by default such a file is never opened")
    parser.add_argument("--workers", type=positive_int, default=min(os.cpu_count() or 1, 8),
                        help="processes that read, check and write images "
                             "(default: the CPU count, at most 8)")
    group = parser.add_argument_group(f"{adapter_name} options")
    for f in dataclasses.fields(adapter_cls):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if f.type in (bool, "bool"):
            group.add_argument(flag, dest=f"opt_{f.name}", type=_bool, default=None,
                               metavar="true|false", help=f"{help_text} (default {f.default})")
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            group.add_argument(flag, dest=f"opt_{f.name}", type=kind, default=None,
                               help=f"{help_text} (default {f.default!r})")
    return parser, adapter_cls


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def cmd_ingest(args: argparse.Namespace) -> int:
    if not args.adapter or args.adapter in ("-h", "--help"):
        from mmbench.adapters import ADAPTERS

        print("usage: mmbench ingest ADAPTER --root PATH [--name NAME] [--strict] [options]\n"
              "adapters: " + ", ".join(ADAPTERS.names()) +
              "\n`mmbench ingest ADAPTER --help` lists an adapter's options.")
        return 0 if args.adapter else 2
    parser, _ = _adapter_parser(args.adapter)
    opts = parser.parse_args(args.rest)
    options = {k[4:]: v for k, v in vars(opts).items() if k.startswith("opt_") and v is not None}
    from mmbench.api import IngestRejected, ingest

    try:
        report = ingest(args.adapter, opts.root, name=opts.name, strict=False,
                        max_pixels=opts.max_pixels, full_decode=opts.full_decode,
                        workers=opts.workers, allow_symlinks_out=opts.allow_symlinks_out,
                        **options)
    except IngestRejected as err:  # pragma: no cover - strict is checked below
        print(err, file=sys.stderr)
        return 1
    print(report.summary())
    if opts.strict and report.rejected:
        print(f"strict: {report.rejected} row(s) rejected", file=sys.stderr)
        return 1
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from mmbench.report.cards import render_card

    print(render_card(args.name, measured=False))
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from mmbench.report.cards import render_card

    text = render_card(args.name, measured=True)
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmbench",
                                     description="Benchmark multimodal (image + text) models.")
    parser.add_argument("--version", action="version", version="mmbench 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a benchmark suite (skips finished jobs)")
    p.add_argument("--suite", default="default", help="suite name in benchmarks/ or a YAML path")
    p.add_argument("--models", help="comma-separated model names (default: the suite's)")
    p.add_argument("--model-file", action="append", metavar="PATH.py:CLASS",
                   help="register a model class from a file and run it (repeatable)")
    p.add_argument("--datasets", help="comma-separated dataset names (default: the suite's)")
    p.add_argument("--seeds", type=positive_int, help="number of seeds 0..N-1 (default: the suite's)")
    p.add_argument("--limit", type=positive_int, help="use only the first N rows of each split")
    p.add_argument("--store", help="result store folder (default: $MMBENCH_HOME/results)")
    p.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                   help="units (one fit and its evaluations) run side by side in worker processes "
                        "(default: CPU count)")
    p.add_argument("--threads", type=positive_int,
                   help="torch threads per job; results are reproducible for a fixed value (default: "
                        "the cores this process may use, shared among the jobs running at once; "
                        "1 with --portable)")
    p.add_argument("--eval-batch-size", type=positive_int, metavar="N",
                   help="rows per forward pass when evaluating (default: the suite's eval_batch_size, "
                        "else the model's hint, else 128); speed and memory, not scores")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N|auto",
                   help="where torch models fit and predict (default cpu; auto: a GPU when one is "
                        "visible); records say which device ran")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="what torch models compute in: fp32 (default), or bf16/fp16 through autocast "
                        "(fit and evaluation; weights stay fp32; records say which ran)")
    p.add_argument("--portable", action="store_true",
                   help="pin the numeric paths (ATen, MKL, oneDNN kernels) so that the records are "
                        "bit-identical on any x86-64 CPU; slower (see the README)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where units run: local worker processes (default) or Ray tasks (mmbench[ray])")
    p.add_argument("--address", help="the Ray cluster to use with --executor ray (default: start a local one)")
    p.add_argument("--retries", type=count, default=0,
                   help="times a failing unit is tried again before its steps are recorded as failed (default 0)")
    p.add_argument("--leaderboard-dir", default="leaderboard", help="write the leaderboard here")
    p.add_argument("--no-leaderboard", action="store_true", help="do not write the leaderboard")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-job lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("verify", help="run the suite behind a leaderboard again here; report cells that differ",
                       description="Reads DIR/suite.json (written by `mmbench run`), runs that suite with the "
                                   "same options into a new store, and compares every cell of DIR/leaderboard.csv. "
                                   "Exit status 0 when every cell is reproduced, 1 otherwise.")
    p.add_argument("folder", nargs="?", default="leaderboard", help="the leaderboard folder (default leaderboard)")
    p.add_argument("--store", help="store for the new run (default: a temporary one, removed after)")
    p.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                   help="units run side by side in worker processes (default: CPU count)")
    p.add_argument("--quiet", action="store_true", help="no per-step lines")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("leaderboard", help="write README.md, leaderboard.csv and the site (index.html) from the store")
    p.add_argument("--store", help="result store folder (default: $MMBENCH_HOME/results)")
    p.add_argument("--out", default="leaderboard", help="output folder")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("rescore", help="recompute metrics from stored predictions into a new store")
    p.add_argument("--store", help="result store folder (default: $MMBENCH_HOME/results)")
    p.add_argument("--out", help="a new (absent or empty) store for the rescored records "
                                      "(default: <store>-rescored-<time>)")
    p.set_defaults(func=cmd_rescore)

    p = sub.add_parser("doctor", help="list a store's damaged or orphaned files; move them aside",
                       description="List the result store's damaged or orphaned files: run records "
                                   "that are not readable, predictions that are not readable Parquet, "
                                   "predictions without a record, temporary files and claims left by "
                                   "killed processes. Exit status: 0 when the store is sound (or "
                                   "everything found was moved aside), 1 when problems remain.")
    p.add_argument("--store", help="result store folder (default: $MMBENCH_HOME/results)")
    p.add_argument("--quarantine", action="store_true",
                   help="move what is found into <store>/quarantine/<time>-<pid>/ (nothing is deleted; "
                        "claims of dead processes are removed); `mmbench run` then reruns those jobs")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("compare", help="compare two result stores, run record files or suites")
    p.add_argument("a", help="baseline: store folder, records/<key>.json file, or suite name")
    p.add_argument("b", help="candidate, same kinds as A")
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.add_argument("--force", action="store_true", help="compare even when dataset fingerprints differ")
    p.add_argument("--fail-on-regression", type=float, metavar="THRESHOLD",
                   help="exit 1 when a metric got significantly worse (Holm p < 0.05) by more than this")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("ls", help="list registered or ingested things")
    p.add_argument("kind", choices=LIST_KINDS)
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("ingest", help="build a dataset from a corpus in its published format",
                       add_help=False)
    p.add_argument("adapter", nargs="?")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("info", help="print an ingested dataset's card")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("card", help="print a dataset card with measured statistics")
    p.add_argument("name")
    p.add_argument("--out", help="write to this file instead of printing")
    p.set_defaults(func=cmd_card)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as err:  # a clear one-line error instead of a traceback for user errors
        if type(err).__name__ in USER_ERRORS:
            print(f"mmbench: error: {err}", file=sys.stderr)
            return 2
        raise


def entry() -> int:
    """The `mmbench` command: `main` in a process that is mmbench's own (see mmbench.heap;
    a test or a script calling `main` keeps its own garbage collector as it is)."""
    from mmbench.heap import own_this_process

    own_this_process()
    return main()


if __name__ == "__main__":
    sys.exit(entry())
