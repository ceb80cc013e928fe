/** Pure helpers that turn the server's `voiced.status` result into words for the status item. */

export interface EngineVoice {
  adapter_version?: number | string | null;
  [key: string]: unknown;
}

export interface Training {
  state?: string;
  voice?: string;
  step?: number;
  total_steps?: number;
  [key: string]: unknown;
}

/** The `workspace/executeCommand` params for voiced.status: quiet only returns it, loud also shows a summary. */
export function statusRequest(quiet: boolean): { command: string; arguments: unknown[] } {
  return { command: "voiced.status", arguments: quiet ? [{ quiet: true }] : [] };
}

/** One adapter version of a voice, as `voiced.status` lists it under `adapters`. */
export interface AdapterVersion {
  version: number;
  status: string;
  active?: boolean;
  reason?: string;
  created?: string | null;
  finished?: string | null;
  scores?: { test_nll?: { base?: number; candidate?: number } } & Record<string, unknown>;
  words?: number | null;
}

export interface ServerStatus {
  voices?: string[];
  engine?: Record<string, EngineVoice | undefined>;
  training?: Training | null;
  adapters?: Record<string, AdapterVersion[] | undefined>;
}

export interface Summary {
  text: string;
  detail: string;
}

export function adapterLabel(status: ServerStatus, voice: string): string {
  const version = status.engine?.[voice]?.adapter_version;
  return version === undefined || version === null ? "base model" : `adapter v${version}`;
}

/** The voice shown: the configured one when the daemon knows it, else the first voice. */
export function pickVoice(status: ServerStatus, preferred: string): string | undefined {
  const voices = status.voices ?? [];
  return preferred && voices.includes(preferred) ? preferred : voices[0];
}

export function summarize(status: ServerStatus | null | undefined, preferred: string): Summary {
  if (!status) {
    return { text: "voiced: daemon unavailable", detail: "Run `voiced daemon status` in a terminal for details." };
  }
  const voice = pickVoice(status, preferred);
  const training = status.training;
  const trainingText =
    training?.state === "running"
      ? `training ${training.voice ?? ""} ${training.step ?? "?"}/${training.total_steps ?? "?"}`.replace("  ", " ")
      : "";
  if (!voice) {
    return { text: "voiced: no voices", detail: "Add a voice and its folders to voiced's config, then run `voiced train`." };
  }
  const detail = (status.voices ?? []).map((v) => `${v}: ${adapterLabel(status, v)}`).join(", ");
  return {
    text: `voiced: ${voice} ${adapterLabel(status, voice)}`,
    detail: trainingText ? `${detail}; ${trainingText}` : detail,
  };
}

/** Settings the server reads from the `voiced` section, minus what only the client uses. */
export const BUILTIN_LANGUAGES = ["markdown", "plaintext", "latex", "restructuredtext"];

export function documentLanguages(extra: readonly string[]): string[] {
  return [...new Set([...BUILTIN_LANGUAGES, ...extra.map((l) => l.trim()).filter((l) => l.length > 0)])];
}

/** A version typed by the user: a positive whole number, or a message saying what is wrong. */
export function parseVersion(value: string): number | string {
  const trimmed = value.trim().replace(/^v/i, "");
  return /^[1-9][0-9]*$/.test(trimmed) ? Number(trimmed) : "Type an adapter version number, e.g. 3 (see `voiced adapters list`).";
}

export interface VersionPick {
  label: string;
  description: string;
  detail: string;
  version: number;
}

/** Versions that can be made active (not failed, not still training). */
const USABLE = new Set(["active", "candidate", "rejected"]);

function scoreText(version: AdapterVersion): string {
  const nll = version.scores?.test_nll;
  return typeof nll?.candidate === "number" && typeof nll.base === "number"
    ? `nll ${nll.candidate.toFixed(3)} vs base ${nll.base.toFixed(3)}`
    : "";
}

/**
 * The pick list for "Activate adapter version…": newest first, the usable ones only.
 * Undefined when the server does not list versions (an older voiced): ask for a number instead.
 */
export function versionPicks(status: ServerStatus | null | undefined, voice: string): VersionPick[] | undefined {
  const versions = status?.adapters?.[voice];
  if (!Array.isArray(versions)) {
    return undefined;
  }
  return versions
    .filter((v) => USABLE.has(v.status))
    .sort((a, b) => b.version - a.version)
    .map((v) => ({
      label: `v${v.version}`,
      description: v.active ? "active" : v.status,
      detail: [
        (v.finished ?? v.created ?? "").replace("T", " ").slice(0, 16),
        scoreText(v),
        typeof v.words === "number" ? `${v.words.toLocaleString("en-US")} words` : "",
        v.reason ?? "",
      ]
        .filter((part) => part.length > 0)
        .join(" · "),
      version: v.version,
    }));
}
