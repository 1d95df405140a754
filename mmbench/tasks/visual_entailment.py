"""Visual entailment (SNLI-VE): does the image entail, leave open or contradict a sentence?

Three-way classification where the model sees the image and the hypothesis only. An
SNLI-VE record keeps the premise caption in `text`, which the loader would otherwise
read first; every split is given to the model as a view whose `text` column is the
hypothesis column (zero-copy, see views.py), so the premise never reaches it. Metrics:
accuracy, macro-F1, balanced accuracy and the accuracy within each class
(`accuracy_<class>`), all with bootstrap CIs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mmbench.metrics.classification import correct
from mmbench.stats import Estimate, bootstrap_mean
from mmbench.tasks import register_task
from mmbench.tasks.base import TaskError
from mmbench.tasks.classification import CI_SEED, ClassificationTask
from mmbench.tasks.views import with_columns


@register_task("visual-entailment")
class VisualEntailmentTask(ClassificationTask):
    name: ClassVar[str] = "visual-entailment"

    def metric_names(self, num_classes: int) -> tuple[str, ...]:
        return ("accuracy", "macro_f1", "balanced_accuracy")

    def view(self, split: Any) -> Any:
        from mmbench.loader import column

        if "hypothesis" not in split.column_names or column(split, "hypothesis").null_count == len(split):
            raise TaskError("visual-entailment needs a hypothesis in every record")
        return with_columns(split, {"text": column(split, "hypothesis")}, "hypothesis-as-text")

    def extra_metrics(self, labels: np.ndarray, probs: np.ndarray, clusters: np.ndarray,
                      class_names: list[str]) -> dict[str, Estimate]:
        hits = correct(labels, probs)
        return {f"accuracy_{name}": bootstrap_mean(hits[labels == c], seed=CI_SEED, clusters=clusters[labels == c])
                for c, name in enumerate(class_names)}
