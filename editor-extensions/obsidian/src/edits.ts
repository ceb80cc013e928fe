/**
 * LSP edits -> one editor transaction. Pure: no `obsidian` import, so tests run
 * it against a stand-in editor.
 *
 * LSP positions count UTF-16 code units (the default position encoding), and
 * so do CodeMirror's string indices behind Obsidian's `{line, ch}`: the
 * conversion is a field rename, with no byte or code point arithmetic.
 */
import type { Range, TextEdit, WorkspaceEdit } from "vscode-languageserver-protocol";

export interface EditorPosition {
  line: number;
  ch: number;
}

export interface EditorChange {
  from: EditorPosition;
  to: EditorPosition;
  text: string;
}

/** The part of Obsidian's Editor this plugin uses. */
export interface EditorLike {
  getValue(): string;
  getCursor(which: "from" | "to"): EditorPosition;
  transaction(tx: { changes: EditorChange[] }): void;
}

export function toEditorPosition(position: { line: number; character: number }): EditorPosition {
  return { line: position.line, ch: position.character };
}

export function toLspRange(from: EditorPosition, to: EditorPosition): Range {
  return { start: { line: from.line, character: from.ch }, end: { line: to.line, character: to.ch } };
}

/** The text edits a WorkspaceEdit makes to `uri` (documentChanges or changes). */
export function editsFor(edit: WorkspaceEdit, uri: string): TextEdit[] {
  const edits: TextEdit[] = [];
  for (const change of edit.documentChanges ?? []) {
    if ("textDocument" in change && change.textDocument.uri === uri) {
      for (const e of change.edits) {
        if ("newText" in e) edits.push({ range: e.range, newText: e.newText });
      }
    }
  }
  edits.push(...(edit.changes?.[uri] ?? []));
  return edits;
}

/** All edits as ONE transaction, so a single undo restores the note. */
export function applyTextEdits(editor: EditorLike, edits: TextEdit[]): void {
  if (edits.length === 0) return;
  // Positions in one transaction refer to the document before it; order them from the end anyway.
  const changes = edits
    .map((e) => ({ from: toEditorPosition(e.range.start), to: toEditorPosition(e.range.end), text: e.newText }))
    .sort((a, b) => b.from.line - a.from.line || b.from.ch - a.from.ch);
  editor.transaction({ changes });
}
