/** The plugin's settings (no `obsidian` import). */
export interface VoicedSettings {
  /** Path to the voiced executable; "voiced" looks it up on PATH. */
  voicedPath: string;
  /** Voice to offer first; empty: the voice whose folder holds the note. */
  voice: string;
  /** Show a rewrite of more than one paragraph before it lands. */
  previewMultiParagraph: boolean;
  /** Show a rewrite of a single paragraph before it lands. */
  previewSingleParagraph: boolean;
  /** Ask for ghost text by itself after a pause in typing. */
  inlineAutoTrigger: boolean;
  /** The pause, in milliseconds. */
  inlineDebounceMs: number;
}

export const DEFAULT_SETTINGS: VoicedSettings = {
  voicedPath: "voiced",
  voice: "",
  previewMultiParagraph: true,
  previewSingleParagraph: false,
  inlineAutoTrigger: false,
  inlineDebounceMs: 600,
};

/** The `voiced` settings section the server reads (workspace/configuration, didChangeConfiguration). */
export function serverSettings(settings: VoicedSettings): Record<string, unknown> {
  return {
    ...(settings.voice ? { voice: settings.voice } : {}),
    preview: { multiParagraph: settings.previewMultiParagraph, singleParagraph: settings.previewSingleParagraph },
    inline: { autoTrigger: settings.inlineAutoTrigger, debounceMs: settings.inlineDebounceMs },
  };
}

/** A debounce typed in the settings: a whole number of milliseconds, or null when it is not one. */
export function parseDebounce(value: string): number | null {
  const ms = Number(value.trim());
  return Number.isInteger(ms) && ms >= 50 && ms <= 10_000 ? ms : null;
}
