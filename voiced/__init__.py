"""voiced: learns a writer's voice from their own prose, entirely on their machine.

This folder is the floor of the import package: configuration, paths, errors,
private files, model lookup, prompts, extraction, the corpus and the adapter
registry. The layers above live in top-level folders of their own (inference/,
trainer/, evaluation/, daemon/, lsp/, cli/) and map onto ``voiced.inference``
and so on; docs/architecture.md shows which may import which.
"""

__version__ = "0.1.0"
