"""voiced.lsp: the language server every editor talks to (`voiced lsp`)."""
