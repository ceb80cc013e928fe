/**
 * Obsidian glue: commands, the editor context menu, notices and the settings
 * tab. The LSP work lives in lspClient.ts / editorAction.ts.
 */
import { Notice, Plugin, PluginSettingTab, Setting, type App, type Editor, type MarkdownFileInfo,
  type MarkdownView, type Menu } from "obsidian";
import { join } from "node:path";
import { runInEditor, type Feedback } from "./editorAction";
import { TITLES, VoicedLspClient, type Task } from "./lspClient";
import { DEFAULT_SETTINGS, type VoicedSettings } from "./settings";

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

  async onload(): Promise<void> {
    this.settings = { ...DEFAULT_SETTINGS, ...((await this.loadData()) ?? {}) };
    this.addSettingTab(new VoicedSettingTab(this.app, this));
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
    return runInEditor(this.lsp(), editor, VoicedLspClient.uriFor(this.pathOf(file.path)), task, feedback);
  }

  private pathOf(vaultPath: string): string {
    const adapter = this.app.vault.adapter as { getBasePath?: () => string };
    return adapter.getBasePath ? join(adapter.getBasePath(), vaultPath) : vaultPath;
  }

  private lsp(): VoicedLspClient {
    this.client ??= new VoicedLspClient({
      command: this.settings.voicedPath.trim() || DEFAULT_SETTINGS.voicedPath,
      settings: () => (this.settings.voice ? { voice: this.settings.voice } : {}),
      onMessage: (type, message) => void new Notice(message, type === MESSAGE_ERROR ? 10000 : 5000),
    });
    return this.client;
  }

  async saveSettings(): Promise<void> {
    await this.saveData(this.settings);
    // A new path or voice takes effect with a fresh server.
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
  }
}
