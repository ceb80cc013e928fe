/**
 * Pure parts of ghost-text Continue (no `vscode` import, so vitest runs them): the request the
 * server answers, when to send it, and spotting a word the writer accepted on its own.
 */

/** The server's alias of LSP 3.18 `textDocument/inlineCompletion`, same params and answer. */
export const INLINE_METHOD = "voiced/inlineCompletion";
/** The server command an item carries: VS Code runs it when the whole ghost text is accepted. */
export const ACCEPTED_COMMAND = "voiced.inlineAccepted";
/** The extension's own command that forwards a server command when the server does not advertise it. */
export const RELAY_COMMAND = "voiced.relayServerCommand";

/**
 * LSP's InlineCompletionTriggerKind counts from 1 (Invoked = 1, Automatic = 2), VS Code's from 0
 * (Invoke = 0, Automatic = 1). vscode-languageclient 9.0.1's proposed converter copies the number
 * unchanged, so an automatic request would reach the server as an invoked one: we map it here.
 */
export enum LspTrigger {
  Invoked = 1,
  Automatic = 2,
}

export function lspTrigger(vscodeKind: number): LspTrigger {
  return vscodeKind === 0 ? LspTrigger.Invoked : LspTrigger.Automatic;
}

export interface Position {
  line: number;
  character: number;
}

export interface InlineParams {
  textDocument: { uri: string };
  position: Position;
  context: {
    triggerKind: LspTrigger;
    selectedCompletionInfo?: { range: { start: Position; end: Position }; text: string };
  };
}

export function inlineParams(
  uri: string,
  position: Position,
  vscodeKind: number,
  selected?: { range: { start: Position; end: Position }; text: string },
): InlineParams {
  const context: InlineParams["context"] = { triggerKind: lspTrigger(vscodeKind) };
  if (selected) {
    context.selectedCompletionInfo = selected;
  }
  return { textDocument: { uri }, position, context };
}

export interface InlineSettings {
  autoTrigger: boolean;
  debounceMs: number;
}

/**
 * How long to wait before asking the server: 0 for the writer's explicit trigger; the debounce for
 * VS Code's own trigger on typing, and only when the writer turned automatic triggering on
 * (undefined: do not ask; the model would otherwise run on every keystroke).
 */
export function askDelay(trigger: LspTrigger, settings: InlineSettings): number | undefined {
  if (trigger === LspTrigger.Invoked) {
    return 0;
  }
  if (!settings.autoTrigger) {
    return undefined;
  }
  return Number.isFinite(settings.debounceMs) ? Math.max(0, settings.debounceMs) : 600;
}

export interface CancelToken {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}

/** Waits `ms` unless the token is cancelled first: true when the wait ran out, false when cancelled. */
export function waitUnlessCancelled(ms: number, token: CancelToken): Promise<boolean> {
  if (token.isCancellationRequested) {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      listener.dispose();
      resolve(true);
    }, ms);
    const listener = token.onCancellationRequested(() => {
      clearTimeout(timer);
      listener.dispose();
      resolve(false);
    });
  });
}

export interface LspCommand {
  title: string;
  command: string;
  arguments?: unknown[];
}

/** The proposal id an item's command carries, when it is voiced's accepted command. */
export function proposalIdOf(command: LspCommand | undefined): string | undefined {
  if (command?.command !== ACCEPTED_COMMAND) {
    return undefined;
  }
  const id = command.arguments?.[0];
  return typeof id === "string" && id ? id : undefined;
}

/**
 * The command VS Code should run on accept: the server's own when the server advertises it (the
 * language client registered it), otherwise the extension's relay, which sends it all the same.
 */
export function acceptCommand(command: LspCommand, advertised: readonly string[] | undefined): LspCommand {
  if (advertised?.includes(command.command)) {
    return command;
  }
  return { title: command.title, command: RELAY_COMMAND, arguments: [command.command, ...(command.arguments ?? [])] };
}

interface Offered {
  id: string;
  uri: string;
  offset: number;
  text: string;
}

const REMEMBERED = 200;

/**
 * Follows the ghost text last shown. VS Code runs an item's command only when the whole text is
 * accepted (Tab); a word accepted on its own (editor.action.inlineSuggest.acceptNextWord) is only an
 * edit. An insertion at the ghost text's position that is a prefix of it, longer than one typed
 * character and shorter than the whole, is such a partial accept: reported once per proposal, and a
 * later full accept of the same proposal is then not reported again. A letter typed as shown moves
 * the watch along without counting as an accept, unless the writer just pressed accept-next-word.
 */
export class AcceptWatch {
  private offered: Offered | undefined;
  private readonly reported: string[] = [];
  private acceptingUntil = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * The writer pressed accept-next-word (voiced's binding runs VS Code's command): the next insertion
   * at the ghost text counts as accepted even when it is one character (VS Code accepts the space
   * before a word on its own).
   */
  expectAccept(withinMs = 1000): void {
    this.acceptingUntil = this.now() + withinMs;
  }

  offer(id: string, uri: string, offset: number, text: string): void {
    this.offered = { id, uri, offset, text };
  }

  /** One content change of a document (offset and length of the replaced text, the new text). */
  changed(uri: string, offset: number, replacedLength: number, inserted: string): string | undefined {
    const offered = this.offered;
    const accepting = this.now() <= this.acceptingUntil;
    if (!offered || offered.uri !== uri) {
      return undefined;
    }
    this.acceptingUntil = 0;
    const following =
      replacedLength === 0 &&
      offset === offered.offset &&
      inserted.length > 0 &&
      inserted.length < offered.text.length &&
      offered.text.startsWith(inserted);
    if (!following) {
      if (offset <= offered.offset + offered.text.length) {
        this.offered = undefined; // typed over or before it, or accepted whole: that ghost text is gone
      }
      return undefined;
    }
    // The rest of the ghost text stays on screen after what was accepted (or typed as shown).
    this.offered = { ...offered, offset: offered.offset + inserted.length, text: offered.text.slice(inserted.length) };
    return (accepting || inserted.length > 1) && this.report(offered.id) ? offered.id : undefined;
  }

  /** The accepted command is about to run for `id`: true if the server has not been told yet. */
  fullAccept(id: string): boolean {
    if (this.offered?.id === id) {
      this.offered = undefined;
    }
    return this.report(id);
  }

  private report(id: string): boolean {
    if (this.reported.includes(id)) {
      return false;
    }
    this.reported.push(id);
    if (this.reported.length > REMEMBERED) {
      this.reported.shift();
    }
    return true;
  }
}
