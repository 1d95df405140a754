"""Diagnostics beside the score, each without training anything again: evaluation views of
a fitted model (`views`: permutations for modality reliance, `perturb`: perturbations for
robustness), its cost (`efficiency`) and the health of a dataset (`leakage`). What the
leaderboard derives from them lives in `mmbench.report.diagnostics` and `leak_free`."""
