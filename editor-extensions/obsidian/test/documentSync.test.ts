// @vitest-environment jsdom
/** Following a note's edits: one send after a pause in typing, with the latest text; none without edits. */
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { afterEach, describe, expect, it, vi } from "vitest";
import "./domShim";
import { documentSync } from "../src/documentSync";

afterEach(() => vi.useRealTimers());

describe("documentSync", () => {
  it("sends the text once the writer pauses, and the pending text when the editor closes", () => {
    vi.useFakeTimers();
    const sent: string[] = [];
    const view = new EditorView({
      state: EditorState.create({ doc: "Hello", extensions: [documentSync((state) => sent.push(state.doc.toString()), 500)] }),
      parent: document.body,
    });
    view.dispatch({ selection: { anchor: 2 } });
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([]); // a cursor move is not an edit
    view.dispatch({ changes: { from: 5, insert: "," } });
    vi.advanceTimersByTime(300);
    view.dispatch({ changes: { from: 6, insert: " world" } });
    vi.advanceTimersByTime(499);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual(["Hello, world"]);
    view.dispatch({ changes: { from: 12, insert: "!" } });
    view.destroy();
    expect(sent).toEqual(["Hello, world", "Hello, world!"]);
  });
});
