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

# A loose first draft of a scene in the corpus's world: the rewrite has something to change.
SAMPLE="So the meeting went on forever and nobody really decided anything. Everyone thought the plans for Kellynch were way too expensive, but nobody wanted to tell Sir Walter, since he loved them."

echo; echo "== A draft rewritten by the base model (no adapter yet)"
BASE=$(echo "$SAMPLE" | voiced rewrite)
echo "$BASE"
voiced daemon stop >/dev/null

echo; echo "== Training a short adapter (a few steps; the gate keeps it only if it beats the base)"
voiced train --max-steps 4 --max-minutes 3

echo; echo "== The same draft in the trained voice (the active adapter, or the base if it was rejected)"
TRAINED=$(echo "$SAMPLE" | voiced rewrite)
echo "$TRAINED"

echo; echo "== Side by side"
labelled() { printf '%-14s %s\n' "$1" "$(sed '1!s/^/               /' <<<"$2")"; }  # label, then the text indented
labelled "Draft:" "$SAMPLE"; labelled "Base model:" "$BASE"; labelled "Trained voice:" "$TRAINED"
squash() { tr -s "[:space:]" " " <<<"$1"; }
if [ "$(squash "$BASE")" = "$(squash "$TRAINED")" ]; then
  echo "(The same words: four steps move a 135M-parameter model very little. A full \`voiced train\`"
  echo " trains for the configured epochs, and \`voiced eval\` measures what changed.)"
fi

echo; echo "== Status"
voiced status
voiced daemon stop >/dev/null
