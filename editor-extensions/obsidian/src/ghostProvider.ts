/**
 * The ghost text's provider: `voiced/inlineCompletion` through the LSP client,
 * `voiced.inlineAccepted` on accept. No `obsidian` import (main.ts says which
 * note a CodeMirror state belongs to).
 */
import type { EditorState } from "@codemirror/state";
import type { EditorView } from "@codemirror/view";
import type { InlineCompletionItem } from "vscode-languageserver-protocol";
import type { GhostProvider, GhostSuggestion, GhostTrigger } from "./ghostText";
import { INSTALL_HINT } from "./editorAction";
import { TRIGGER, VoicedNotFound, type VoicedLspClient } from "./lspClient";

export interface GhostProviderOptions {
  client(): VoicedLspClient;
  /** The note's URI for an editor state, or null when it has no file yet. */
  uriOf(state: EditorState): string | null;
  /** Errors and "nothing here" for an explicit request (an automatic one stays quiet). */
  info(message: string): void;
  error(message: string): void;
}

/** LSP position of an offset (UTF-16 code units, like CodeMirror's offsets). */
export function positionAt(state: EditorState, pos: number): { line: number; character: number } {
  const line = state.doc.lineAt(pos);
  return { line: line.number - 1, character: pos - line.from };
}

/** The text an item puts at the cursor (a snippet's value, or the plain text). */
export function suggestionOf(item: InlineCompletionItem | undefined): GhostSuggestion | null {
  if (!item) return null;
  const text = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
  return text ? { text, command: item.command } : null;
}

export function lspGhostProvider(options: GhostProviderOptions): GhostProvider {
  return {
    request(view: EditorView, pos: number, trigger: GhostTrigger, partial: (s: GhostSuggestion) => void) {
      const uri = options.uriOf(view.state);
      if (!uri) {
        if (trigger === "invoked") options.error("voiced: save the note first.");
        return null;
      }
      let latest: GhostSuggestion | null = null;
      const request = options.client().inlineCompletion(uri, view.state.doc.toString(), positionAt(view.state, pos),
        TRIGGER[trigger], (items) => {
          latest = suggestionOf(items[0]) ?? latest;
          if (latest) partial(latest);
        });
      let cancelled = false;
      const result = request.items.then((items) => {
        // The final answer decides: empty means the text no longer fits (the note changed meanwhile).
        const suggestion = suggestionOf(items[0]);
        if (!suggestion && trigger === "invoked" && !cancelled) {
          options.info("voiced: nothing to continue here: put the cursor at the end of a paragraph.");
        }
        return suggestion;
      }, (err: unknown) => {
        if (!cancelled && trigger === "invoked") {
          options.error(err instanceof VoicedNotFound
            ? `voiced: ${err.message} ${INSTALL_HINT}`
            : `voiced: Continue in my voice failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        throw err;
      });
      return {
        result,
        cancel() {
          cancelled = true;
          request.cancel();
        },
      };
    },
    accepted(suggestion: GhostSuggestion, view: EditorView) {
      const command = suggestion.command;
      const uri = options.uriOf(view.state);
      if (!command || !uri) return;
      // The server reads the accepted text from its copy of the note: send the note first.
      options.client().executeCommand(command, { uri, text: view.state.doc.toString() }).catch((err: unknown) =>
        console.warn("voiced: recording the accepted ghost text failed", err));
    },
  };
}
