/**
 * A stand-in for the parts of the `obsidian` module the plugin uses (Obsidian
 * itself cannot run here). The editor keeps an undo stack of transactions.
 */
import { StateField } from "@codemirror/state";
import type { EditorChange, EditorPosition } from "../src/edits";

/** Obsidian's field naming the note of an editor; a test gives its value with `editorInfoField.init(...)`. */
export const editorInfoField = StateField.define<{ file: { path: string } | null } | null>({
  create: () => null,
  update: (value) => value,
});

type KeyListener = (evt: KeyboardEvent, ctx: unknown) => unknown;

/** Obsidian's keymap scope: handlers by key; `press` plays a key as Obsidian would. */
export class Scope {
  handlers: { modifiers: string[] | null; key: string | null; func: KeyListener }[] = [];
  register(modifiers: string[] | null, key: string | null, func: KeyListener): unknown {
    const handler = { modifiers, key, func };
    this.handlers.push(handler);
    return handler;
  }
  press(key: string, modifiers: string[] = []): boolean {
    const handler = this.handlers.find((h) => h.key === key
      && (h.modifiers === null || h.modifiers.join() === modifiers.join()));
    if (!handler) return false;
    handler.func(new KeyboardEvent("keydown", { key }), {});
    return true;
  }
}

/** Obsidian's Modal on the test's DOM (jsdom): open() adds it to the page, close() removes it. */
export class Modal {
  static open: Modal[] = [];
  scope = new Scope();
  containerEl: HTMLElement;
  modalEl: HTMLElement;
  titleEl: HTMLElement;
  contentEl: HTMLElement;
  constructor(readonly app: unknown) {
    this.containerEl = document.createElement("div");
    this.containerEl.className = "modal-container";
    this.modalEl = this.containerEl.appendChild(document.createElement("div"));
    this.modalEl.className = "modal";
    this.titleEl = this.modalEl.appendChild(document.createElement("div"));
    this.titleEl.className = "modal-title";
    this.contentEl = this.modalEl.appendChild(document.createElement("div"));
    this.contentEl.className = "modal-content";
  }
  open(): void {
    document.body.append(this.containerEl);
    Modal.open.push(this);
    this.onOpen();
  }
  close(): void {
    if (!Modal.open.includes(this)) return;
    Modal.open = Modal.open.filter((m) => m !== this);
    this.containerEl.remove();
    this.onClose();
  }
  setTitle(title: string): this {
    this.titleEl.textContent = title;
    return this;
  }
  onOpen(): void {}
  onClose(): void {}
}

export class Notice {
  static shown: string[] = [];
  hidden = false;
  constructor(readonly message: string, readonly timeout?: number) {
    Notice.shown.push(message);
  }
  hide(): void {
    this.hidden = true;
  }
}

export class FakeEditor {
  private undoStack: string[] = [];
  private from: EditorPosition = { line: 0, ch: 0 };
  private to: EditorPosition = { line: 0, ch: 0 };
  constructor(private text: string) {}

  getValue(): string {
    return this.text;
  }
  setSelection(from: EditorPosition, to: EditorPosition = from): void {
    this.from = from;
    this.to = to;
  }
  getCursor(which: "from" | "to"): EditorPosition {
    return which === "from" ? this.from : this.to;
  }
  posToOffset(pos: EditorPosition): number {
    const lines = this.text.split("\n");
    if (pos.line >= lines.length || pos.ch > lines[pos.line].length) throw new Error(`bad position ${JSON.stringify(pos)}`);
    return lines.slice(0, pos.line).reduce((n, l) => n + l.length + 1, 0) + pos.ch;
  }
  /** Like CodeMirror: every change's positions refer to the text before the transaction; one undo step. */
  transaction(tx: { changes?: EditorChange[] }): void {
    const changes = (tx.changes ?? []).map((c) => ({ from: this.posToOffset(c.from), to: this.posToOffset(c.to ?? c.from), text: c.text }));
    changes.sort((a, b) => b.from - a.from);
    this.undoStack.push(this.text);
    let text = this.text;
    for (const c of changes) text = text.slice(0, c.from) + c.text + text.slice(c.to);
    this.text = text;
  }
  undo(): void {
    const previous = this.undoStack.pop();
    if (previous !== undefined) this.text = previous;
  }
}

type Handler = (...args: unknown[]) => unknown;

export class Workspace {
  handlers = new Map<string, Handler>();
  on(name: string, handler: Handler): { name: string } {
    this.handlers.set(name, handler);
    return { name };
  }
  getActiveViewOfType(_type: unknown): null {
    return null;
  }
}

export class MarkdownView {}

export class App {
  workspace = new Workspace();
  data: unknown = null;
  constructor(readonly basePath: string) {}
  vault = {
    adapter: { getBasePath: () => this.basePath },
    handlers: new Map<string, Handler>(),
    on(name: string, handler: Handler): { name: string } {
      this.handlers.set(name, handler);
      return { name };
    },
  };
}

export class MenuItem {
  title = "";
  click?: () => unknown;
  setTitle(title: string): this {
    this.title = title;
    return this;
  }
  setIcon(_icon: string): this {
    return this;
  }
  onClick(click: () => unknown): this {
    this.click = click;
    return this;
  }
}

export class Menu {
  items: MenuItem[] = [];
  addItem(build: (item: MenuItem) => unknown): this {
    const item = new MenuItem();
    build(item);
    this.items.push(item);
    return this;
  }
}

export class Plugin {
  commands: { id: string; name: string; editorCallback?: Handler }[] = [];
  constructor(readonly app: App, readonly manifest: unknown = {}) {}
  async loadData(): Promise<unknown> {
    return this.app.data;
  }
  async saveData(data: unknown): Promise<void> {
    this.app.data = data;
  }
  addCommand(command: { id: string; name: string; editorCallback?: Handler }): void {
    this.commands.push(command);
  }
  addSettingTab(_tab: unknown): void {}
  extensions: unknown[] = [];
  registerEditorExtension(extension: unknown): void {
    this.extensions.push(extension);
  }
  registerEvent(_ref: unknown): void {}
}

export class PluginSettingTab {
  containerEl = { empty() {} };
  constructor(readonly app: App, readonly plugin: Plugin) {}
}

export class Setting {
  constructor(_el: unknown) {}
}
