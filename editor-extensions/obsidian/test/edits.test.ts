import { describe, expect, it } from "vitest";
import { applyTextEdits, editsFor } from "../src/edits";
import { FakeEditor } from "./fakeObsidian";

describe("edits", () => {
  it("uses LSP UTF-16 positions as editor indices (astral characters count two)", () => {
    const editor = new FakeEditor("# 😀 Title\n\nOld 😀 words here.\n");
    // "Old 😀 " is 7 UTF-16 code units: the edit replaces "words".
    applyTextEdits(editor, [{ range: { start: { line: 2, character: 7 }, end: { line: 2, character: 12 } }, newText: "prose" }]);
    expect(editor.getValue()).toBe("# 😀 Title\n\nOld 😀 prose here.\n");
  });

  it("applies several edits as one transaction that one undo reverts", () => {
    const editor = new FakeEditor("one\ntwo\nthree");
    const original = editor.getValue();
    applyTextEdits(editor, [
      { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 3 } }, newText: "ONE" },
      { range: { start: { line: 2, character: 0 }, end: { line: 2, character: 5 } }, newText: "THREE\nFOUR" },
    ]);
    expect(editor.getValue()).toBe("ONE\ntwo\nTHREE\nFOUR");
    editor.undo();
    expect(editor.getValue()).toBe(original);
  });

  it("reads the edits for one document from documentChanges and changes", () => {
    const edit = { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, newText: "x" };
    expect(editsFor({
      documentChanges: [{ textDocument: { uri: "file:///a.md", version: 1 }, edits: [edit] },
        { textDocument: { uri: "file:///b.md", version: 1 }, edits: [edit, edit] }],
      changes: { "file:///a.md": [edit] },
    }, "file:///a.md")).toHaveLength(2);
  });
});
