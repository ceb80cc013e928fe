#!/usr/bin/env bash
# The demo `make demo` runs: the main job on the embedded model and the demo corpus.
# VOICED_HOME (set by the Makefile) keeps all state inside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
voiced() { .venv/bin/voiced "$@"; }

echo "== Setting up a voice on the demo corpus"
voiced init --voice austen
voiced add examples/demo-corpus --voice austen

echo; echo "== Reading the folder"
voiced scan

echo; echo "== The corpus"
voiced corpus

echo; echo "== Three passages exactly as extracted"
voiced corpus show -n 3
