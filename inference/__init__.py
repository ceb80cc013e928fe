"""voiced.inference: the model at work. The engine, its runtimes (llama.cpp, transformers, mlx-lm),
generation settings, Markdown-aware chunking and the rewrite guard; used by the daemon, the trainer's
gate, the evaluation and the language server."""
