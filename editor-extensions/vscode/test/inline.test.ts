import { describe, expect, it } from "vitest";
import {
  ACCEPTED_COMMAND,
  acceptCommand,
  askDelay,
  AcceptWatch,
  inlineParams,
  LspTrigger,
  lspTrigger,
  proposalIdOf,
  RELAY_COMMAND,
  waitUnlessCancelled,
} from "../src/inline";

/** A cancellation token with VS Code's shape, cancelled by hand. */
function token() {
  const listeners: (() => unknown)[] = [];
  const t = {
    isCancellationRequested: false,
    onCancellationRequested(listener: () => unknown) {
      listeners.push(listener);
      return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
    },
    cancel() {
      t.isCancellationRequested = true;
      [...listeners].forEach((l) => l());
    },
    listeners,
  };
  return t;
}

describe("inline completion params", () => {
  it("maps VS Code's trigger kinds (from 0) onto LSP's (from 1)", () => {
    expect(lspTrigger(0)).toBe(LspTrigger.Invoked);
    expect(lspTrigger(1)).toBe(LspTrigger.Automatic);
    expect(LspTrigger.Invoked).toBe(1);
    expect(LspTrigger.Automatic).toBe(2);
  });

  it("builds the textDocument/inlineCompletion params the server's alias takes", () => {
    expect(inlineParams("file:///d.md", { line: 2, character: 7 }, 0)).toEqual({
      textDocument: { uri: "file:///d.md" },
      position: { line: 2, character: 7 },
      context: { triggerKind: 1 },
    });
    const selected = { range: { start: { line: 2, character: 0 }, end: { line: 2, character: 7 } }, text: "weather" };
    expect(inlineParams("file:///d.md", { line: 2, character: 7 }, 1, selected).context).toEqual({
      triggerKind: 2,
      selectedCompletionInfo: selected,
    });
  });
});

describe("askDelay", () => {
  it("asks at once when the writer triggers it, whatever the settings", () => {
    expect(askDelay(LspTrigger.Invoked, { autoTrigger: false, debounceMs: 600 })).toBe(0);
    expect(askDelay(LspTrigger.Invoked, { autoTrigger: true, debounceMs: 600 })).toBe(0);
  });

  it("never asks on typing unless automatic triggering is on, then after the debounce", () => {
    expect(askDelay(LspTrigger.Automatic, { autoTrigger: false, debounceMs: 600 })).toBeUndefined();
    expect(askDelay(LspTrigger.Automatic, { autoTrigger: true, debounceMs: 250 })).toBe(250);
    expect(askDelay(LspTrigger.Automatic, { autoTrigger: true, debounceMs: -5 })).toBe(0);
    expect(askDelay(LspTrigger.Automatic, { autoTrigger: true, debounceMs: Number.NaN })).toBe(600);
  });
});

describe("waitUnlessCancelled", () => {
  it("runs out when nothing cancels it", async () => {
    const t = token();
    await expect(waitUnlessCancelled(5, t)).resolves.toBe(true);
    expect(t.listeners).toHaveLength(0);
  });

  it("stops at once when the writer types on (the token is cancelled)", async () => {
    const t = token();
    const started = Date.now();
    const waiting = waitUnlessCancelled(10_000, t);
    t.cancel();
    await expect(waiting).resolves.toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(t.listeners).toHaveLength(0);
  });

  it("does not wait at all for a token already cancelled", async () => {
    const t = token();
    t.cancel();
    await expect(waitUnlessCancelled(10_000, t)).resolves.toBe(false);
  });
});

describe("accept commands", () => {
  const command = { title: "voiced: accepted", command: ACCEPTED_COMMAND, arguments: ["abc123"] };

  it("reads the proposal id of voiced's accepted command only", () => {
    expect(proposalIdOf(command)).toBe("abc123");
    expect(proposalIdOf({ ...command, command: "other" })).toBeUndefined();
    expect(proposalIdOf({ ...command, arguments: [] })).toBeUndefined();
    expect(proposalIdOf(undefined)).toBeUndefined();
  });

  it("keeps the server's command when it is advertised, relays it otherwise", () => {
    expect(acceptCommand(command, ["voiced.rewrite", ACCEPTED_COMMAND])).toBe(command);
    expect(acceptCommand(command, undefined)).toEqual({
      title: "voiced: accepted",
      command: RELAY_COMMAND,
      arguments: [ACCEPTED_COMMAND, "abc123"],
    });
  });
});

describe("AcceptWatch", () => {
  const uri = "file:///d.md";
  const offered = () => {
    const watch = new AcceptWatch();
    watch.offer("p1", uri, 40, " and then it rained again.");
    return watch;
  };

  it("reports a word accepted on its own once, and not the full accept that follows", () => {
    const watch = offered();
    expect(watch.changed(uri, 40, 0, " and")).toBe("p1");
    expect(watch.changed(uri, 44, 0, " then")).toBeUndefined(); // the next word: already reported
    expect(watch.changed(uri, 49, 0, " it rained again.")).toBeUndefined(); // Tab takes the rest
    expect(watch.fullAccept("p1")).toBe(false);
  });

  it("leaves a full accept to the item's command", () => {
    const watch = offered();
    expect(watch.changed(uri, 40, 0, " and then it rained again.")).toBeUndefined();
    expect(watch.fullAccept("p1")).toBe(true);
    expect(watch.fullAccept("p1")).toBe(false);
  });

  it("does not count a letter typed as shown, or text elsewhere, as accepting", () => {
    const watch = offered();
    expect(watch.changed(uri, 40, 0, " ")).toBeUndefined();
    expect(watch.changed("file:///other.md", 41, 0, "and")).toBeUndefined();
    expect(watch.changed(uri, 41, 0, "and")).toBe("p1"); // then a word accepted after the typed letter
    const other = offered();
    expect(other.changed(uri, 12, 0, " and")).toBeUndefined(); // before it: the ghost text is gone
    expect(other.changed(uri, 40, 0, " and")).toBeUndefined();
    const replaced = offered();
    expect(replaced.changed(uri, 40, 3, " and")).toBeUndefined();
    expect(replaced.changed(uri, 40, 0, " or")).toBeUndefined();
  });

  it("counts a one-character accept right after accept-next-word was pressed, not later", () => {
    let now = 1000;
    const watch = new AcceptWatch(() => now);
    watch.offer("p1", uri, 40, " and then it rained again.");
    watch.expectAccept();
    now += 50;
    expect(watch.changed(uri, 40, 0, " ")).toBe("p1"); // VS Code took the space before "and" on its own
    const late = new AcceptWatch(() => now);
    late.offer("p2", uri, 40, " and then it rained again.");
    late.expectAccept(1000);
    now += 2000;
    expect(late.changed(uri, 40, 0, " ")).toBeUndefined(); // a space typed long after: the writer's own
    late.expectAccept();
    expect(late.changed("file:///other.md", 0, 0, "x")).toBeUndefined();
    expect(late.changed(uri, 41, 0, "a")).toBe("p2"); // the press still counts for this document's next change
  });

  it("follows only the ghost text shown last", () => {
    const watch = offered();
    watch.offer("p2", uri, 40, " so we stayed.");
    expect(watch.changed(uri, 40, 0, " so")).toBe("p2");
    expect(watch.fullAccept("p1")).toBe(true); // p1's words were never taken
  });
});
