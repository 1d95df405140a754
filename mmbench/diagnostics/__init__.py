"""Diagnostics beside the score: evaluation views of an already fitted model (modality
reliance) and what the leaderboard derives from their stored predictions."""
