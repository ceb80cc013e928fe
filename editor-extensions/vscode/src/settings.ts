/** The `voiced` settings section, read in one place. */
import * as vscode from "vscode";
import { documentLanguages } from "./summary";

export const SECTION = "voiced";

export interface Settings {
  path: string;
  voice: string;
  temperature: number | null;
  languages: string[];
}

export function getSettings(scope?: vscode.ConfigurationScope): Settings {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  return {
    path: config.get<string>("path", ""),
    voice: config.get<string>("voice", ""),
    temperature: config.get<number | null>("temperature", null),
    languages: config.get<string[]>("languages", []),
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
