/** The `voiced` settings section, read in one place. */
import * as vscode from "vscode";
import { documentLanguages } from "./summary";

export const SECTION = "voiced";

export interface Settings {
  path: string;
  voice: string;
  temperature: number | null;
  languages: string[];
  /** Review a rewrite in VS Code's refactor preview before it lands (the server annotates the edit). */
  preview: { multiParagraph: boolean; singleParagraph: boolean };
  /** Ghost-text Continue: ask on a pause in typing too, after this many milliseconds (explicit trigger always works). */
  inline: { autoTrigger: boolean; debounceMs: number };
}

export function getSettings(scope?: vscode.ConfigurationScope): Settings {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  return {
    path: config.get<string>("path", ""),
    voice: config.get<string>("voice", ""),
    temperature: config.get<number | null>("temperature", null),
    languages: config.get<string[]>("languages", []),
    preview: {
      multiParagraph: config.get<boolean>("preview.multiParagraph", true),
      singleParagraph: config.get<boolean>("preview.singleParagraph", false),
    },
    inline: {
      autoTrigger: config.get<boolean>("inline.autoTrigger", false),
      debounceMs: config.get<number>("inline.debounceMs", 600),
    },
  };
}

/** Document selector: built-in prose languages plus the user's, on disk and unsaved. */
export function documentSelector(settings: Settings): { language: string; scheme: string }[] {
  return documentLanguages(settings.languages).flatMap((language) => [
    { language, scheme: "file" },
    { language, scheme: "untitled" },
  ]);
}

/** Changes that need a new server process (the rest reach it through workspace/configuration). */
export function needsRestart(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(`${SECTION}.path`) || event.affectsConfiguration(`${SECTION}.languages`);
}
