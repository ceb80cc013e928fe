import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { obsidian: fileURLToPath(new URL("./test/fakeObsidian.ts", import.meta.url)) } },
  // The end-to-end tests load the embedded model in a real daemon.
  test: { testTimeout: 300_000, hookTimeout: 120_000, fileParallelism: false },
});
