"""Scoring a classifier on a corpus other than the one it was fitted on: the evaluation
corpus's labels are carried into the fitted model's label space by class name.

A class of the evaluation corpus the model never saw is an error naming it, unless the
suite asks for such rows to be scored as wrong (`unseen_classes: wrong`): they get a
label of their own, one column the model never puts any probability on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmbench.tasks.base import TaskError

UNSEEN_CHOICES = ("error", "wrong")
UNSEEN_LABEL = "<unseen>"


def to_fitted_space(labels: np.ndarray, probs: np.ndarray, eval_classes: list[str],
                    fitted_classes: list[str], unseen: str = "error"
                    ) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, Any]]:
    """(labels, probs, class names, notes) with labels as indices of the fitted classes.

    `labels` index `eval_classes` (-1: unlabelled, kept as is); `probs` has a column per
    fitted class. Without fitted classes (a model not fitted by the harness) or with the
    same classes, nothing changes.
    """
    if not fitted_classes or list(fitted_classes) == list(eval_classes):
        return labels, probs, list(eval_classes), {}
    if probs.shape[1] != len(fitted_classes):
        raise TaskError(f"the model gave {probs.shape[1]} scores for {len(fitted_classes)} fitted classes")
    position = {name: i for i, name in enumerate(fitted_classes)}
    missing = [name for name in eval_classes if name not in position]
    if missing and unseen != "wrong":
        raise TaskError(f"the evaluation corpus has classes the model was not fitted on: "
                        f"{', '.join(repr(m) for m in missing)} (fitted on "
                        f"{', '.join(repr(c) for c in fitted_classes)}); set `unseen_classes: wrong` "
                        f"on the dataset entry to score those rows as wrong")
    names = list(fitted_classes) + ([UNSEEN_LABEL] if missing else [])
    mapping = np.array([position.get(name, len(fitted_classes)) for name in eval_classes], dtype=np.int64)
    mapped = np.where(labels >= 0, mapping[np.clip(labels, 0, None)], labels)
    if missing:
        probs = np.concatenate([probs, np.zeros((len(probs), 1))], axis=1)
    notes = {"classes_matched_by_name": True, "unseen_classes": missing,
             "unseen_rows": int((mapped == len(fitted_classes)).sum()) if missing else 0}
    return mapped, probs, names, notes
