"""Zero-shot classification: each image goes to the class whose prompt embedding is nearest.

Class prompts come from the dataset's class names and a template set (`mmbench.prompts`):
the one the suite names (`templates:` on the task), else the templates the corpus ships
(a WebDataset corpus's `zeroshot_classification_templates.txt`, as CLIP_benchmark reads
it), else the default set;
the class embedding is the prompt ensemble, the re-normalised mean of the normalised
embeddings of the class's prompts. Labels are used only to score. Template sensitivity:
the accuracy under each template alone, summarised as mean, std, min and max.
A model that trains under the harness is fitted contrastively on the train split's
image-text pairs (never its labels), one fit shared with the other embedding tasks.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.metrics import METRICS
from mmbench.prompts import prompts, templates
from mmbench.stats import Estimate, bootstrap_metric
from mmbench.tasks import register_task
from mmbench.tasks.base import DUAL_ENCODER, EvalContext, Fitted, TaskError, TaskOutput, Training
from mmbench.tasks.classification import score
from mmbench.tasks.embeddings import (
    contrastive_objective,
    contrastive_training,
    embed_images,
    embed_texts,
    labels_of,
    normalise,
    require,
)
from mmbench.tasks.views import has_values, pick_splits_where

CI_SEED = 0
TEMPLATE_METRICS = ("template_acc_mean", "template_acc_std", "template_acc_min", "template_acc_max")


def class_embeddings(model: Any, class_names: list[str], chosen: tuple[str, ...]) -> np.ndarray:
    """[C, T, D] normalised embeddings of every class x template prompt."""
    texts = [p for name in class_names for p in prompts(name, chosen)]
    emb = embed_texts(model, texts)
    return emb.reshape(len(class_names), len(chosen), -1)


def template_metrics(labels: np.ndarray, template_preds: np.ndarray) -> dict[str, Estimate]:
    out = {}
    for name in TEMPLATE_METRICS:
        metric = METRICS.get(name)
        out[name] = bootstrap_metric(metric.fn, labels, template_preds, seed=CI_SEED,
                                     resampled=metric.resampled)
    return out


@register_task("zero-shot")
class ZeroShotTask:
    name: ClassVar[str] = "zero-shot"
    primary_metric: ClassVar[str] = "accuracy"
    capabilities: ClassVar[tuple[tuple[str, ...], ...]] = (DUAL_ENCODER,)
    option_names: ClassVar[tuple[str, ...]] = ("templates",)

    def __init__(self, templates: str | list[str] | None = None) -> None:
        if templates is not None:  # a bad template set is refused when the suite is read
            from mmbench.prompts import templates as check_templates  # the argument hides the name

            check_templates(templates)
        self.templates = templates

    @staticmethod
    def score_table(table: Any, metric_names: tuple[str, ...] = ()) -> dict[str, Estimate]:
        """Every metric from a predictions table: accuracy and macro-F1 from the ensemble's
        class scores, the template spread from the per-template predictions."""
        labels = np.asarray(table.column("label").to_numpy(), dtype=np.int64)
        scores = np.asarray(table.column("scores").to_pylist(), dtype=np.float64).reshape(len(labels), -1)
        template_preds = np.asarray(table.column("template_predictions").to_pylist(),
                                    dtype=np.int64).reshape(len(labels), -1)
        metrics = score(labels, scores, ("accuracy", "macro_f1"))
        metrics.update(template_metrics(labels, template_preds))
        return {k: v for k, v in metrics.items() if not metric_names or k in metric_names}

    def objective(self, model: Any) -> str | None:
        return contrastive_objective(model)

    def training(self, objective: str, dataset: Any, info: DatasetInfo) -> Training:
        return contrastive_training(dataset)

    def evaluate(self, fitted: Fitted, dataset: Any, info: DatasetInfo, ctx: EvalContext) -> TaskOutput:
        """The class prompts come from the evaluation corpus's class names, so a model fitted
        on another corpus is scored the same way."""
        model = fitted.model
        require(model, self.name, "embed_images", "embed_texts")
        class_names = info.class_names
        if not class_names:
            raise TaskError("zero-shot needs class names in the dataset info")
        source = "suite" if self.templates is not None else "corpus" if info.prompt_templates else "default"
        chosen = templates(self.templates if self.templates is not None else info.prompt_templates)
        _, _, eval_name = pick_splits_where(dataset, has_values("label"), need_train=False)
        started = time.perf_counter()
        split = dataset[eval_name]
        labels = labels_of(split)
        ids, image_emb = embed_images(model, split, ctx.cache)
        keep = labels >= 0  # unlabelled rows cannot be scored
        ids = [i for i, k in zip(ids, keep, strict=True) if k]
        labels, image_emb = labels[keep], image_emb[keep]
        per_prompt = class_embeddings(model, class_names, chosen)
        ensemble = normalise(per_prompt.mean(axis=1))
        scores = image_emb @ ensemble.T
        # [N, T]: the class each image gets when only template t builds the class prompts.
        template_preds = np.einsum("nd,ctd->ntc", image_emb, per_prompt).argmax(axis=2)
        embedded = time.perf_counter()
        table = _predictions(ids, labels, scores, template_preds)
        metrics = self.score_table(table)  # from the table, so a rescore agrees
        timings = {"fit_s": fitted.fit_s, "predict_s": embedded - started,
                   "score_s": time.perf_counter() - embedded}
        return TaskOutput(eval_name, len(labels), metrics, table, timings,
                          fit={**fitted.report, "templates": list(chosen), "templates_from": source})


def _predictions(ids: list[str], labels: np.ndarray, scores: np.ndarray, template_preds: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table({"id": ids, "label": labels.astype(np.int64),
                     "prediction": scores.argmax(axis=1).astype(np.int64),
                     "scores": [row.tolist() for row in scores.astype(np.float64)],
                     "template_predictions": [row.tolist() for row in template_preds.astype(np.int64)]})
