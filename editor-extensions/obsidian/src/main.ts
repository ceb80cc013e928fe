/**
 * Obsidian glue: commands, the editor context menu, notices, the preview
 * modal, the ghost-text editor extension and the settings tab. The LSP work
 * lives in lspClient.ts / editorAction.ts / ghostProvider.ts.
 */
import type { EditorState } from "@codemirror/state";
import type { EditorView } from "@codemirror/view";
import { editorInfoField, MarkdownView, Notice, Plugin, PluginSettingTab, Setting, type App, type Editor,
  type MarkdownFileInfo, type Menu, type TAbstractFile } from "obsidian";
import { join } from "node:path";
import { runInEditor, type Feedback } from "./editorAction";
import { documentSync } from "./documentSync";
import { GhostText } from "./ghostText";
import { lspGhostProvider } from "./ghostProvider";
import { TITLES, VoicedLspClient, type Task } from "./lspClient";
import { showPreview } from "./previewModal";
import { DEFAULT_SETTINGS, parseDebounce, serverSettings, type VoicedSettings } from "./settings";

export const GHOST_TITLE = "Continue in my voice (ghost text)";

const MESSAGE_ERROR = 1;

const feedback: Feedback = {
  working(message) {
    const notice = new Notice(message, 0);
    return { done: () => notice.hide() };
  },
  error: (message) => void new Notice(message, 10000),
  info: (message) => void new Notice(message, 5000),
};

export default class VoicedPlugin extends Plugin {
  settings: VoicedSettings = { ...DEFAULT_SETTINGS };
  private client?: VoicedLspClient;
  private readonly feedback: Feedback = { ...feedback, preview: (params) => showPreview(this.app, params) };
  readonly ghost = new GhostText(lspGhostProvider({
    client: () => this.lsp(),
    uriOf: (state) => this.uriOf(state),
    info: feedback.info,
    error: feedback.error,
  }), {
    autoTrigger: () => this.settings.inlineAutoTrigger,
    debounceMs: () => this.settings.inlineDebounceMs,
  });

  async onload(): Promise<void> {
    this.settings = { ...DEFAULT_SETTINGS, ...((await this.loadData()) ?? {}) };
    this.addSettingTab(new VoicedSettingTab(this.app, this));
    this.registerEditorExtension([this.ghost.extension, documentSync((state) => {
      const uri = this.uriOf(state);
      if (uri) void this.client?.documentChanged(uri, state.doc.toString()).catch(() => undefined);
    })]);
    this.registerEvent(this.app.vault.on("modify", (file: TAbstractFile) => {
      const view = this.app.workspace.getActiveViewOfType(MarkdownView);
      if (view?.file?.path !== file.path || !this.client) return;
      void this.client.documentSaved(VoicedLspClient.uriFor(this.pathOf(file.path)), view.editor.getValue())
        .catch(() => undefined);
    }));
    this.addCommand({
      id: "continue-in-my-voice-ghost-text",
      name: GHOST_TITLE,
      editorCallback: (editor) => {
        // Obsidian's Editor wraps a CodeMirror 6 EditorView (`cm`).
        const view = (editor as unknown as { cm?: EditorView }).cm;
        if (!view || !this.ghost.trigger(view)) feedback.error("voiced: ghost text needs the live editor (not the legacy one).");
      },
    });
    for (const task of Object.keys(TITLES) as Task[]) {
      this.addCommand({
        id: `${task}-in-my-voice`,
        name: TITLES[task],
        editorCallback: (editor, ctx) => this.run(task, editor, ctx),
      });
    }
    this.registerEvent(this.app.workspace.on("editor-menu", (menu: Menu, editor: Editor,
                                                             info: MarkdownView | MarkdownFileInfo) => {
      for (const task of Object.keys(TITLES) as Task[]) {
        menu.addItem((item) => item.setTitle(TITLES[task]).setIcon("feather")
          .onClick(() => this.run(task, editor, info)));
      }
    }));
  }

  async onunload(): Promise<void> {
    await this.client?.stop();
  }

  /** Runs one action on the note in `info`; resolves when it is applied (or failed). */
  run(task: Task, editor: Editor, info: MarkdownView | MarkdownFileInfo): Promise<boolean> {
    const file = info.file;
    if (!file) {
      feedback.error("voiced: save the note first.");
      return Promise.resolve(false);
    }
    return runInEditor(this.lsp(), editor, VoicedLspClient.uriFor(this.pathOf(file.path)), task, this.feedback);
  }

  /** The URI of the note an editor state shows, or null (no file yet). */
  uriOf(state: EditorState): string | null {
    const file = state.field(editorInfoField, false)?.file;
    return file ? VoicedLspClient.uriFor(this.pathOf(file.path)) : null;
  }

  private pathOf(vaultPath: string): string {
    const adapter = this.app.vault.adapter as { getBasePath?: () => string };
    return adapter.getBasePath ? join(adapter.getBasePath(), vaultPath) : vaultPath;
  }

  private lsp(): VoicedLspClient {
    this.client ??= new VoicedLspClient({
      command: this.settings.voicedPath.trim() || DEFAULT_SETTINGS.voicedPath,
      settings: () => serverSettings(this.settings),
      preview: true,
      onMessage: (type, message) => void new Notice(message, type === MESSAGE_ERROR ? 10000 : 5000),
    });
    return this.client;
  }

  /** `restart`: a new path or voice takes effect with a fresh server; the rest is told to the running one. */
  async saveSettings(restart = true): Promise<void> {
    await this.saveData(this.settings);
    if (!restart) {
      await this.client?.configurationChanged();
      return;
    }
    const old = this.client;
    this.client = undefined;
    await old?.stop();
  }
}

class VoicedSettingTab extends PluginSettingTab {
  constructor(app: App, private readonly plugin: VoicedPlugin) {
    super(app, plugin);
  }

  display(): void {
    const { containerEl } = this;
    containerEl.empty();
    new Setting(containerEl)
      .setName("Path to voiced")
      .setDesc("The voiced executable, e.g. /home/you/.local/bin/voiced (Obsidian may not see your shell's PATH).")
      .addText((text) => text.setPlaceholder("voiced").setValue(this.plugin.settings.voicedPath)
        .onChange(async (value) => {
          this.plugin.settings.voicedPath = value;
          await this.plugin.saveSettings();
        }));
    new Setting(containerEl)
      .setName("Voice")
      .setDesc("The voice to offer first. Empty: the voice whose folder holds the note (`voiced voices` lists them).")
      .addText((text) => text.setValue(this.plugin.settings.voice).onChange(async (value) => {
        this.plugin.settings.voice = value.trim();
        await this.plugin.saveSettings();
      }));
    const toggle = (name: string, desc: string, key: "previewMultiParagraph" | "previewSingleParagraph" | "inlineAutoTrigger") =>
      new Setting(containerEl).setName(name).setDesc(desc)
        .addToggle((t) => t.setValue(this.plugin.settings[key]).onChange(async (value) => {
          this.plugin.settings[key] = value;
          await this.plugin.saveSettings(false);
        }));
    toggle("Preview rewrites of several paragraphs",
      "Show the original and the rewrite side by side, changed words marked, before it replaces anything.",
      "previewMultiParagraph");
    toggle("Preview rewrites of one paragraph", "The same for a rewrite of a single paragraph.", "previewSingleParagraph");
    toggle("Ghost text while typing",
      "After a pause in typing, show a continuation in your voice as ghost text (Tab accepts, Escape dismisses). " +
      `Off: only the command "${GHOST_TITLE}" shows it.`, "inlineAutoTrigger");
    new Setting(containerEl)
      .setName("Ghost text pause (ms)")
      .setDesc("How long to wait after the last keystroke before asking (50 to 10000).")
      .addText((text) => text.setValue(String(this.plugin.settings.inlineDebounceMs)).onChange(async (value) => {
        const ms = parseDebounce(value);
        if (ms === null) return;
        this.plugin.settings.inlineDebounceMs = ms;
        await this.plugin.saveSettings(false);
      }));
  }
}
