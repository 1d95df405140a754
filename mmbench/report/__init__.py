"""Reports made from the result store and the dataset home: the leaderboard, run-to-run
comparisons, rescoring (into a new store, never the one it reads) and dataset cards."""
