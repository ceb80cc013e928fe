/**
 * Keep the server's copy of an open note current while the writer edits it, so
 * the server can tell what became of a rewrite or a ghost text it proposed
 * (kept, edited, undone). Only notes the server already has are sent; a pause
 * in typing sends the whole text once. No `obsidian` import.
 */
import type { EditorState, Extension } from "@codemirror/state";
import { EditorView, ViewPlugin, type ViewUpdate } from "@codemirror/view";

export function documentSync(send: (state: EditorState) => void, delayMs = 500): Extension {
  return ViewPlugin.fromClass(class {
    private timer?: ReturnType<typeof setTimeout>;
    constructor(private readonly view: EditorView) {}
    update(update: ViewUpdate): void {
      if (!update.docChanged) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => send(this.view.state), delayMs);
    }
    destroy(): void {
      // The last edits before the note closes still count.
      if (this.timer !== undefined) send(this.view.state);
      clearTimeout(this.timer);
    }
  });
}
