import { describe, expect, it } from "vitest";
import { documentLanguages, parseVersion, summarize } from "../src/summary";

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
