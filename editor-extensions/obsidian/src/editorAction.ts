/**
 * One "Rewrite/Continue in my voice" on an editor: send the note, ask the
 * server, apply its edit as one transaction. No `obsidian` import.
 */
import { applyTextEdits, toLspRange, type EditorLike } from "./edits";
import { TITLES, VoicedNotFound, type PreviewHandler, type Task, type VoicedLspClient } from "./lspClient";

export interface Feedback {
  /** A message that stays until `done` is called. */
  working(message: string): { done(): void };
  error(message: string): void;
  info(message: string): void;
  /** Show the server's preview of a rewrite and return the writer's choice. */
  preview?: PreviewHandler;
}

export const INSTALL_HINT =
  "Install it (`pipx install voiced`, then `voiced init` and `voiced add FOLDER`) " +
  "and set its full path in Settings → voiced (for example ~/.local/bin/voiced).";

/** Returns true when the note was changed. */
export async function runInEditor(client: VoicedLspClient, editor: EditorLike, uri: string, task: Task,
                                  feedback: Feedback): Promise<boolean> {
  const text = editor.getValue();
  const range = toLspRange(editor.getCursor("from"), editor.getCursor("to"));
  const notice = feedback.working(`voiced: ${TITLES[task].toLowerCase()}…`);
  try {
    const preview = feedback.preview;
    const edits = await client.run(task, uri, text, range, preview && ((params) => {
      notice.done(); // the model has written; the preview takes over
      return preview(params);
    }));
    if (edits === null) {
      feedback.info(task === "continue"
        ? "voiced: put the cursor at the end of a paragraph to continue it."
        : "voiced: nothing to rewrite here: select prose, or put the cursor in a paragraph.");
      return false;
    }
    if (edits.length === 0) return false; // rejected in the preview, or the server said why (window/showMessage)
    if (editor.getValue() !== text) {
      feedback.error("voiced: the note changed while the model was writing; nothing was replaced. Try again.");
      return false;
    }
    applyTextEdits(editor, edits);
    return true;
  } catch (err) {
    feedback.error(err instanceof VoicedNotFound
      ? `voiced: ${err.message} ${INSTALL_HINT}`
      : `voiced: ${TITLES[task]} failed: ${err instanceof Error ? err.message : String(err)}${
        client.serverLog ? `\n${client.serverLog.trim().split("\n").slice(-3).join("\n")}` : ""}`);
    return false;
  } finally {
    notice.done();
  }
}
