// @vitest-environment jsdom
/**
 * The preview modal on a real DOM (jsdom): both sides, the changed words
 * marked, and the outcome each way of closing it sends back.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { PreviewParams } from "../src/lspClient";
import { showPreview } from "../src/previewModal";
import { wordDiff } from "../src/wordDiff";
import { App, Modal } from "./fakeObsidian";

const PARAMS: PreviewParams = {
  id: "0123abcd",
  uri: "file:///vault/chapter.md",
  range: { start: { line: 2, character: 0 }, end: { line: 4, character: 9 } },
  original: "The quick brown fox jumps over the dog.\n\nThe end.",
  proposal: "The slow brown fox leaps over the lazy dog.\n\nThe end.",
  voice: "mine",
  adapterVersion: 3,
  label: "Rewrite in my voice (mine, v3)",
};

function open(params = PARAMS): { outcome: Promise<string>; modal: Modal; root: HTMLElement } {
  const outcome = showPreview(new App("/vault") as never, params);
  const modal = Modal.open.at(-1)!;
  return { outcome, modal, root: modal.containerEl };
}

function marked(root: HTMLElement, selector: string): string[] {
  return [...root.querySelectorAll(selector)].map((el) => el.textContent ?? "");
}

afterEach(() => {
  for (const modal of [...Modal.open]) modal.close();
});

describe("word diff", () => {
  it("keeps the shared words on both sides and splits the changed ones", () => {
    const { original, rewrite } = wordDiff("a b c d", "a x c d e");
    expect(original.filter((s) => s.kind === "removed").map((s) => s.text)).toEqual(["b"]);
    expect(rewrite.filter((s) => s.kind === "added").map((s) => s.text.trim())).toEqual(["x", "e"]);
    expect(original.map((s) => s.text).join("")).toBe("a b c d");
    expect(rewrite.map((s) => s.text).join("")).toBe("a x c d e");
  });

  it("marks nothing when the rewrite is the original", () => {
    const { original, rewrite } = wordDiff("Same words.", "Same words.");
    expect([...original, ...rewrite].every((s) => s.kind === "same")).toBe(true);
  });
});

describe("preview modal", () => {
  it("shows the original and the rewrite side by side with the changed words marked", () => {
    const { root } = open();
    expect(root.querySelector(".modal-title")!.textContent).toBe("Rewrite in my voice (mine, v3)");
    const original = root.querySelector(".voiced-preview-original .voiced-preview-text")!;
    const rewrite = root.querySelector(".voiced-preview-rewrite .voiced-preview-text")!;
    expect(original.textContent).toBe(PARAMS.original);
    expect(rewrite.textContent).toBe(PARAMS.proposal);
    expect(marked(root, ".voiced-preview-original del")).toEqual(["quick", "jumps"]);
    expect(marked(root, ".voiced-preview-rewrite ins").map((t) => t.trim())).toEqual(["slow", "leaps", "lazy"]);
    // Unchanged words are not marked on either side.
    expect(marked(root, "del, ins").join(" ")).not.toContain("brown");
  });

  it("Accept answers accepted and closes", async () => {
    const { outcome, root } = open();
    (root.querySelector(".voiced-preview-accept") as HTMLButtonElement).click();
    expect(await outcome).toBe("accepted");
    expect(Modal.open).toHaveLength(0);
    expect(document.body.contains(root)).toBe(false);
  });

  it("Reject answers rejected", async () => {
    const { outcome, root } = open();
    (root.querySelector(".voiced-preview-reject") as HTMLButtonElement).click();
    expect(await outcome).toBe("rejected");
    expect(Modal.open).toHaveLength(0);
  });

  it("Escape rejects, and so does closing the modal any other way", async () => {
    const first = open();
    expect(first.modal.scope.press("Escape")).toBe(true);
    expect(await first.outcome).toBe("rejected");
    const second = open();
    second.modal.close();
    expect(await second.outcome).toBe("rejected");
  });

  it("Mod+Enter accepts; the modal is gone after the first choice", async () => {
    const { outcome, modal, root } = open();
    modal.scope.press("Enter", ["Mod"]);
    expect(modal.scope.press("Escape")).toBe(true); // too late: the answer is given
    expect(await outcome).toBe("accepted");
    expect(root.querySelector(".voiced-preview-reject")).toBeNull();
  });
});
