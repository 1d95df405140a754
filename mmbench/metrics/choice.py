"""Multiple-choice metrics over (answer indices [N], rotation votes [N, K]).

A question with k options is asked k times, rotation r listing option r first. The
votes of a question count, per option (published index), the rotations that picked
it; the pick of the published order (rotation 0) gets R more votes, R the number of
rotations, so it is always the row's argmax. Then the plain `accuracy` metric
(argmax == answer) reads the published order, and `circular_accuracy` (MMBench's
CircularEval) counts a question only when every rotation picked the answer, i.e. all
of its votes sit on the answer.
"""

from __future__ import annotations

import numpy as np

from mmbench.metrics import Metric, register_metric


def rotation_votes(picks: np.ndarray, width: int) -> np.ndarray:
    """[N, R] option picked in each rotation (-1 where a question has no such rotation)
    -> [N, width] votes, the rotation-0 pick weighted R + 1."""
    n, rotations = picks.shape
    votes = np.zeros((n, width), dtype=np.float64)
    rows = np.repeat(np.arange(n), rotations)
    cols = picks.ravel()
    valid = cols >= 0
    np.add.at(votes, (rows[valid], cols[valid]), 1.0)
    has_first = picks[:, 0] >= 0 if rotations else np.zeros(n, dtype=bool)
    votes[np.flatnonzero(has_first), picks[has_first, 0]] += rotations
    return votes


def circular_per_sample(labels: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """1.0 where every vote of the question is on its answer."""
    total = votes.sum(axis=1)
    on_answer = votes[np.arange(len(labels)), labels]
    return ((total > 0) & (on_answer == total)).astype(np.float64)


def circular_accuracy(labels: np.ndarray, votes: np.ndarray) -> float:
    values = circular_per_sample(labels, votes)
    return float(values.mean()) if len(values) else float("nan")


CIRCULAR_ACCURACY = register_metric(Metric("circular_accuracy", circular_accuracy, True,
                                           per_sample=circular_per_sample))
