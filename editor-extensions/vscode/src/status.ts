/** The language status item: the active adapter version, and a spinner while voiced works. */
import * as vscode from "vscode";
import { ServerStatus, summarize } from "./summary";

export class VoicedStatus implements vscode.Disposable {
  private readonly item: vscode.LanguageStatusItem;
  private pending = 0;

  constructor(selector: vscode.DocumentSelector) {
    this.item = vscode.languages.createLanguageStatusItem("voiced.status", selector);
    this.item.name = "voiced";
    this.item.text = "voiced: starting";
    this.item.command = { title: "Status", command: "voiced.showStatus" };
  }

  set selector(selector: vscode.DocumentSelector) {
    this.item.selector = selector;
  }

  show(status: ServerStatus | null | undefined, preferredVoice: string): void {
    const { text, detail } = summarize(status, preferredVoice);
    this.item.text = text;
    this.item.detail = detail;
    this.item.severity = status ? vscode.LanguageStatusSeverity.Information : vscode.LanguageStatusSeverity.Warning;
  }

  problem(text: string, detail: string): void {
    this.item.text = text;
    this.item.detail = detail;
    this.item.severity = vscode.LanguageStatusSeverity.Error;
  }

  /** Spins while any tracked promise is pending (rewrites from the menu and the light bulb alike). */
  async whileBusy<T>(work: Thenable<T>): Promise<T> {
    this.pending += 1;
    this.item.busy = true;
    try {
      return await work;
    } finally {
      this.pending -= 1;
      this.item.busy = this.pending > 0;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
