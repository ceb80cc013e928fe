// End to end: code-server with the packaged extension, headless Chromium right-clicks a
// paragraph, chooses "Rewrite in my voice" and checks that the paragraph changed.
// Needs: e2e/setup-code-server.sh, `npm run package`, and a voiced with a voice whose folder
// holds the workspace (run.sh prepares both). Usage: node e2e/rightclick.mjs
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const e2e = process.env.E2E_DIR ?? "/tmp/voiced-vscode-e2e";
const { chromium } = createRequire(join(e2e, "package.json"))("playwright-core");
const workspace = process.env.E2E_WORKSPACE;
const voiced = process.env.VOICED_EXECUTABLE;
const userData = process.env.E2E_USER_DATA ?? join(e2e, "user-data");
mkdirSync(join(userData, "User"), { recursive: true });
// A closed network: nothing may try to reach a gallery, an update server or telemetry.
writeFileSync(join(userData, "User", "settings.json"), JSON.stringify({
  "voiced.path": voiced,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "telemetry.telemetryLevel": "off",
  "workbench.enableExperiments": false,
  "workbench.startupEditor": "none",
}));
const entry = join(e2e, "node_modules/code-server/out/node/entry.js");
// Port 0: the system picks a free port; code-server prints the address it got.
const server = spawn("node", [entry, "--auth", "none", "--bind-addr", "127.0.0.1:0", "--extensions-dir", join(e2e, "extensions"),
  "--user-data-dir", userData, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", workspace],
  { stdio: ["ignore", "pipe", "inherit"] });
const address = await new Promise((ready, fail) => {
  let seen = "";
  server.stdout.on("data", (d) => {
    process.stdout.write(d);
    seen += String(d);
    const found = /HTTP server listening on (http:\/\/[0-9.]+:[0-9]+)/.exec(seen);
    if (found) ready(found[1]);
  });
  server.on("exit", (code) => fail(new Error(`code-server exited (${code}) before it listened`)));
  setTimeout(() => fail(new Error("code-server did not listen within 120 s")), 120000).unref();
});
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", timeout: 60000, args: ["--headless", "--no-sandbox",
  "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run", "--no-default-browser-check", "--no-pings",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
  "--disable-breakpad", "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication"] });
let failed = true;
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
try {
  await page.goto(`${address}/?folder=${workspace}`);
  await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "draft.md" }).click({ timeout: 60000 });
  const paragraph = page.locator(".view-line", { hasText: "weather" });
  await paragraph.waitFor();
  const before = await page.locator(".view-lines").innerText();
  const rewrite = page.locator(".monaco-menu .action-label", { hasText: "Rewrite in my voice" });
  // The entry appears once the server is up (context key voiced.active): right-click until it does.
  for (let i = 0; i < 30 && !(await rewrite.isVisible()); i++) {
    await page.keyboard.press("Escape");
    await paragraph.click({ button: "right" });
    await page.waitForTimeout(1000);
  }
  await rewrite.click();
  await page.waitForFunction((b) => document.querySelector(".view-lines")?.innerText !== b, before, { timeout: 300000 });
  const after = await page.locator(".view-lines").innerText();
  await page.screenshot({ path: join(e2e, "after-rewrite.png") });
  console.log(`before: ${JSON.stringify(before)}\nafter:  ${JSON.stringify(after)}`);
  // Monaco renders spaces as no-break spaces; \s matches both.
  failed = !/#\sNotes/.test(after) || after === before;
  console.log(failed ? "0 passed, 1 failed" : "1 passed, 0 failed");
} catch (error) {
  await page.screenshot({ path: join(e2e, "failure.png") }).catch(() => undefined);
  console.error(`${error}\nscreenshot: ${join(e2e, "failure.png")}\n0 passed, 1 failed`);
} finally {
  await browser.close();
  server.kill();
}
process.exit(failed ? 1 : 0);
