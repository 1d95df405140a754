"""Multiple choice (VLMEvalKit MCQ shape: `choices` + `answer_index`) with circular evaluation.

Every question is asked once per rotation of its options (k options, k rotations:
rotation r lists option r first). `accuracy` reads the first rotation, the published
order; `circular_accuracy` (MMBench's CircularEval) counts a question only when every
rotation is answered right, so a model that leans on an option position is exposed.
Both are registry metrics of (answer index, rotation votes): see `metrics/choice.py`.

How a model answers, by capability, first match wins:
1. `score_choices(batch, choices) -> [B, K]`: `batch.texts` holds each question (its
   hint first when there is one), `choices` the options of each row in the order asked;
   cells past a row's options are ignored. For pretrained or hand-made scorers.
2. A classifier (`fit` + `predict_proba`) and a train split with answers: it is trained
   on a view whose text is the rendered prompt (hint, question, `A. option` lines) and
   whose label is the answer index, then reads the prompt of each rotation.
3. A dual encoder (`embed_images` + `embed_texts`): zero-shot, each option scored by the
   cosine between the image and the text "question option" (after `fit_contrastive` on
   the train split when the model has it).
"""

from __future__ import annotations

import dataclasses
import string
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.loader import Batch, BatchLoader
from mmbench.metrics.choice import circular_per_sample, rotation_votes
from mmbench.tasks import register_task
from mmbench.tasks.base import DUAL_ENCODER, TRAINED_CLASSIFIER, EvalContext, Fitted, TaskError, TaskOutput, Training
from mmbench.tasks.batching import eval_batch_size
from mmbench.tasks.classification import image_clusters, score
from mmbench.tasks.views import has_values, iter_records, pick_splits_where, with_columns

METRIC_NAMES = ("accuracy", "circular_accuracy")
ROW_COLUMNS = ("question", "text", "choices", "answer_index")
Scorer = Callable[[Batch, list[str], list[list[str]]], np.ndarray]


def context(row: dict[str, Any]) -> str:
    """The question as a model reads it: the hint (VLMEvalKit's `text`) first."""
    return "\n".join(p for p in (row.get("text"), row.get("question")) if p)


def render(question: str, choices: list[str]) -> str:
    letters = string.ascii_uppercase
    return "\n".join([question, *(f"{letters[i]}. {c}" for i, c in enumerate(choices))])


def rotate(choices: list[str], r: int) -> list[str]:
    shift = r % len(choices)
    return choices[shift:] + choices[:shift]


def _pad(scores: np.ndarray, width: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full((len(scores), width), -np.inf)
    out[:, :min(width, scores.shape[1])] = scores[:, :width]
    return out


def _classifier_scorer(model: Any) -> Scorer:
    def score(batch: Batch, questions: list[str], choices: list[list[str]]) -> np.ndarray:
        prompts = [render(q, c) for q, c in zip(questions, choices, strict=True)]
        probs = model.predict_proba(dataclasses.replace(batch, texts=prompts))
        return _pad(probs, max(len(c) for c in choices))

    return score


def _dual_encoder_scorer(model: Any) -> Scorer:
    from mmbench.tasks.embeddings import normalise

    def score(batch: Batch, questions: list[str], choices: list[list[str]]) -> np.ndarray:
        images = normalise(model.embed_images(batch))
        texts = [f"{q} {c}" for q, cs in zip(questions, choices, strict=True) for c in cs]
        embedded = normalise(model.embed_texts(texts))
        out = np.full((len(choices), max(len(c) for c in choices)), -np.inf)
        start = 0
        for i, cs in enumerate(choices):
            out[i, :len(cs)] = embedded[start:start + len(cs)] @ images[i]
            start += len(cs)
        return out

    return score


def _capability_scorer(model: Any) -> Scorer:
    def score(batch: Batch, questions: list[str], choices: list[list[str]]) -> np.ndarray:
        return _pad(model.score_choices(dataclasses.replace(batch, texts=questions), choices),
                    max(len(c) for c in choices))

    return score


def _num_options(*splits: Any) -> int:
    import pyarrow.compute as pc

    from mmbench.loader import column

    lengths = [pc.max(pc.list_value_length(column(s, "choices"))).as_py() or 0 for s in splits if s is not None]
    return int(max(lengths, default=0))


def prompt_view(split: Any) -> Any:
    """Train/val view: text = rendered prompt (published order), label = answer index."""
    import pyarrow as pa

    from mmbench.loader import column

    labelled = np.flatnonzero(column(split, "answer_index").is_valid().to_numpy(zero_copy_only=False))
    if len(labelled) < len(split):
        split = split.select(labelled)
    prompts = pa.chunked_array([pa.array([render(context(r), r["choices"]) for r in chunk], pa.string())
                                for chunk in iter_records(split, ROW_COLUMNS)], pa.string())
    return with_columns(split, {"text": prompts, "label": column(split, "answer_index")}, "mc-prompt")


def _batches(model: Any, split: Any, dual: bool, rows: int) -> Iterator[Batch]:
    if dual:
        from mmbench.tasks.embeddings import image_batches

        return image_batches(model, split, rows)
    reads_images = getattr(model, "uses_images", hasattr(model, "score_choices"))
    size = int(getattr(model, "image_size", 32)) if reads_images else None
    return iter(BatchLoader(split, batch_size=rows, image_size=size, cache_images=False))


def circular_predictions(scorer: Scorer, batches: Iterator[Batch], split: Any, rows_per_batch: int) -> dict[str, Any]:
    """Ask every labelled question in every rotation; picks [N, max options] hold the
    option (published index) chosen in each rotation, -1 past a question's options."""
    ids, answers, picks, positions = [], [], [], []
    width = _num_options(split)
    offset = 0
    for batch, rows in zip(batches, iter_records(split, ROW_COLUMNS, rows_per_batch), strict=True):
        keep = [i for i, r in enumerate(rows) if r["answer_index"] is not None and r["choices"]]
        questions = [context(r) for r in rows]
        choices = [r["choices"] or [""] for r in rows]
        picked = np.full((len(rows), width), -1, dtype=np.int64)
        for r in range(max(len(c) for c in choices)):
            scores = scorer(batch, questions, [rotate(c, r) for c in choices])
            for i in keep:
                k = len(choices[i])
                if r < k:  # position p of rotation r holds option (p + r) mod k
                    picked[i, r] = (int(np.argmax(scores[i, :k])) + r) % k
        ids += [batch.ids[i] for i in keep]
        answers += [rows[i]["answer_index"] for i in keep]
        picks.append(picked[keep])
        positions += [offset + i for i in keep]
        offset += len(rows)
    return {"ids": ids, "answers": np.asarray(answers, dtype=np.int64),
            "picks": np.concatenate(picks) if picks else np.zeros((0, width), dtype=np.int64),
            "positions": np.asarray(positions, dtype=np.int64)}


@register_task("multiple-choice")
class MultipleChoiceTask:
    name: ClassVar[str] = "multiple-choice"
    primary_metric: ClassVar[str] = "circular_accuracy"
    capabilities: ClassVar[tuple[tuple[str, ...], ...]] = (("score_choices",), TRAINED_CLASSIFIER, DUAL_ENCODER)

    def objective(self, model: Any) -> str | None:
        """A scorer of its own needs no fit; a classifier is fitted on the rendered prompts;
        a dual encoder shares the contrastive fit of the embedding tasks."""
        if callable(getattr(model, "score_choices", None)):
            return None
        if callable(getattr(model, "fit", None)) and callable(getattr(model, "predict_proba", None)):
            return self.name
        from mmbench.tasks.embeddings import contrastive_objective

        return contrastive_objective(model)

    def training(self, objective: str, dataset: Any, info: DatasetInfo) -> Training:
        if objective == "contrastive":
            from mmbench.tasks.embeddings import contrastive_training

            return contrastive_training(dataset)
        train, val, eval_name = pick_splits_where(dataset, has_values("answer_index"), need_train=False)
        if train is None:
            raise TaskError("multiple-choice: a trainable classifier needs a train split with answers")
        # One output per option position, enough for every question of the corpus.
        options = _num_options(train, val, dataset[eval_name])
        return Training(self.name, prompt_view(train), prompt_view(val) if val is not None else None,
                        [str(i) for i in range(options)])

    def _scorer(self, fitted: Fitted) -> tuple[Scorer, bool]:
        """(scorer, uses dual-encoder batches) by the model's capabilities and its fit."""
        model = fitted.model
        if callable(getattr(model, "score_choices", None)):
            return _capability_scorer(model), False
        if fitted.objective == self.name:
            return _classifier_scorer(model), False
        if callable(getattr(model, "embed_images", None)) and callable(getattr(model, "embed_texts", None)):
            return _dual_encoder_scorer(model), True
        raise TaskError(f"multiple-choice: {type(model).__name__} has neither score_choices, "
                        "fit + predict_proba, nor embed_images + embed_texts")

    def evaluate(self, fitted: Fitted, dataset: Any, info: DatasetInfo, ctx: EvalContext) -> TaskOutput:
        _, _, eval_name = pick_splits_where(dataset, has_values("answer_index"), need_train=False)
        split = dataset[eval_name]
        if fitted.objective == self.name and _num_options(split) > len(fitted.classes):
            raise TaskError(f"multiple-choice: questions with {_num_options(split)} options, but the "
                            f"model was fitted for at most {len(fitted.classes)}")
        started = time.perf_counter()
        scorer, dual = self._scorer(fitted)
        rows = eval_batch_size(fitted.model)
        out = circular_predictions(scorer, _batches(fitted.model, split, dual, rows), split, rows)
        predicted = time.perf_counter()
        votes = rotation_votes(out["picks"], out["picks"].shape[1])
        clusters = image_clusters(split)[out["positions"]]
        metrics = score(out["answers"], votes, METRIC_NAMES, clusters)
        timings = {"fit_s": fitted.fit_s, "predict_s": predicted - started,
                   "score_s": time.perf_counter() - predicted}
        table = _table(out, votes).append_column("cluster", [clusters.astype(str).tolist()])
        return TaskOutput(eval_name, len(out["ids"]), metrics, table, timings, fit=fitted.report)

    @staticmethod
    def metric_inputs(table: Any) -> tuple[np.ndarray, np.ndarray]:
        """(answer indices, rotation votes) back from a stored predictions table."""
        votes = np.asarray(table.column("votes").to_pylist(), dtype=np.float64)
        return np.asarray(table.column("answer_index").to_numpy(), dtype=np.int64), votes


def _table(out: dict[str, Any], votes: np.ndarray) -> Any:
    import pyarrow as pa

    picks, answers = out["picks"], out["answers"]
    rotations = [[int(p) == int(a) for p in row if p >= 0] for row, a in zip(picks, answers, strict=True)]
    return pa.table({"id": out["ids"], "answer_index": answers, "prediction": picks[:, 0],
                     "rotations_correct": rotations,
                     "circular_correct": circular_per_sample(answers, votes).astype(bool),
                     "votes": [row.tolist() for row in votes]})
