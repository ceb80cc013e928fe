"""voiced.trainer: voice datasets, LoRA training, the adapter registry and the evaluation gate."""
