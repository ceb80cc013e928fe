/**
 * The preview of a rewrite before it lands (the server's `voiced/preview`
 * request): the original and the rewrite side by side, the changed words
 * marked, Accept / Reject. Escape, or closing the modal any other way, rejects:
 * nothing changes unless the writer says so.
 */
import { App, Modal } from "obsidian";
import type { PreviewOutcome, PreviewParams } from "./lspClient";
import { wordDiff, type Segment } from "./wordDiff";

const MARK: Record<Segment["kind"], string | null> = { same: null, removed: "del", added: "ins" };

export class PreviewModal extends Modal {
  private outcome?: PreviewOutcome;
  private closed = false;

  constructor(app: App, private readonly params: PreviewParams, private readonly decided: (outcome: PreviewOutcome) => void) {
    super(app);
  }

  onOpen(): void {
    this.modalEl.classList.add("voiced-preview-modal");
    this.titleEl.textContent = this.params.label || "Rewrite in my voice";
    const { original, rewrite } = wordDiff(this.params.original, this.params.proposal);
    const columns = child(this.contentEl, "div", "voiced-preview");
    column(columns, "voiced-preview-original", "Original", original);
    column(columns, "voiced-preview-rewrite", "Rewrite", rewrite);
    const buttons = child(this.contentEl, "div", "modal-button-container");
    const accept = child(buttons, "button", "mod-cta voiced-preview-accept", "Accept");
    accept.addEventListener("click", () => this.choose("accepted"));
    const reject = child(buttons, "button", "voiced-preview-reject", "Reject");
    reject.addEventListener("click", () => this.choose("rejected"));
    this.scope.register([], "Escape", () => {
      this.choose("rejected");
      return false;
    });
    this.scope.register(["Mod"], "Enter", () => {
      this.choose("accepted");
      return false;
    });
    accept.focus();
  }

  onClose(): void {
    this.closed = true;
    this.choose("rejected");
    this.contentEl.replaceChildren();
  }

  private choose(outcome: PreviewOutcome): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.decided(outcome);
    if (!this.closed) this.close();
  }
}

/** Opens the preview; resolves with the writer's answer. */
export function showPreview(app: App, params: PreviewParams): Promise<PreviewOutcome> {
  return new Promise((resolve) => new PreviewModal(app, params, resolve).open());
}

function column(parent: HTMLElement, cls: string, heading: string, segments: Segment[]): void {
  const side = child(parent, "div", `voiced-preview-side ${cls}`);
  child(side, "div", "voiced-preview-heading", heading);
  const body = child(side, "div", "voiced-preview-text");
  for (const segment of segments) {
    const tag = MARK[segment.kind];
    if (tag) child(body, tag, `voiced-preview-${segment.kind}`, segment.text);
    else body.append(segment.text);
  }
}

/** Plain DOM (not Obsidian's createEl helpers), so the tests' DOM can build it too. */
function child(parent: HTMLElement, tag: string, cls: string, text?: string): HTMLElement {
  const el = parent.ownerDocument.createElement(tag);
  el.className = cls;
  if (text !== undefined) el.textContent = text;
  parent.append(el);
  return el;
}
