/** The plugin's settings (no `obsidian` import). */
export interface VoicedSettings {
  /** Path to the voiced executable; "voiced" looks it up on PATH. */
  voicedPath: string;
  /** Voice to offer first; empty: the voice whose folder holds the note. */
  voice: string;
}

export const DEFAULT_SETTINGS: VoicedSettings = { voicedPath: "voiced", voice: "" };
