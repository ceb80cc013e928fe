/**
 * Ghost text in the CodeMirror 6 editor: "Continue in my voice" shown dimmed
 * at the cursor, Tab accepts, Escape or typing (or moving away) dismisses and
 * cancels the request still in flight. No `obsidian` import: Obsidian's editor
 * is CodeMirror 6, and the tests run the same extension in a real EditorView.
 *
 * The state is one StateField (the ghost shown, or none) that every edit or
 * cursor move clears; a ViewPlugin per editor owns the request in flight and
 * the debounce timer of the automatic trigger.
 */
import { Prec, StateEffect, StateField, type Extension } from "@codemirror/state";
import { Decoration, EditorView, keymap, ViewPlugin, WidgetType, type ViewUpdate } from "@codemirror/view";

/** What the server proposed; `command` is executed on accept. */
export interface GhostSuggestion {
  text: string;
  command?: { title: string; command: string; arguments?: unknown[] };
}

export type GhostTrigger = "invoked" | "automatic";

/** One request in flight. */
export interface GhostRequest {
  result: Promise<GhostSuggestion | null>;
  cancel(): void;
}

export interface GhostProvider {
  /** Ask for a continuation at `pos`; `partial` shows the text so far while it streams. Null: nothing to ask. */
  request(view: EditorView, pos: number, trigger: GhostTrigger,
          partial: (suggestion: GhostSuggestion) => void): GhostRequest | null;
  /** The writer accepted it (Tab); `view` already holds the inserted text. */
  accepted(suggestion: GhostSuggestion, view: EditorView): void;
}

export interface GhostOptions {
  /** Ask by itself after a pause in typing (read at each keystroke, so a setting takes effect at once). */
  autoTrigger(): boolean;
  debounceMs(): number;
}

interface Ghost {
  pos: number;
  suggestion: GhostSuggestion;
  /** Still streaming: Tab takes the text so far and stops the rest. */
  partial: boolean;
  /** Part of it was taken already (a word at a time): the provider has been told. */
  taken?: boolean;
}

const setGhost = StateEffect.define<Ghost | null>();

const ghostField = StateField.define<Ghost | null>({
  create: () => null,
  update(ghost, tr) {
    for (const effect of tr.effects) if (effect.is(setGhost)) return effect.value;
    // Any edit or cursor move dismisses it.
    return tr.docChanged || tr.selection ? null : ghost;
  },
  provide: (field) => EditorView.decorations.from(field, (ghost) => ghost
    ? Decoration.set([Decoration.widget({ widget: new GhostWidget(ghost.suggestion.text), side: 1 }).range(ghost.pos)])
    : Decoration.none),
});

class GhostWidget extends WidgetType {
  constructor(readonly text: string) {
    super();
  }
  eq(other: GhostWidget): boolean {
    return other.text === this.text;
  }
  toDOM(view: EditorView): HTMLElement {
    const span = view.dom.ownerDocument.createElement("span");
    span.className = "voiced-ghost-text";
    span.setAttribute("aria-hidden", "true");
    span.textContent = this.text;
    return span;
  }
  ignoreEvent(): boolean {
    return true;
  }
}

/** The ghost currently shown in `view`, if any (its text, where it sits). */
export function ghostAt(view: EditorView): { pos: number; text: string } | null {
  const ghost = view.state.field(ghostField, false);
  return ghost ? { pos: ghost.pos, text: ghost.suggestion.text } : null;
}

/** The ghost-text extension for one provider; `extension` goes into every editor, the methods act on one. */
export class GhostText {
  readonly extension: Extension;
  private readonly plugin: ViewPlugin<GhostController>;

  constructor(provider: GhostProvider, options: GhostOptions) {
    const plugin = ViewPlugin.define((view) => new GhostController(view, provider, options));
    this.plugin = plugin;
    this.extension = [
      ghostField,
      plugin,
      Prec.highest(keymap.of([
        { key: "Tab", run: (view) => view.plugin(plugin)?.accept() ?? false },
        // Like VS Code: take the next word, the rest stays as ghost text.
        { key: "Mod-ArrowRight", run: (view) => view.plugin(plugin)?.acceptWord() ?? false },
        { key: "Escape", run: (view) => view.plugin(plugin)?.dismiss() ?? false },
      ])),
    ];
  }

  /** "Continue in my voice (ghost text)": ask now, at the cursor. False when this editor lacks the extension. */
  trigger(view: EditorView): boolean {
    const controller = view.plugin(this.plugin);
    controller?.trigger("invoked");
    return controller !== null;
  }

  accept(view: EditorView): boolean {
    return view.plugin(this.plugin)?.accept() ?? false;
  }

  acceptWord(view: EditorView): boolean {
    return view.plugin(this.plugin)?.acceptWord() ?? false;
  }

  dismiss(view: EditorView): boolean {
    return view.plugin(this.plugin)?.dismiss() ?? false;
  }

  /** Whether a request is in flight in `view`. */
  pending(view: EditorView): boolean {
    return view.plugin(this.plugin)?.inFlight ?? false;
  }
}

class GhostController {
  private request?: GhostRequest;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly view: EditorView, private readonly provider: GhostProvider,
              private readonly options: GhostOptions) {}

  get inFlight(): boolean {
    return this.request !== undefined;
  }

  update(update: ViewUpdate): void {
    if (!update.docChanged && !update.selectionSet) return;
    // The writer typed or moved: whatever was asked for this spot is stale.
    this.cancel();
    if (update.docChanged && this.options.autoTrigger()
        && update.transactions.some((tr) => tr.isUserEvent("input.type"))) {
      this.timer = setTimeout(() => this.trigger("automatic"), this.options.debounceMs());
    }
  }

  trigger(trigger: GhostTrigger): void {
    this.cancel();
    if (this.view.state.field(ghostField)) this.view.dispatch({ effects: setGhost.of(null) });
    const { main } = this.view.state.selection;
    if (!main.empty) return;
    const pos = main.head;
    const doc = this.view.state.doc;
    let request: GhostRequest | null = null;
    const current = () => request !== null && this.request === request && this.view.state.doc === doc
      && this.view.state.selection.main.head === pos;
    const show = (suggestion: GhostSuggestion | null, partial: boolean) => {
      if (!current()) return;
      if (!partial) this.request = undefined;
      this.view.dispatch({ effects: setGhost.of(suggestion?.text ? { pos, suggestion, partial } : null) });
    };
    request = this.provider.request(this.view, pos, trigger, (suggestion) => show(suggestion, true));
    if (!request) return;
    this.request = request;
    const mine = request;
    mine.result.then((suggestion) => show(suggestion, false), () => {
      if (this.request === mine) this.request = undefined; // cancelled or failed: the provider said why
    });
  }

  /** Tab: insert the ghost text and tell the provider. False (Tab indents as usual) when none is shown. */
  accept(): boolean {
    const ghost = this.view.state.field(ghostField);
    if (!ghost) return false;
    if (ghost.partial) this.cancel();
    const { pos, suggestion } = ghost;
    this.view.dispatch({
      changes: { from: pos, insert: suggestion.text },
      selection: { anchor: pos + suggestion.text.length },
      effects: setGhost.of(null),
      userEvent: "input.complete",
      scrollIntoView: true,
    });
    if (!ghost.taken) this.provider.accepted(suggestion, this.view);
    return true;
  }

  /** Take the ghost text's next word (with the spaces before it); the rest stays shown. */
  acceptWord(): boolean {
    const ghost = this.view.state.field(ghostField);
    if (!ghost) return false;
    const word = /^\s*\S+/.exec(ghost.suggestion.text)?.[0] ?? ghost.suggestion.text;
    if (word.length >= ghost.suggestion.text.length) return this.accept();
    if (ghost.partial) this.cancel();
    const { pos, suggestion } = ghost;
    const end = pos + word.length;
    this.view.dispatch({
      changes: { from: pos, insert: word },
      selection: { anchor: end },
      effects: setGhost.of({ pos: end, suggestion: { ...suggestion, text: suggestion.text.slice(word.length) },
        partial: false, taken: true }),
      userEvent: "input.complete",
      scrollIntoView: true,
    });
    if (!ghost.taken) this.provider.accepted(suggestion, this.view);
    return true;
  }

  /** Escape: drop the ghost and the request; false (Escape does what it did) when there was neither. */
  dismiss(): boolean {
    const had = this.request !== undefined || this.view.state.field(ghostField) !== null;
    this.cancel();
    if (this.view.state.field(ghostField)) this.view.dispatch({ effects: setGhost.of(null) });
    return had;
  }

  private cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const request = this.request;
    this.request = undefined;
    request?.cancel();
  }

  destroy(): void {
    this.cancel();
  }
}
