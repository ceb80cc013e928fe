#!/usr/bin/env bash
# Packages the extension, installs it into code-server, sets up a throwaway voiced home with one
# voice over a one-file workspace, runs the right-click test, stops the daemon it started.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export E2E_DIR=${E2E_DIR:-/tmp/voiced-vscode-e2e}
export VOICED_EXECUTABLE=${VOICED_EXECUTABLE:-$here/../../.venv/bin/voiced}
[ -x "$E2E_DIR/node_modules/code-server/out/node/entry.js" ] || [ -f "$E2E_DIR/node_modules/code-server/out/node/entry.js" ] || bash "$here/e2e/setup-code-server.sh"
(cd "$here" && npm run package)
node "$E2E_DIR/node_modules/code-server/out/node/entry.js" --extensions-dir "$E2E_DIR/extensions" --install-extension "$here/voiced-vscode.vsix" --force
scratch=$(mktemp -d)
export VOICED_HOME=$scratch/home E2E_WORKSPACE=$scratch/ws
mkdir -p "$E2E_WORKSPACE"
printf '# Notes\n\nThe weather was bad and we stayed in all day and read books.\n' > "$E2E_WORKSPACE/draft.md"
"$VOICED_EXECUTABLE" init && "$VOICED_EXECUTABLE" add "$E2E_WORKSPACE"
trap '"$VOICED_EXECUTABLE" daemon stop || true; rm -rf "$scratch"' EXIT
node "$here/e2e/rightclick.mjs"
