// @vitest-environment jsdom
/**
 * The ghost-text state machine in a real CodeMirror EditorView (jsdom): shown
 * at the cursor, Tab accepts (inserts, tells the provider), Escape, typing or
 * moving away dismiss it and cancel the request in flight, the automatic
 * trigger waits for the pause. The provider is a scripted one here; the
 * plugin's end-to-end test drives the real server.
 */
import { EditorSelection, EditorState } from "@codemirror/state";
import { EditorView, runScopeHandlers } from "@codemirror/view";
import { afterEach, describe, expect, it, vi } from "vitest";
import "./domShim";
import { ghostAt, GhostText, type GhostProvider, type GhostSuggestion, type GhostTrigger } from "../src/ghostText";

const DOC = "It was a dark and stormy night.";

interface Asked {
  pos: number;
  trigger: GhostTrigger;
  cancelled: boolean;
  answer(suggestion: GhostSuggestion | null): void;
  partial(suggestion: GhostSuggestion): void;
}

function setup(options: { auto?: boolean; debounceMs?: number } = {}) {
  const asked: Asked[] = [];
  const accepted: GhostSuggestion[] = [];
  const provider: GhostProvider = {
    request(_view, pos, trigger, partial) {
      let answer!: (s: GhostSuggestion | null) => void;
      const result = new Promise<GhostSuggestion | null>((resolve) => { answer = resolve; });
      const entry: Asked = { pos, trigger, cancelled: false, answer, partial };
      asked.push(entry);
      return { result, cancel: () => { entry.cancelled = true; } };
    },
    accepted: (s) => void accepted.push(s),
  };
  const ghost = new GhostText(provider, { autoTrigger: () => options.auto ?? false, debounceMs: () => options.debounceMs ?? 600 });
  const view = new EditorView({
    state: EditorState.create({ doc: DOC, selection: EditorSelection.cursor(DOC.length), extensions: [ghost.extension] }),
    parent: document.body,
  });
  views.push(view);
  return { ghost, view, asked, accepted };
}

const views: EditorView[] = [];
afterEach(() => {
  for (const view of views.splice(0)) view.destroy();
  vi.useRealTimers();
});

const SUGGESTION: GhostSuggestion = {
  text: " The rain fell in torrents.",
  command: { title: "voiced: accepted", command: "voiced.inlineAccepted", arguments: ["abc123"] },
};

function key(view: EditorView, name: string, init: KeyboardEventInit = {}): boolean {
  return runScopeHandlers(view, new KeyboardEvent("keydown", { key: name, ...init }), "editor");
}

function ghostSpan(view: EditorView): HTMLElement | null {
  return view.dom.querySelector(".voiced-ghost-text");
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
}

describe("ghost text", () => {
  it("shows the continuation dimmed at the cursor without changing the document", async () => {
    const { ghost, view, asked } = setup();
    expect(ghost.trigger(view)).toBe(true);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ pos: DOC.length, trigger: "invoked" });
    expect(ghost.pending(view)).toBe(true);
    asked[0].answer(SUGGESTION);
    await settle();
    expect(ghostAt(view)).toEqual({ pos: DOC.length, text: SUGGESTION.text });
    expect(ghostSpan(view)?.textContent).toBe(SUGGESTION.text);
    expect(view.state.doc.toString()).toBe(DOC);
    expect(ghost.pending(view)).toBe(false);
  });

  it("Tab inserts it, puts the cursor after it and tells the provider (the accept command)", async () => {
    const { ghost, view, asked, accepted } = setup();
    ghost.trigger(view);
    asked[0].answer(SUGGESTION);
    await settle();
    expect(key(view, "Tab")).toBe(true);
    expect(view.state.doc.toString()).toBe(DOC + SUGGESTION.text);
    expect(view.state.selection.main.head).toBe((DOC + SUGGESTION.text).length);
    expect(accepted).toEqual([SUGGESTION]);
    expect(ghostAt(view)).toBeNull();
    expect(ghostSpan(view)).toBeNull();
    // With no ghost shown, Tab is the editor's again.
    expect(key(view, "Tab")).toBe(false);
  });

  it("Mod+Right takes one word at a time; the rest stays shown; the provider is told once", async () => {
    const { ghost, view, asked, accepted } = setup();
    ghost.trigger(view);
    asked[0].answer(SUGGESTION);
    await settle();
    const mod = /Mac/.test(navigator.platform) ? { metaKey: true } : { ctrlKey: true };
    expect(key(view, "ArrowRight", mod)).toBe(true);
    expect(view.state.doc.toString()).toBe(`${DOC} The`);
    expect(ghostAt(view)).toEqual({ pos: DOC.length + 4, text: " rain fell in torrents." });
    expect(view.state.selection.main.head).toBe(DOC.length + 4);
    expect(ghost.acceptWord(view)).toBe(true);
    expect(ghostAt(view)?.text).toBe(" fell in torrents.");
    expect(key(view, "Tab")).toBe(true);
    expect(view.state.doc.toString()).toBe(DOC + SUGGESTION.text);
    expect(accepted).toEqual([SUGGESTION]);
    expect(ghostAt(view)).toBeNull();
  });

  it("typing dismisses the ghost", async () => {
    const { ghost, view, asked, accepted } = setup();
    ghost.trigger(view);
    asked[0].answer(SUGGESTION);
    await settle();
    view.dispatch({ changes: { from: DOC.length, insert: "!" }, selection: { anchor: DOC.length + 1 }, userEvent: "input.type" });
    expect(ghostAt(view)).toBeNull();
    expect(ghostSpan(view)).toBeNull();
    expect(key(view, "Tab")).toBe(false);
    expect(accepted).toEqual([]);
    expect(view.state.doc.toString()).toBe(`${DOC}!`);
  });

  it("typing while the request is in flight cancels it, and its late answer is not shown", async () => {
    const { ghost, view, asked } = setup();
    ghost.trigger(view);
    view.dispatch({ changes: { from: DOC.length, insert: " And" }, selection: { anchor: DOC.length + 4 }, userEvent: "input.type" });
    expect(asked[0].cancelled).toBe(true);
    expect(ghost.pending(view)).toBe(false);
    asked[0].answer(SUGGESTION);
    await settle();
    expect(ghostAt(view)).toBeNull();
  });

  it("moving the cursor away cancels too", async () => {
    const { ghost, view, asked } = setup();
    ghost.trigger(view);
    view.dispatch({ selection: { anchor: 3 } });
    expect(asked[0].cancelled).toBe(true);
    asked[0].answer(SUGGESTION);
    await settle();
    expect(ghostAt(view)).toBeNull();
  });

  it("Escape dismisses a ghost shown and cancels one in flight; otherwise it is left alone", async () => {
    const { ghost, view, asked } = setup();
    ghost.trigger(view);
    asked[0].answer(SUGGESTION);
    await settle();
    expect(key(view, "Escape")).toBe(true);
    expect(ghostAt(view)).toBeNull();
    expect(view.state.doc.toString()).toBe(DOC);
    ghost.trigger(view);
    expect(key(view, "Escape")).toBe(true);
    expect(asked[1].cancelled).toBe(true);
    expect(key(view, "Escape")).toBe(false);
  });

  it("a new request replaces the one in flight", async () => {
    const { ghost, view, asked } = setup();
    ghost.trigger(view);
    ghost.trigger(view);
    expect(asked[0].cancelled).toBe(true);
    asked[1].answer(SUGGESTION);
    asked[0].answer({ text: " stale" });
    await settle();
    expect(ghostAt(view)?.text).toBe(SUGGESTION.text);
  });

  it("streams: partial text shows at once, the final answer replaces it; Tab mid-stream takes what is there", async () => {
    const { ghost, view, asked, accepted } = setup();
    ghost.trigger(view);
    asked[0].partial({ text: " The rain" });
    expect(ghostAt(view)?.text).toBe(" The rain");
    expect(ghost.pending(view)).toBe(true);
    asked[0].answer(SUGGESTION);
    await settle();
    expect(ghostAt(view)?.text).toBe(SUGGESTION.text);

    ghost.trigger(view);
    asked[1].partial({ text: " More" });
    expect(key(view, "Tab")).toBe(true);
    expect(asked[1].cancelled).toBe(true);
    expect(view.state.doc.toString()).toBe(`${DOC} More`);
    expect(accepted).toEqual([{ text: " More" }]);
  });

  it("an empty answer shows nothing", async () => {
    const { ghost, view, asked } = setup();
    ghost.trigger(view);
    asked[0].answer(null);
    await settle();
    expect(ghostAt(view)).toBeNull();
    expect(ghostSpan(view)).toBeNull();
  });

  it("no automatic request while the setting is off", () => {
    vi.useFakeTimers();
    const { view, asked } = setup({ auto: false });
    view.dispatch({ changes: { from: DOC.length, insert: " " }, selection: { anchor: DOC.length + 1 }, userEvent: "input.type" });
    vi.advanceTimersByTime(5000);
    expect(asked).toHaveLength(0);
  });

  it("with the setting on, asks once after the pause in typing, not at every keystroke", () => {
    vi.useFakeTimers();
    const { view, asked } = setup({ auto: true, debounceMs: 600 });
    for (const [i, ch] of [..." And"].entries()) {
      view.dispatch({ changes: { from: DOC.length + i, insert: ch }, selection: { anchor: DOC.length + i + 1 }, userEvent: "input.type" });
      vi.advanceTimersByTime(300);
    }
    expect(asked).toHaveLength(0);
    vi.advanceTimersByTime(300);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ trigger: "automatic", pos: DOC.length + 4 });
    // An edit that is not typing (the accept itself, a paste) does not ask.
    view.dispatch({ changes: { from: 0, insert: "X" }, userEvent: "input.paste" });
    vi.advanceTimersByTime(1000);
    expect(asked).toHaveLength(1);
  });
});
