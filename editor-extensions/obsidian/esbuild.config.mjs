// Bundles src/main.ts into main.js (CommonJS, as Obsidian loads plugins).
import { builtinModules } from "node:module";
import esbuild from "esbuild";

const production = process.argv[2] === "production";
const context = await esbuild.context({
  entryPoints: ["src/main.ts"],
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "es2022",
  external: ["obsidian", "electron", "@codemirror/*", ...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
  outfile: "main.js",
  sourcemap: production ? false : "inline",
  logLevel: "info",
});
if (production) {
  await context.rebuild();
  await context.dispose();
} else {
  await context.watch();
}
