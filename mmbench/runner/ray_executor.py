"""Run the plan's units on a Ray cluster (`mmbench run --executor ray [--address ADDR]`).

Each unit becomes two Ray tasks: its fit step, which stores the fitted model as an
artifact in the result store, and its evaluate steps, a task that depends on the fit
task (Ray starts it once the fit finished) and loads the artifact from the store; the
fitted model never travels through the driver. A model that cannot be stored is fitted
and evaluated in the fit task. The driver stays the only writer of records, exactly as
with the local executors, so a Ray run writes the same records as a local one.

Faults: a task that raises, or whose worker process dies, is run again up to `retries`
times by Ray; after that the unit comes back as a UnitFailure and the driver records it.
A driver killed mid-run loses only its unfinished steps: started again it skips every
step whose record is in the store.

Resources: a task asks for the torch threads of its unit as CPUs and, on a CUDA device,
one GPU; a model class may ask for more or other ones with `ray_resources` (e.g.
`{"num_cpus": 2, "memory": 2 << 30, "resources": {"big_node": 1}}`).

Datasets and the store must be at the same paths on every node (a shared file system)
or on object storage (`s3://` URLs, see `mmbench.runner.remote_store`): the tasks read
datasets from MMBENCH_HOME and write artifacts into the store there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from mmbench.runner import steps
from mmbench.runner.executors import Outcome
from mmbench.runner.steps import FitDone, Unit, UnitFailure, UnitResult

# Passed to every task, so a worker reads the same datasets (MMBENCH_HOME and the other
# MMBENCH_ settings) and takes the same numeric paths (portable mode) as the driver.
FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "ATEN_CPU_CAPABILITY", "MKL_CBWR",
                 "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def forwarded_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in FORWARDED_ENV or k.startswith("MMBENCH_")}


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("the Ray executor needs Ray: pip install 'mmbench[ray]'") from None
    return ray


@dataclass(frozen=True)
class InputError:
    """An input error raised in a task, returned rather than raised so that Ray does not
    retry it (it would fail alike every time); the driver raises it."""

    error: BaseException


T = TypeVar("T")


def _in_worker(work: Callable[[Unit], T], unit: Unit, model_files: list[str]) -> T | InputError:
    """`work(unit)` in a worker, with the driver's model files registered; an input error
    comes back as a value (Ray would retry a raised one)."""
    try:
        _register(model_files)
        return work(unit)
    except Exception as err:
        if steps.is_input_error(err):
            return InputError(err)
        raise


def _fit_task(unit: Unit, model_files: list[str]) -> FitDone | UnitResult | InputError:
    return _in_worker(steps.fit_then, unit, model_files)


def _evaluate_task(unit: Unit, fit: FitDone | UnitResult | InputError | None,
                   model_files: list[str]) -> UnitResult | InputError:
    """The unit's evaluations, once its fit task finished (Ray resolves `fit` first)."""
    import ray

    if isinstance(fit, UnitResult | InputError):
        return fit  # the model could not be stored and the fit task evaluated it, or it failed
    # The fitted model comes from its artifact in the store.
    result = _in_worker(steps.run_unit, unit, model_files)
    if isinstance(result, InputError):
        return result
    if fit is not None:  # say how the model was obtained, not that this task loaded it
        result.fit, result.fit_s, result.stored = fit.how, fit.fit_s, fit.stored
    node = ray.get_runtime_context().get_node_id()
    for item in result.results:
        item.record.env["ray_node"] = node
    return result


def _register(model_files: list[str]) -> None:
    """Models registered by file in the driver are registered in the worker too (loading a
    file twice reuses its module and its registration)."""
    from mmbench.model_files import load_model_file

    for spec in model_files:
        load_model_file(spec)


def requests(unit: Unit) -> dict[str, Any]:
    """What one task of `unit` asks the cluster for: its threads as CPUs, a GPU on CUDA,
    and what its model class declares in `ray_resources`."""
    from mmbench.models import MODELS

    spec = unit.fit.model if unit.fit is not None else unit.evals[0][1].model
    declared = getattr(MODELS.get(spec.name), "ray_resources", None) if spec.name in MODELS else None
    out: dict[str, Any] = {"num_cpus": unit.threads, "num_gpus": 1 if unit.device.startswith("cuda") else 0}
    out.update(dict(declared or {}))
    return out


class RayExecutor:
    """Units as Ray tasks on the cluster at `address` (None: start a local one)."""

    def __init__(self, address: str | None = None, retries: int = 0, model_files: list[str] | None = None,
                 *, init: dict[str, Any] | None = None) -> None:
        ray = _ray()
        self.retries, self.model_files = retries, list(model_files or [])
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init or {}))
            except ConnectionError as err:
                raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {err}") from None
        self.fit_task = ray.remote(_fit_task)
        self.evaluate_task = ray.remote(_evaluate_task)

    @property
    def slots(self) -> int:
        """Units in flight at once: one per CPU of the cluster."""
        return max(1, int(_ray().cluster_resources().get("CPU", 1)))

    def _submit(self, unit: Unit) -> Any:
        options = {**requests(unit), "max_retries": self.retries, "retry_exceptions": True,
                   "runtime_env": {"env_vars": forwarded_env()}}  # read now: a test may change them
        fit = self.fit_task.options(**options).remote(unit, self.model_files) if unit.fit is not None else None
        return self.evaluate_task.options(**options).remote(unit, fit, self.model_files)

    def run(self, units: Iterable[Unit]) -> Iterator[Outcome]:
        ray = _ray()
        pending = iter(units)
        running: dict[Any, Unit] = {}
        while True:
            while len(running) < self.slots:
                unit = next(pending, None)
                if unit is None:
                    break
                running[self._submit(unit)] = unit
            if not running:
                return
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                unit = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as err:  # noqa: BLE001 (a task error or a lost worker: the unit failed)
                    cause = getattr(err, "cause", None) or err
                    yield UnitFailure(unit, f"{type(cause).__name__}: {cause}", str(err), self.retries + 1)
                    continue
                if isinstance(outcome, InputError):
                    raise outcome.error  # as the local executors do: the input must change
                yield outcome
