import { describe, expect, it } from "vitest";
import { documentLanguages, parseVersion, statusRequest, summarize, versionPicks } from "../src/summary";

describe("summarize", () => {
  it("shows the configured voice's active adapter version", () => {
    const status = { voices: ["essays", "letters"], engine: { essays: { adapter_version: 2 }, letters: { adapter_version: 5 } } };
    expect(summarize(status, "letters")).toEqual({
      text: "voiced: letters adapter v5",
      detail: "essays: adapter v2, letters: adapter v5",
    });
  });

  it("falls back to the first voice and says when there is no adapter yet", () => {
    const status = { voices: ["essays"], engine: { essays: { adapter_version: null } } };
    expect(summarize(status, "unknown").text).toBe("voiced: essays base model");
  });

  it("mentions a running training", () => {
    const status = {
      voices: ["essays"],
      engine: { essays: { adapter_version: 1 } },
      training: { state: "running", voice: "essays", step: 3, total_steps: 40 },
    };
    expect(summarize(status, "").detail).toBe("essays: adapter v1; training essays 3/40");
  });

  it("tells the user what to do when the daemon gave no status or has no voices", () => {
    expect(summarize(null, "").text).toBe("voiced: daemon unavailable");
    expect(summarize({ voices: [] }, "").detail).toMatch(/voiced train/);
  });
});

describe("documentLanguages", () => {
  it("adds the user's languages to the built-in prose ones once each", () => {
    expect(documentLanguages(["org", " markdown ", ""])).toEqual(["markdown", "plaintext", "latex", "restructuredtext", "org"]);
  });
});

describe("parseVersion", () => {
  it("accepts 3 and v3, refuses anything else with a hint", () => {
    expect(parseVersion("3")).toBe(3);
    expect(parseVersion("v12")).toBe(12);
    expect(parseVersion("0")).toMatch(/voiced adapters list/);
    expect(parseVersion("two")).toMatch(/version number/);
  });
});

describe("statusRequest", () => {
  it("asks quietly for the periodic refresh and loudly for the Show status command", () => {
    expect(statusRequest(true)).toEqual({ command: "voiced.status", arguments: [{ quiet: true }] });
    expect(statusRequest(false)).toEqual({ command: "voiced.status", arguments: [] });
  });
});

describe("versionPicks", () => {
  const status = {
    voices: ["essays"],
    adapters: {
      essays: [
        { version: 1, status: "rejected", reason: "not better than the base model", created: "2025-03-01T09:00:00+00:00" },
        {
          version: 2,
          status: "active",
          active: true,
          created: "2025-03-02T09:00:00+00:00",
          finished: "2025-03-02T09:12:00+00:00",
          scores: { test_nll: { base: 2.5, candidate: 2.25 } },
          words: 12345,
        },
        { version: 3, status: "failed", reason: "out of memory" },
        { version: 4, status: "candidate", created: "2025-03-04T09:00:00+00:00" },
      ],
    },
  };

  it("offers the usable versions newest first with when, score, words and reason", () => {
    expect(versionPicks(status, "essays")).toEqual([
      { label: "v4", description: "candidate", detail: "2025-03-04 09:00", version: 4 },
      { label: "v2", description: "active", detail: "2025-03-02 09:12 · nll 2.250 vs base 2.500 · 12,345 words", version: 2 },
      { label: "v1", description: "rejected", detail: "2025-03-01 09:00 · not better than the base model", version: 1 },
    ]);
  });

  it("is empty for a voice without versions and undefined when the server lists none (older voiced)", () => {
    expect(versionPicks({ adapters: { essays: [] } }, "essays")).toEqual([]);
    expect(versionPicks({ voices: ["essays"] }, "essays")).toBeUndefined();
    expect(versionPicks(null, "essays")).toBeUndefined();
  });
});
