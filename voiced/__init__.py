"""voiced: learns a writer's voice from their own prose, entirely on their machine.

The import package mirrors the top level of the repository: this folder is the
shared core (configuration, paths, prose extraction, the corpus and the CLI);
``voiced.daemon``, ``voiced.lsp`` and ``voiced.trainer`` live in ``daemon/``,
``lsp/`` and ``trainer/``.
"""

__version__ = "0.1.0"
