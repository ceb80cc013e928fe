#!/usr/bin/env bash
# Packages the extension, installs it into code-server, sets up a throwaway voiced home with one
# voice over a three-file workspace and runs the editor tests (e2e/editor.mjs). Bounded: the browser
# tests get E2E_TIMEOUT seconds (default 900). On any exit (pass, failure, timeout, Ctrl-C) it kills the
# test's process group (code-server, its extension host, voiced lsp), stops the daemon voiced lsp
# started and removes the scratch folder.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export E2E_DIR=${E2E_DIR:-/tmp/voiced-vscode-e2e}
# code-server writes its config.yaml and data under the XDG folders: keep them out of the home folder.
export XDG_CONFIG_HOME=$E2E_DIR/xdg/config XDG_DATA_HOME=$E2E_DIR/xdg/data
export VOICED_EXECUTABLE=${VOICED_EXECUTABLE:-$here/../../.venv/bin/voiced}
[ -x "$VOICED_EXECUTABLE" ] || { echo "no voiced at $VOICED_EXECUTABLE: run make install first" >&2; exit 1; }
[ -f "$E2E_DIR/node_modules/code-server/out/node/entry.js" ] || bash "$here/e2e/setup-code-server.sh"
cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run package
node "$E2E_DIR/node_modules/code-server/out/node/entry.js" --extensions-dir "$E2E_DIR/extensions" --install-extension "$here/voiced-vscode.vsix" --force
scratch=$(mktemp -d)
runner=
cleanup() {
  local code=$?
  # timeout leads its own process group: everything the test started is in it.
  if [ -n "$runner" ] && kill -TERM -- "-$runner" 2>/dev/null; then sleep 2; kill -KILL -- "-$runner" 2>/dev/null || true; fi
  if [ "$code" -ne 0 ]; then  # what the server and the daemon said, before the scratch folder goes
    for log in "$scratch"/home/state/logs/*.log; do [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -n 40 "$log" >&2; }; done
  fi
  "$VOICED_EXECUTABLE" daemon stop >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export VOICED_HOME=$scratch/home E2E_WORKSPACE=$scratch/ws E2E_USER_DATA=$scratch/user-data
mkdir -p "$E2E_WORKSPACE"
printf '# Notes\n\nThe weather was bad and we stayed in all day and read books.\n' > "$E2E_WORKSPACE/draft.md"
printf '# Story\n\nWe walked out to the lighthouse before breakfast and the wind was cold.\n\nBy noon the fog had lifted and we could see the islands from the top.\n' > "$E2E_WORKSPACE/story.md"
printf '# Ghost\n\nThe rain stopped at noon and we went down to the river.\n' > "$E2E_WORKSPACE/ghost.md"
"$VOICED_EXECUTABLE" init && "$VOICED_EXECUTABLE" add "$E2E_WORKSPACE"
# The editor path is under test, not the model: with the rewrite guard on, the base model's answer is often
# rejected and the paragraph left as it was (tests/test_rewrite_guard_clients.py covers that message); and
# a rewrite may be at most half its paragraph, so it always differs from it (an unchanged one is no edit).
printf '\n[inference]\nguard = false\nmax_tokens_factor = 0.5\nmax_tokens_extra = 0\n' >> "$("$VOICED_EXECUTABLE" config path)"
timeout --kill-after=10 "${E2E_TIMEOUT:-900}" node "$here/e2e/editor.mjs" &
runner=$!
status=0
wait "$runner" || status=$?
[ "$status" -ne 124 ] || echo "the editor tests took longer than ${E2E_TIMEOUT:-900} s (E2E_TIMEOUT); stopped it" >&2
exit "$status"
