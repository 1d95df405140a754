"""Running a suite: the suite file, the plan of fit and evaluate steps, fitted-model
artifacts, the executors that run steps, and the append-only result store."""
