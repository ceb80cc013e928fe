/**
 * The plugin end to end: the real `voiced lsp` subprocess and the real daemon
 * with the embedded model; only Obsidian is a stand-in (test/fakeObsidian.ts).
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import VoicedPlugin from "../src/main";
import { App, FakeEditor, Menu, Notice } from "./fakeObsidian";

const VOICED = resolve(__dirname, "../../../.venv/bin/voiced");
const PARAGRAPH = "It is a truth universally acknowledged, that a single man in possession of a good fortune, " +
  "must be in want of a wife.";
const DOC = `# Chapter 1\n\n${PARAGRAPH}\n\nThe end.\n`;

let root: string;
let notes: string;
const plugins: VoicedPlugin[] = [];

function voiced(...args: string[]): string {
  return execFileSync(VOICED, args, { encoding: "utf8", env: process.env });
}

async function loadPlugin(voicedPath: string): Promise<VoicedPlugin> {
  const app = new App(notes);
  app.data = { voicedPath, voice: "" };
  const plugin = new VoicedPlugin(app as never, {} as never);
  await plugin.onload();
  plugins.push(plugin);
  return plugin;
}

function contextMenu(plugin: VoicedPlugin, editor: FakeEditor, file: string): Menu {
  const menu = new Menu();
  const handler = (plugin.app as unknown as App).workspace.handlers.get("editor-menu")!;
  handler(menu, editor, { file: { path: file } });
  return menu;
}

beforeAll(() => {
  if (!existsSync(VOICED)) throw new Error(`${VOICED} is missing: run \`make install\` in the repository first.`);
  root = mkdtempSync(join(tmpdir(), "voiced-obsidian-"));
  notes = join(root, "vault");
  process.env.VOICED_HOME = join(root, "voiced-home");
  mkdirSync(notes);
  voiced("init", "--voice", "mine");
  voiced("add", notes);
  // Deterministic output (greedy, fixed seed); short continuations keep the test fast; guard off and a
  // rewrite at most half its paragraph, so it always differs from the text (an unchanged one is no edit).
  appendFileSync(voiced("config", "path").trim(), "\n[inference]\ntemperature = 0.0\nseed = 7\ncontinue_tokens = 24\n" +
    "guard = false\nmax_tokens_factor = 0.5\nmax_tokens_extra = 0\n");
});

afterAll(async () => {
  for (const plugin of plugins) await plugin.onunload();
  try {
    voiced("daemon", "stop");
  } catch {
    // not running
  }
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  Notice.shown = [];
});

describe("Obsidian plugin with the real voiced lsp", () => {
  it("offers both actions in the editor menu and the command palette", async () => {
    const plugin = await loadPlugin(VOICED);
    const menu = contextMenu(plugin, new FakeEditor(DOC), "chapter.md");
    expect(menu.items.map((i) => i.title)).toEqual(["Rewrite in my voice", "Continue in my voice"]);
    expect((plugin as unknown as { commands: { name: string }[] }).commands.map((c) => c.name))
      .toEqual(["Continue in my voice (ghost text)", "Rewrite in my voice", "Continue in my voice"]);
  });

  it("Rewrite in my voice replaces the selected paragraph; one undo restores the note", async () => {
    writeFileSync(join(notes, "chapter.md"), DOC);
    const plugin = await loadPlugin(VOICED);
    const editor = new FakeEditor(DOC);
    editor.setSelection({ line: 2, ch: 0 }, { line: 2, ch: PARAGRAPH.length });
    const item = contextMenu(plugin, editor, "chapter.md").items.find((i) => i.title === "Rewrite in my voice")!;
    expect(await item.click!()).toBe(true);
    const lines = editor.getValue().split("\n");
    const original = DOC.split("\n");
    expect(lines.slice(0, 2)).toEqual(original.slice(0, 2));
    expect(lines.slice(-3)).toEqual(original.slice(-3));
    const rewritten = lines.slice(2, -3).join("\n");
    expect(rewritten.trim()).not.toBe("");
    // The server's meaning guard may keep a paragraph the model drifted from; then it says so.
    if (rewritten === PARAGRAPH) expect(Notice.shown.some((m) => m.includes("was left as it was"))).toBe(true);
    else expect(Notice.shown.some((m) => m.includes("was left as it was"))).toBe(false);
    expect(rewritten).not.toContain("\n\n");
    expect(Notice.shown[0]).toBe("voiced: rewrite in my voice…");
    editor.undo();
    expect(editor.getValue()).toBe(DOC);
    expect(readFileSync(join(notes, "chapter.md"), "utf8")).toBe(DOC); // the editor, not the file, changed
  });

  it("Continue in my voice (command palette) writes on after the paragraph", async () => {
    const plugin = await loadPlugin(VOICED);
    const editor = new FakeEditor(DOC);
    editor.setSelection({ line: 2, ch: PARAGRAPH.length });
    const command = (plugin as unknown as { commands: { id: string; editorCallback: Function }[] }).commands
      .find((c) => c.id === "continue-in-my-voice")!;
    expect(await command.editorCallback(editor, { file: { path: "chapter.md" } })).toBe(true);
    const text = editor.getValue();
    expect(text.startsWith(`# Chapter 1\n\n${PARAGRAPH}`)).toBe(true);
    expect(text.endsWith("The end.\n")).toBe(true);
    expect(text.length).toBeGreaterThan(DOC.length);
    editor.undo();
    expect(editor.getValue()).toBe(DOC);
  });

  it("tells the writer how to install voiced when it cannot be found", async () => {
    const plugin = await loadPlugin(join(root, "no-such-voiced"));
    const editor = new FakeEditor(DOC);
    editor.setSelection({ line: 2, ch: 0 });
    const item = contextMenu(plugin, editor, "chapter.md").items[0];
    expect(await item.click!()).toBe(false);
    const error = Notice.shown.find((m) => m.includes("was not found"));
    expect(error).toContain("pipx install voiced");
    expect(error).toContain("Settings → voiced");
    expect(editor.getValue()).toBe(DOC);
  });
});
