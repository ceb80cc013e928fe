import { describe, expect, it } from "vitest";
import { findVoiced, NotFound, pathCandidates, pythonCandidates } from "../src/find";

function lookup(existing: string[], overrides: Partial<Parameters<typeof findVoiced>[0]> = {}) {
  return findVoiced({
    configuredPath: "",
    pathVariable: "/usr/local/bin:/usr/bin",
    platform: "linux",
    isExecutable: (file) => existing.includes(file),
    home: "/home/ann",
    ...overrides,
  });
}

describe("findVoiced", () => {
  it("prefers the voiced.path setting over everything else", () => {
    const found = lookup(["/opt/voiced", "/env/bin/voiced", "/usr/bin/voiced"], {
      configuredPath: "/opt/voiced",
      pythonInterpreter: "/env/bin/python",
    });
    expect(found).toEqual({ executable: "/opt/voiced", source: "setting" });
  });

  it("expands ~ in the setting", () => {
    expect(lookup(["/home/ann/.local/bin/voiced"], { configuredPath: "~/.local/bin/voiced" }).executable).toBe(
      "/home/ann/.local/bin/voiced",
    );
  });

  it("refuses a setting that points nowhere rather than running another copy", () => {
    expect(() => lookup(["/usr/bin/voiced"], { configuredPath: "/wrong/voiced" })).toThrow(/voiced\.path.*\/wrong\/voiced/);
  });

  it("uses the selected Python environment before PATH", () => {
    const found = lookup(["/env/bin/voiced", "/usr/bin/voiced"], { pythonInterpreter: "/env/bin/python" });
    expect(found).toEqual({ executable: "/env/bin/voiced", source: "python" });
  });

  it("falls back to PATH in order when the environment has no voiced", () => {
    const found = lookup(["/usr/bin/voiced"], { pythonInterpreter: "/env/bin/python" });
    expect(found).toEqual({ executable: "/usr/bin/voiced", source: "path" });
  });

  it("says how to install voiced, and where it looked, when nothing is found", () => {
    let error: unknown;
    try {
      lookup([], { pythonInterpreter: "/env/bin/python" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NotFound);
    expect((error as NotFound).message).toContain('"/env/bin/python" -m pip install /path/to/voiced');
    expect((error as NotFound).searched).toEqual(["/env/bin/voiced", "/usr/local/bin/voiced", "/usr/bin/voiced"]);
  });

  it("suggests make install in the clone without a Python environment", () => {
    expect(() => lookup([])).toThrow(/`make install`/);
  });
});

describe("candidates on Windows", () => {
  it("looks beside the interpreter and in Scripts", () => {
    const candidates = pythonCandidates("C:\\conda\\python.exe", "win32");
    expect(candidates).toContain("C:\\conda\\voiced.exe");
    expect(candidates).toContain("C:\\conda\\Scripts\\voiced.exe");
  });

  it("splits PATH on semicolons and skips empty entries", () => {
    expect(pathCandidates("C:\\bin;;D:\\tools", "win32")).toEqual([
      "C:\\bin\\voiced.exe",
      "C:\\bin\\voiced.cmd",
      "C:\\bin\\voiced",
      "D:\\tools\\voiced.exe",
      "D:\\tools\\voiced.cmd",
      "D:\\tools\\voiced",
    ]);
  });
});
