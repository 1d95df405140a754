"""Open-answer VQA as train-then-evaluate classification over an answer vocabulary.

The vocabulary is the `vocab_size` most frequent training targets, a question's target
being the most common of its human answers in the full normal form (what the official
VQA evaluation does to a prediction, so a target is a prediction in that form). Any
classifier (`fit` + `predict_proba`) trains on a view of the train split whose `label`
is the target's vocabulary index (a question whose target is out of vocabulary is left
out of training); the view replaces one column and copies no images. Every question of
the eval split with answers is scored, out-of-vocabulary ones included: the predicted
answer string goes against its human answers with the official VQA accuracy (`vqa`,
primary), the lenient variant that normalises the human answers too (`vqa_lenient`) and
exact match (see `mmbench.metrics.vqa`), all with bootstrap CIs that resample images
(questions about one image move together). The metrics are computed from the predictions
table, so a rescore of stored predictions reproduces them and adds any that an older
record lacks.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.loader import BatchLoader
from mmbench.metrics import METRICS
from mmbench.metrics.vqa import answer_accuracy, lenient_answer_accuracy, majority_answer, normalize_answer
from mmbench.stats import Estimate, bootstrap_mean
from mmbench.tasks import register_task
from mmbench.tasks.base import TRAINED_CLASSIFIER, EvalContext, Fitted, TaskError, TaskOutput, Training, accepts
from mmbench.tasks.batching import eval_batch_size
from mmbench.tasks.classification import CI_SEED, image_clusters
from mmbench.tasks.views import has_nonempty_list, iter_column, pick_splits_where, with_columns

METRIC_NAMES = ("vqa", "vqa_lenient", "exact_match")


def majority_answers(split: Any) -> Any:
    """Each question's most common normalised answer (null without answers), batch by batch."""
    import pyarrow as pa

    chunks = [pa.array([majority_answer(a) for a in answers], pa.string())
              for answers in iter_column(split, "answers")]
    return pa.chunked_array(chunks, pa.string())


def answer_vocabulary(targets: Any, size: int) -> list[str]:
    """The `size` most frequent targets; ties broken alphabetically so the order is stable."""
    import pyarrow.compute as pc

    counts = pc.value_counts(targets.drop_null())
    pairs = zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    ranked = sorted(pairs, key=lambda vc: (-vc[1], vc[0]))
    return [value for value, _ in ranked[:size]]


def labelled_view(split: Any, vocab: list[str], tag: str) -> Any:
    """The split with `label` = vocabulary index of its target, rows out of vocabulary dropped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = pc.index_in(majority_answers(split), value_set=pa.array(vocab, pa.string()))
    view = with_columns(split, {"label": labels}, tag)
    keep = np.flatnonzero(labels.is_valid().to_numpy(zero_copy_only=False))
    # An all-unknown batch would give the loss nothing to average: drop such rows.
    return view if len(keep) == len(view) else view.select(keep)


@register_task("vqa")
class VQATask:
    name: ClassVar[str] = "vqa"
    primary_metric: ClassVar[str] = "vqa"
    capabilities: ClassVar[tuple[tuple[str, ...], ...]] = (TRAINED_CLASSIFIER,)

    def __init__(self, vocab_size: int = 1000) -> None:
        if vocab_size < 1:
            raise ValueError("vqa: vocab_size must be at least 1")
        self.vocab_size = vocab_size

    def objective(self, model: Any) -> str | None:
        """Classifiers are fitted over the answer vocabulary of the train split."""
        cls = model if isinstance(model, type) else type(model)
        return f"vqa:vocab={self.vocab_size}" if accepts(type(self), cls) else None

    def training(self, objective: str, dataset: Any, info: DatasetInfo) -> Training:
        train, val, _ = pick_splits_where(dataset, has_nonempty_list("answers"))
        assert train is not None
        vocab = answer_vocabulary(majority_answers(train), self.vocab_size)
        if not vocab:
            raise TaskError("vqa: the train split has no answers to build a vocabulary from")
        tag = f"vqa-labels:{self.vocab_size}"
        val_view = labelled_view(val, vocab, tag) if val is not None else None
        return Training(f"vqa:vocab={self.vocab_size}", labelled_view(train, vocab, tag), val_view, vocab)

    def evaluate(self, fitted: Fitted, dataset: Any, info: DatasetInfo, ctx: EvalContext) -> TaskOutput:
        """Answers are strings, so a model fitted on another corpus's vocabulary is scored as is."""
        _, _, eval_name = pick_splits_where(dataset, has_nonempty_list("answers"), need_train=False)
        vocab = fitted.classes
        if not vocab:
            raise TaskError("vqa: the model was not fitted over an answer vocabulary")
        started = time.perf_counter()
        split = dataset[eval_name]
        out = self.predict(fitted.model, split, vocab)
        predicted = time.perf_counter()
        clusters = image_clusters(split)[out["positions"]]
        table = _table(out).append_column("cluster", [clusters.astype(str).tolist()])
        metrics = self.score_table(table)  # from the table, so a rescore agrees
        timings = {"fit_s": fitted.fit_s, "predict_s": predicted - started,
                   "score_s": time.perf_counter() - predicted}
        fit_info = {**fitted.report, "answer_vocabulary": len(vocab)}
        return TaskOutput(eval_name, len(out["ids"]), metrics, table, timings, fit=fit_info)

    @staticmethod
    def metric_inputs(table: Any) -> tuple[np.ndarray, np.ndarray]:
        """(human answers, predicted answers) back from a stored predictions table."""
        answers = np.empty(table.num_rows, dtype=object)
        answers[:] = table.column("answers").to_pylist()
        return answers, np.asarray(table.column("prediction").to_pylist(), dtype=object)

    @classmethod
    def score_table(cls, table: Any, metric_names: tuple[str, ...] = ()) -> dict[str, Estimate]:
        """`vqa`, `vqa_lenient` and `exact_match` from a predictions table, always all three
        (`metric_names` is not a filter), so rescoring a record stored before `vqa_lenient`
        existed adds it beside the official `vqa`."""
        answers, predictions = cls.metric_inputs(table)
        clusters = np.asarray(table.column("cluster").to_pylist()) if "cluster" in table.column_names else None
        estimates = {}
        for name in METRIC_NAMES:
            per_sample = METRICS.get(name).per_sample
            assert per_sample is not None
            estimates[name] = bootstrap_mean(per_sample(answers, predictions), seed=CI_SEED, clusters=clusters)
        return estimates

    def predict(self, model: Any, split: Any, vocab: list[str]) -> dict[str, Any]:
        """Predicted answer and its scores for every question of `split` that has answers."""
        size = getattr(model, "image_size", None) if getattr(model, "uses_images", False) else None
        out: dict[str, list[Any]] = {k: [] for k in ("ids", "prediction", "answers", "vqa", "vqa_lenient",
                                                     "exact_match", "in_vocabulary", "positions")}
        known = set(vocab)
        offset = 0
        rows = eval_batch_size(model)
        batches = BatchLoader(split, batch_size=rows, image_size=size, cache_images=False)
        for batch, answers in zip(batches, iter_column(split, "answers", rows), strict=True):
            probs = np.asarray(model.predict_proba(batch))
            if probs.shape[1] != len(vocab):
                raise TaskError(f"vqa: the model gave {probs.shape[1]} scores for {len(vocab)} answers")
            for i, choice in enumerate(probs.argmax(axis=1)):
                if not answers[i]:
                    continue  # an unanswered question cannot be scored
                prediction = vocab[int(choice)]
                target = majority_answer(answers[i])
                out["ids"].append(batch.ids[i])
                out["prediction"].append(prediction)
                out["answers"].append(answers[i])
                out["vqa"].append(answer_accuracy(prediction, answers[i]))
                out["vqa_lenient"].append(lenient_answer_accuracy(prediction, answers[i]))
                out["exact_match"].append(float(normalize_answer(prediction) == target))
                out["in_vocabulary"].append(target in known)
                out["positions"].append(offset + i)
            offset += len(batch)
        return {**out, "vqa": np.asarray(out["vqa"], dtype=np.float64),
                "vqa_lenient": np.asarray(out["vqa_lenient"], dtype=np.float64),
                "exact_match": np.asarray(out["exact_match"], dtype=np.float64),
                "positions": np.asarray(out["positions"], dtype=np.int64)}


def _table(out: dict[str, Any]) -> Any:
    import pyarrow as pa

    return pa.table({"id": out["ids"], "prediction": out["prediction"], "answers": out["answers"],
                     "vqa_accuracy": out["vqa"], "vqa_lenient_accuracy": out["vqa_lenient"],
                     "exact_match": out["exact_match"],
                     "in_vocabulary": out["in_vocabulary"]})
