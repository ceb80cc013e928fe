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

echo; echo "== Training a short adapter (4 steps; the gate activates it only if it rewrites better than the base)"
# Each phase is printed with its duration; the last line says whether the new version is active.
SUMMARY=$(voiced train --max-steps 4 --max-minutes 3)
echo "$SUMMARY"

if grep -q "is now active" <<<"$SUMMARY"; then
  VOICE_LABEL="Trained voice:"
  echo; echo "== The same draft in the trained voice (the new version is active)"
else
  VOICE_LABEL="After training:"
  echo; echo "== The same draft after training: the gate kept the base model, so this is still the base model"
  echo "   (4 steps rarely beat it; a full \`voiced train\` trains for the configured epochs)"
fi
TRAINED=$(echo "$SAMPLE" | voiced rewrite)
echo "$TRAINED"

echo; echo "== Side by side"
labelled() { printf '%-16s %s\n' "$1" "$(sed '1!s/^/                 /' <<<"$2")"; }  # label, then the text indented
labelled "Draft:" "$SAMPLE"; labelled "Base model:" "$BASE"; labelled "$VOICE_LABEL" "$TRAINED"
squash() { tr -s "[:space:]" " " <<<"$1"; }
if [ "$(squash "$BASE")" = "$(squash "$TRAINED")" ]; then
  echo "(The same words. \`voiced eval\` measures what a version changes; \`voiced adapters list\` shows"
  echo " each version and why the gate kept or rejected it.)"
fi

echo; echo "== Status"
voiced status
voiced daemon stop >/dev/null
