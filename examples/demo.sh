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

SAMPLE="The meeting was long and nothing much was decided. Everyone agreed that the plans for the house were too expensive, but nobody wanted to say so to the admiral, who liked them very much."

echo; echo "== A sample paragraph rewritten by the base model (no adapter yet)"
echo "$SAMPLE" | voiced rewrite
echo
voiced daemon stop >/dev/null

echo; echo "== Training a short adapter (a few steps; the gate keeps it only if it beats the base)"
voiced train --max-steps 4 --max-minutes 3

echo; echo "== The same paragraph in the trained voice (the active adapter, or the base if it was rejected)"
echo "$SAMPLE" | voiced rewrite
echo

echo; echo "== Status"
voiced status
voiced daemon stop >/dev/null
