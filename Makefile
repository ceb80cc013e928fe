# The two set-up commands: `make demo` and `make test`. Both create .venv and
# install everything on a fresh machine; nothing is installed by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.voiced-installed
DEMO_HOME := $(CURDIR)/.voiced-demo

# torch goes in first. Without CUDA, the pinned CPU build (a local file on the
# project's machines; an unpinned torch would pull a multi-GB CUDA build).
TORCH_SPEC ?= $(shell if command -v nvidia-smi >/dev/null 2>&1 || [ "$$(uname -s)" = Darwin ]; then echo torch; else echo torch==2.13.0; fi)

# bitsandbytes (QLoRA) only where there is an NVIDIA GPU, tested as TORCH_SPEC tests it.
EXTRAS ?= $(shell if command -v nvidia-smi >/dev/null 2>&1; then echo test,cuda; else echo test; fi)

.PHONY: demo test lint test-extensions test-vscode test-vscode-e2e install docs clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_HOME)
	VOICED_HOME=$(DEMO_HOME) bash examples/demo.sh

# The Python checks, every editor extension's own tests, then pytest (last, so its summary closes the run);
# fails if any fails.
test: $(STAMP)
	status=0; $(MAKE) lint || status=1; $(MAKE) test-extensions || status=1; $(MAKE) test-vscode || status=1; $(MAKE) test-vscode-e2e || status=1; $(BIN)/python -m pytest || status=$$?; exit $$status

# ruff (lint and format), mypy over the package, and the layers contract (docs/architecture.md).
lint: $(STAMP)
	status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/python tools/check_types.py || status=1; \
	$(BIN)/python tools/check_layers.py || status=1; \
	exit $$status

# Neovim's tests are pytest tests (tests/test_neovim.py); Obsidian's run in Node.
test-extensions: $(STAMP)
	cd editor-extensions/obsidian && npm ci --no-audit --no-fund && npm test

# VS Code: lint, type-check, unit tests and the bundle (npm run check); no VS Code needed.
test-vscode:
	cd editor-extensions/vscode && npm ci --no-audit --no-fund && npm run check

# VS Code end to end: the packaged extension in code-server, headless Chromium right-clicks a paragraph
# and rewrites it with the real voiced lsp, daemon and model. The first run installs code-server into
# $(E2E_DIR) (apt packages as root, about 3 minutes); later runs take about a minute. Bounded by
# timeout; e2e/run.sh stops code-server and the daemon however it ends.
E2E_DIR ?= $(CURDIR)/.e2e/code-server
test-vscode-e2e: $(STAMP)
	cd editor-extensions/vscode && E2E_DIR=$(E2E_DIR) VOICED_EXECUTABLE=$(CURDIR)/$(BIN)/voiced \
		timeout --kill-after=30 1800 bash e2e/run.sh

docs: $(STAMP)
	$(BIN)/cog -r docs/cli.md docs/corpus.md docs/daemon.md

clean-demo:
	rm -rf $(DEMO_HOME)
