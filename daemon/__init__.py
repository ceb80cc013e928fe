"""voiced.daemon: the per-user background service that holds the model, runs the corpus watcher, the
training schedule and the training job, and serves every editor; with the client that reaches it."""
