"""voiced.daemon: the per-user background process that holds the model, runs
the corpus watcher and the training schedule, and serves every editor."""
