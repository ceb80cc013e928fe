#!/usr/bin/env bash
# Installs code-server 4.100.3 (Node 20) and Playwright under $E2E_DIR without any download
# outside the npm and Debian registries: ripgrep comes from Debian, native modules build locally.
# About 3 minutes on 2 cores. Run as root (apt-get).
set -euo pipefail
E2E_DIR=${E2E_DIR:-/tmp/voiced-vscode-e2e}
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libkrb5-dev ripgrep chromium
mkdir -p "$E2E_DIR" && cd "$E2E_DIR"
[ -f package.json ] || echo '{"name":"voiced-vscode-e2e","private":true}' > package.json
# code-server's own postinstall fetches ripgrep from a code host: skip scripts, then do its steps here.
npm install --no-audit --no-fund --ignore-scripts code-server@4.100.3 playwright-core@1
npm_config_yes=true npm rebuild --unsafe-perm argon2
cd node_modules/code-server/lib/vscode
npm install --unsafe-perm --omit=dev --ignore-scripts --no-audit --no-fund
npm_config_yes=true npm rebuild --unsafe-perm kerberos node-pty @parcel/watcher @vscode/spdlog native-watchdog @vscode/deviceid @vscode/policy-watcher
mkdir -p node_modules/@vscode/ripgrep/bin && ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && npm install --unsafe-perm --omit=dev --ignore-scripts --no-audit --no-fund)
node "$E2E_DIR/node_modules/code-server/out/node/entry.js" --version
