// @vitest-environment jsdom
/**
 * The preview and the ghost text end to end: the plugin against the real
 * `voiced lsp` subprocess and the real daemon with the embedded model, the
 * modal on a real DOM (jsdom) and the ghost text in a real CodeMirror
 * EditorView; only Obsidian itself is a stand-in (test/fakeObsidian.ts).
 */
import { EditorSelection, EditorState } from "@codemirror/state";
import { EditorView, runScopeHandlers } from "@codemirror/view";
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LSPErrorCodes } from "vscode-languageserver-protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ghostAt } from "../src/ghostText";
import { TRIGGER, VoicedLspClient } from "../src/lspClient";
import VoicedPlugin from "../src/main";
import "./domShim";
import { App, editorInfoField, FakeEditor, Menu, Modal } from "./fakeObsidian";

const VOICED = resolve(__dirname, "../../../.venv/bin/voiced");
const FIRST = "The rain came down on the old town all night.";
const SECOND = "By morning the river had risen over the road.";
const DOC = `# Storm\n\n${FIRST}\n\n${SECOND}\n`;

let root: string;
let notes: string;
const plugins: VoicedPlugin[] = [];
const views: EditorView[] = [];

function voiced(...args: string[]): string {
  return execFileSync(VOICED, args, { encoding: "utf8", env: process.env });
}

async function loadPlugin(): Promise<VoicedPlugin> {
  const app = new App(notes);
  app.data = { voicedPath: VOICED, voice: "" };
  const plugin = new VoicedPlugin(app as never, {} as never);
  await plugin.onload();
  plugins.push(plugin);
  return plugin;
}

function rewriteItem(plugin: VoicedPlugin, editor: FakeEditor) {
  const menu = new Menu();
  (plugin.app as unknown as App).workspace.handlers.get("editor-menu")!(menu, editor, { file: { path: "storm.md" } });
  return menu.items.find((i) => i.title === "Rewrite in my voice")!;
}

async function until<T>(probe: () => T | null | undefined, what: string, ms = 240_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An editor like Obsidian's: a CodeMirror view with the plugin's extensions, showing storm.md. */
function editorView(plugin: VoicedPlugin, doc: string, cursor: number): EditorView {
  const extensions = (plugin as unknown as { extensions: never[] }).extensions;
  const view = new EditorView({
    state: EditorState.create({
      doc,
      selection: EditorSelection.cursor(cursor),
      extensions: [extensions, editorInfoField.init(() => ({ file: { path: "storm.md" } }))],
    }),
    parent: document.body,
  });
  views.push(view);
  return view;
}

type Counts = { shown: number; accepted: number; rejected: number; kept: number; edited: number };

/** `voiced feedback --json`: the voice's counts over its adapter versions. */
function feedbackOf(voice: string): Counts {
  const data = JSON.parse(voiced("feedback", "--json")) as { voices: Record<string, { adapters: Counts[] }> };
  const total: Counts = { shown: 0, accepted: 0, rejected: 0, kept: 0, edited: 0 };
  for (const row of data.voices[voice]?.adapters ?? []) {
    for (const key of Object.keys(total) as (keyof Counts)[]) total[key] += row[key] ?? 0;
  }
  return total;
}

beforeAll(() => {
  if (!existsSync(VOICED)) throw new Error(`${VOICED} is missing: run \`make install\` in the repository first.`);
  root = mkdtempSync(join(tmpdir(), "voiced-obsidian-features-"));
  notes = join(root, "vault");
  process.env.VOICED_HOME = join(root, "voiced-home");
  mkdirSync(notes);
  writeFileSync(join(notes, "storm.md"), DOC);
  voiced("init", "--voice", "mine");
  voiced("add", notes);
  // Deterministic and short: greedy with a fixed seed, a few tokens of ghost text, proposals settled fast;
  // the editor's path, not the model: guard off and a rewrite at most half its paragraph, so it always
  // differs from the text (an unchanged proposal is never put forward; tests/lsp_support.py, EDITOR_PATH_ONLY).
  appendFileSync(voiced("config", "path").trim(),
    "\n[inference]\ntemperature = 0.0\nseed = 7\ncontinue_tokens = 24\n" +
    "guard = false\nmax_tokens_factor = 0.5\nmax_tokens_extra = 0\n" +
    "\n[editor]\ninline_max_tokens = 12\nfeedback_quiet_seconds = 1.0\n");
});

afterAll(async () => {
  for (const view of views) view.destroy();
  for (const plugin of plugins) await plugin.onunload();
  try {
    voiced("daemon", "stop");
  } catch {
    // not running
  }
  rmSync(root, { recursive: true, force: true });
});

afterEach(() => {
  for (const modal of [...Modal.open]) modal.close(); // a failed test must not leave its preview to the next
});

describe("preview of a rewrite (voiced/preview)", () => {
  it("a rewrite of two paragraphs shows the modal; Accept applies it, one undo restores the note", async () => {
    const plugin = await loadPlugin();
    const editor = new FakeEditor(DOC);
    editor.setSelection({ line: 2, ch: 0 }, { line: 4, ch: SECOND.length });
    const done = rewriteItem(plugin, editor).click!() as Promise<boolean>;
    const modal = await until(() => Modal.open[0], "the preview modal");
    const original = modal.containerEl.querySelector(".voiced-preview-original .voiced-preview-text")!.textContent;
    const proposal = modal.containerEl.querySelector(".voiced-preview-rewrite .voiced-preview-text")!.textContent!;
    expect(original).toBe(`${FIRST}\n\n${SECOND}`);
    expect(modal.titleEl.textContent).toContain("mine");
    expect(editor.getValue()).toBe(DOC); // nothing lands before the writer says so
    // The changed words are marked; a rewrite that came back word for word marks none.
    const marks = modal.containerEl.querySelectorAll("del, ins").length;
    expect(marks === 0).toBe(proposal === original);
    (modal.containerEl.querySelector(".voiced-preview-accept") as HTMLButtonElement).click();
    expect(await done).toBe(true);
    expect(editor.getValue()).toBe(`# Storm\n\n${proposal}\n`);
    editor.undo();
    expect(editor.getValue()).toBe(DOC);
  });

  it("Reject changes nothing and is recorded as a rejection", async () => {
    const plugin = await loadPlugin();
    const editor = new FakeEditor(DOC);
    editor.setSelection({ line: 2, ch: 0 }, { line: 4, ch: SECOND.length });
    const done = rewriteItem(plugin, editor).click!() as Promise<boolean>;
    const modal = await until(() => Modal.open[0], "the preview modal");
    modal.scope.press("Escape");
    expect(await done).toBe(false);
    expect(editor.getValue()).toBe(DOC);
    const mine = await until(() => (feedbackOf("mine").rejected >= 1 ? feedbackOf("mine") : null),
      "the rejection in voiced feedback", 30_000);
    expect(mine.rejected).toBe(1);
  });
});

describe("ghost text (voiced/inlineCompletion)", () => {
  it("the command shows ghost text at the cursor; Tab inserts it and the server records it accepted", async () => {
    const plugin = await loadPlugin();
    const cursor = DOC.indexOf(SECOND) + SECOND.length;
    const view = editorView(plugin, DOC, cursor);
    const command = (plugin as unknown as { commands: { id: string; editorCallback: Function }[] }).commands
      .find((c) => c.id === "continue-in-my-voice-ghost-text")!;
    command.editorCallback({ cm: view });
    expect(plugin.ghost.pending(view)).toBe(true);
    const ghost = await until(() => (plugin.ghost.pending(view) ? null : ghostAt(view) ?? { pos: -1, text: "" }), "the ghost text");
    expect(ghost.pos).toBe(cursor);
    expect(ghost.text.trim()).not.toBe("");
    expect(view.dom.querySelector(".voiced-ghost-text")?.textContent).toBe(ghost.text);
    expect(view.state.doc.toString()).toBe(DOC);
    expect(runScopeHandlers(view, new KeyboardEvent("keydown", { key: "Tab" }), "editor")).toBe(true);
    expect(view.state.doc.toString()).toBe(DOC.slice(0, cursor) + ghost.text + DOC.slice(cursor));
    // voiced.inlineAccepted reached the server: the proposal settles as kept once the note is quiet.
    const mine = await until(() => (feedbackOf("mine").kept >= 1 ? feedbackOf("mine") : null),
      "the accepted ghost text in voiced feedback", 30_000);
    expect(mine.kept).toBeGreaterThanOrEqual(1);
  });

  it("cancelling sends $/cancelRequest: the server stops and answers RequestCancelled", async () => {
    const client = new VoicedLspClient({ command: VOICED });
    try {
      const uri = VoicedLspClient.uriFor(join(notes, "storm.md"));
      const position = { line: 4, character: SECOND.length };
      // Warm the daemon first, so the cancel lands while the model writes.
      await client.inlineCompletion(uri, DOC, position, TRIGGER.invoked).items;
      const request = client.inlineCompletion(uri, DOC, position, TRIGGER.invoked);
      // At once: warm and with its prompt cached, the daemon can write the whole ghost text in under 200 ms.
      setTimeout(() => request.cancel(), 0);
      const started = Date.now();
      await expect(request.items).rejects.toMatchObject({ code: LSPErrorCodes.RequestCancelled });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await client.stop();
    }
  });

  it("typing while the ghost text is being written dismisses it: nothing is shown or inserted", async () => {
    const plugin = await loadPlugin();
    const cursor = DOC.indexOf(SECOND) + SECOND.length;
    const view = editorView(plugin, DOC, cursor);
    expect(plugin.ghost.trigger(view)).toBe(true);
    view.dispatch({ changes: { from: cursor, insert: " And" }, selection: { anchor: cursor + 4 }, userEvent: "input.type" });
    expect(plugin.ghost.pending(view)).toBe(false);
    await new Promise((r) => setTimeout(r, 3000));
    expect(ghostAt(view)).toBeNull();
    expect(view.state.doc.toString()).toBe(`${DOC.slice(0, cursor)} And${DOC.slice(cursor)}`);
  });
});
