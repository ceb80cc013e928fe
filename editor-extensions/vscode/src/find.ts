/**
 * Where is `voiced`? Pure lookup so the order (setting, Python environment,
 * PATH) is tested without VS Code; the caller passes in what it knows.
 */
import * as path from "node:path";

export type Source = "setting" | "python" | "path";

export interface Found {
  executable: string;
  source: Source;
}

export interface LookupInput {
  /** `voiced.path`; empty when unset. */
  configuredPath: string;
  /** The interpreter of the selected Python environment, if the Python extension told us. */
  pythonInterpreter?: string;
  /** The PATH variable. */
  pathVariable: string;
  platform: NodeJS.Platform;
  isExecutable: (file: string) => boolean;
  /** Expands `~` and `${userHome}` in the setting. */
  home: string;
}

export class NotFound extends Error {
  constructor(
    message: string,
    readonly searched: string[],
  ) {
    super(message);
  }
}

function names(platform: NodeJS.Platform): string[] {
  return platform === "win32" ? ["voiced.exe", "voiced.cmd", "voiced"] : ["voiced"];
}

function pathApi(platform: NodeJS.Platform): path.PlatformPath {
  return platform === "win32" ? path.win32 : path.posix;
}

export function expandHome(value: string, home: string): string {
  const trimmed = value.trim().replace("${userHome}", home);
  return trimmed === "~" || trimmed.startsWith("~/") ? home + trimmed.slice(1) : trimmed;
}

/** Scripts sit beside the interpreter in a venv (bin/ or Scripts\), or in Scripts\ below a Windows conda root. */
export function pythonCandidates(interpreter: string, platform: NodeJS.Platform): string[] {
  const p = pathApi(platform);
  const dir = p.dirname(interpreter);
  const dirs = platform === "win32" ? [dir, p.join(dir, "Scripts")] : [dir];
  return dirs.flatMap((d) => names(platform).map((n) => p.join(d, n)));
}

export function pathCandidates(pathVariable: string, platform: NodeJS.Platform): string[] {
  const p = pathApi(platform);
  const separator = platform === "win32" ? ";" : ":";
  return pathVariable
    .split(separator)
    .filter((d) => d.length > 0)
    .flatMap((d) => names(platform).map((n) => p.join(d, n)));
}

/**
 * The first executable `voiced`: the setting wins outright (a wrong setting is
 * an error, not a reason to run some other copy), then the Python
 * environment, then PATH.
 */
export function findVoiced(input: LookupInput): Found {
  const configured = expandHome(input.configuredPath, input.home);
  if (configured) {
    if (input.isExecutable(configured)) {
      return { executable: configured, source: "setting" };
    }
    throw new NotFound(
      `The setting voiced.path is "${input.configuredPath}", but no executable is there. ` +
        "Fix the path, or clear the setting to use the selected Python environment or PATH.",
      [configured],
    );
  }
  const searched: string[] = [];
  const ordered: [Source, string[]][] = [
    ["python", input.pythonInterpreter ? pythonCandidates(input.pythonInterpreter, input.platform) : []],
    ["path", pathCandidates(input.pathVariable, input.platform)],
  ];
  for (const [source, candidates] of ordered) {
    for (const candidate of candidates) {
      searched.push(candidate);
      if (input.isExecutable(candidate)) {
        return { executable: candidate, source };
      }
    }
  }
  throw new NotFound(installAdvice(input.pythonInterpreter), searched);
}

export function installAdvice(pythonInterpreter?: string): string {
  // voiced installs from a clone of its repository (it is not on a package index).
  const pip = pythonInterpreter
    ? `"${pythonInterpreter}" -m pip install /path/to/voiced`
    : "make install";
  return (
    "voiced is not installed where VS Code can find it. In a clone of the voiced repository run " +
    `\`${pip}\` (\`make install\` creates .venv/bin/voiced; \`pipx install .\` puts voiced on your PATH), ` +
    "then run `voiced doctor` in a terminal to check it, or set voiced.path to the executable."
  );
}
