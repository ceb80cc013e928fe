/**
 * A minimal LSP client for `voiced lsp` over stdio. No `obsidian` import: the
 * plugin glue (main.ts) and the tests both drive it.
 *
 * Capabilities declared: codeAction resolve support for `edit` (the server
 * then puts the model's edit in codeAction/resolve), and workspace.applyEdit
 * (if a server still answers with a `voiced.*` command, the edit it sends back
 * through workspace/applyEdit is captured and applied the same way).
 *
 * Two voiced extensions: with `preview` on, initializationOptions
 * `{voicedPreview: true}` tells the server this client shows a rewrite before it
 * lands, and the client answers the server's `voiced/preview` request with the
 * writer's choice; `voiced/inlineCompletion` (textDocument/inlineCompletion's
 * params and answer, for a client without LSP 3.18) gives the ghost text.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { pathToFileURL } from "node:url";
import {
  CancellationTokenSource,
  createProtocolConnection,
  ProgressType,
  StreamMessageReader,
  StreamMessageWriter,
  type CodeAction,
  type Command,
  type InlineCompletionItem,
  type InlineCompletionList,
  type Position,
  type ProtocolConnection,
  type Range,
  type TextEdit,
  type WorkspaceEdit,
} from "vscode-languageserver-protocol/node";
import { editsFor } from "./edits";

export const TITLES = { rewrite: "Rewrite in my voice", continue: "Continue in my voice" } as const;
export type Task = keyof typeof TITLES;

export interface ClientOptions {
  /** Path to the voiced executable (or "voiced" to use PATH). */
  command: string;
  /** The `voiced` settings section answered to workspace/configuration. */
  settings?: () => Record<string, unknown>;
  /** window/showMessage from the server (type: 1 error, 2 warning, 3 info, 4 log). */
  onMessage?: (type: number, message: string) => void;
  env?: NodeJS.ProcessEnv;
  /** This client shows the server's previews (`voiced/preview`) itself. */
  preview?: boolean;
}

/** Params of the server's `voiced/preview` request (docs: the issue #14 contract). */
export interface PreviewParams {
  id: string;
  uri: string;
  range: Range;
  original: string;
  proposal: string;
  voice: string;
  adapterVersion: number | null;
  label: string;
}

export type PreviewOutcome = "accepted" | "rejected" | "edit";
export type PreviewHandler = (params: PreviewParams) => Promise<PreviewOutcome>;

/** LSP InlineCompletionTriggerKind. */
export const TRIGGER = { invoked: 1, automatic: 2 } as const;

/** One inline completion request in flight: its answer, and how to call it off ($/cancelRequest). */
export interface InlineRequest {
  items: Promise<InlineCompletionItem[]>;
  cancel(): void;
}

type ApplyResult = { applied: boolean; failureReason?: string };

export class VoicedNotFound extends Error {}

export class VoicedLspClient {
  private process?: ChildProcess;
  private connection?: ProtocolConnection;
  private starting?: Promise<ProtocolConnection>;
  private versions = new Map<string, { version: number; text: string }>();
  private captured?: WorkspaceEdit[];
  private previewing?: PreviewHandler;
  private progressTokens = 0;
  private stderr = "";

  constructor(private readonly options: ClientOptions) {}

  static uriFor(path: string): string {
    return pathToFileURL(path).href;
  }

  /** Start the server once; later calls share the same process. */
  start(): Promise<ProtocolConnection> {
    this.starting ??= this.launch().catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async launch(): Promise<ProtocolConnection> {
    const child = spawn(this.options.command, ["lsp"], { env: this.options.env ?? process.env, stdio: "pipe" });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (err: NodeJS.ErrnoException) =>
        reject(err.code === "ENOENT"
          ? new VoicedNotFound(`voiced was not found at "${this.options.command}".`)
          : err));
    });
    child.stderr?.on("data", (chunk: Buffer) => { this.stderr = (this.stderr + chunk.toString()).slice(-4000); });
    child.once("exit", () => this.forget());
    const connection = createProtocolConnection(
      new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    connection.onRequest("workspace/configuration", (params: { items: { section?: string }[] }) =>
      params.items.map((item) => (item.section === "voiced" ? this.options.settings?.() ?? {} : null)));
    connection.onRequest("workspace/applyEdit", (params: { edit: WorkspaceEdit }): ApplyResult => {
      if (!this.captured) return { applied: false, failureReason: "no rewrite is waiting for an edit" };
      this.captured.push(params.edit);
      return { applied: true };
    });
    connection.onRequest("voiced/preview", async (params: PreviewParams): Promise<{ outcome: PreviewOutcome }> => {
      const show = this.previewing;
      // A preview outside a rewrite this client asked for changes nothing.
      return { outcome: show ? await show(params) : "rejected" };
    });
    connection.onNotification("window/showMessage", (params: { type: number; message: string }) =>
      this.options.onMessage?.(params.type, params.message));
    connection.onRequest("window/showMessageRequest", (params: { type: number; message: string }) => {
      this.options.onMessage?.(params.type, params.message);
      return null;
    });
    connection.listen();
    await connection.sendRequest("initialize", {
      processId: process.pid,
      clientInfo: { name: "voiced-obsidian" },
      rootUri: null,
      initializationOptions: this.options.preview ? { voicedPreview: true } : undefined,
      capabilities: {
        workspace: { applyEdit: true, configuration: true },
        textDocument: {
          synchronization: { dynamicRegistration: false },
          codeAction: {
            codeActionLiteralSupport: { codeActionKind: { valueSet: ["refactor.rewrite"] } },
            resolveSupport: { properties: ["edit"] },
            dataSupport: true,
          },
        },
      },
    });
    await connection.sendNotification("initialized", {});
    this.process = child;
    this.connection = connection;
    return connection;
  }

  /** Send the note's text (didOpen the first time, whole-text didChange after). */
  private async sync(connection: ProtocolConnection, uri: string, text: string): Promise<void> {
    const known = this.versions.get(uri);
    if (!known) {
      this.versions.set(uri, { version: 1, text });
      await connection.sendNotification("textDocument/didOpen", {
        textDocument: { uri, languageId: "markdown", version: 1, text },
      });
    } else if (known.text !== text) {
      const version = known.version + 1;
      this.versions.set(uri, { version, text });
      await connection.sendNotification("textDocument/didChange", {
        textDocument: { uri, version }, contentChanges: [{ text }],
      });
    }
  }

  /**
   * Run "Rewrite/Continue in my voice" on `range` of the note; the edits to apply, or null if none offered.
   * While it runs, `preview` answers the server's `voiced/preview` (a rejected preview: no edits), and
   * the edits the server sends through workspace/applyEdit are captured.
   */
  async run(task: Task, uri: string, text: string, range: Range, preview?: PreviewHandler): Promise<TextEdit[] | null> {
    const connection = await this.start();
    await this.sync(connection, uri, text);
    this.captured = [];
    this.previewing = preview;
    try {
      const actions = (await connection.sendRequest("textDocument/codeAction", {
        textDocument: { uri }, range, context: { diagnostics: [], only: ["refactor.rewrite"] },
      })) as (CodeAction | Command)[] | null;
      const action = (actions ?? []).find((a) => a.title.startsWith(TITLES[task]));
      if (!action) return null;
      if ("kind" in action || "edit" in action || "data" in action) {
        const codeAction = action as CodeAction;
        const resolved = codeAction.edit || !codeAction.data
          ? codeAction
          : ((await connection.sendRequest("codeAction/resolve", codeAction)) as CodeAction);
        if (resolved.edit) return editsFor(resolved.edit, uri);
        if (resolved.command) await this.executeOn(connection, resolved.command);
      } else {
        await this.executeOn(connection, action as Command);
      }
      // What the server applied itself (a command, or a preview the writer accepted).
      return this.captured.flatMap((edit) => editsFor(edit, uri));
    } finally {
      this.captured = undefined;
      this.previewing = undefined;
    }
  }

  /**
   * workspace/executeCommand (e.g. the `voiced.inlineAccepted` of an accepted ghost text); `document`: send
   * the note's text first, so the server sees what the command is about (the accepted text in place).
   */
  async executeCommand(command: Command, document?: { uri: string; text: string }): Promise<unknown> {
    const connection = await this.start();
    if (document) await this.sync(connection, document.uri, document.text);
    return this.executeOn(connection, command);
  }

  /** The writer edited a note the server has: send its text (nothing when the server is not running or lacks it). */
  async documentChanged(uri: string, text: string): Promise<void> {
    if (this.connection && this.versions.has(uri)) await this.sync(this.connection, uri, text);
  }

  /** The note was saved: its text, then didSave (the server settles what it proposed there). */
  async documentSaved(uri: string, text: string): Promise<void> {
    if (!this.connection || !this.versions.has(uri)) return;
    await this.sync(this.connection, uri, text);
    await this.connection.sendNotification("textDocument/didSave", { textDocument: { uri } });
  }

  private executeOn(connection: ProtocolConnection, command: Command): Promise<unknown> {
    return connection.sendRequest("workspace/executeCommand", { command: command.command, arguments: command.arguments });
  }

  /**
   * Ask for ghost text at `position` (`voiced/inlineCompletion`). `partial` sees the text so far while the
   * server streams it ($/progress). `cancel()` sends $/cancelRequest; the answer then rejects or is empty.
   */
  inlineCompletion(uri: string, text: string, position: Position, triggerKind: number,
                   partial?: (items: InlineCompletionItem[]) => void): InlineRequest {
    const source = new CancellationTokenSource();
    const items = (async () => {
      const connection = await this.start();
      await this.sync(connection, uri, text);
      if (source.token.isCancellationRequested) return [];
      const partialResultToken = `voiced-inline-${++this.progressTokens}`;
      const progress = partial
        ? connection.onProgress(new ProgressType<InlineCompletionList | InlineCompletionItem[]>(), partialResultToken,
          (value) => { if (!source.token.isCancellationRequested) partial(itemsOf(value)); })
        : undefined;
      try {
        const result = await connection.sendRequest("voiced/inlineCompletion", {
          textDocument: { uri }, position, context: { triggerKind },
          ...(partial ? { partialResultToken } : {}),
        }, source.token) as InlineCompletionList | InlineCompletionItem[] | null;
        return itemsOf(result);
      } finally {
        progress?.dispose();
      }
    })();
    return { items, cancel: () => source.cancel() };
  }

  /** Tell a running server that the `voiced` settings changed. */
  async configurationChanged(): Promise<void> {
    if (!this.connection) return;
    await this.connection.sendNotification("workspace/didChangeConfiguration", {
      settings: { voiced: this.options.settings?.() ?? {} },
    });
  }

  /** The server's last stderr lines, for error reports. */
  get serverLog(): string {
    return this.stderr;
  }

  private forget(): void {
    this.connection?.dispose();
    this.connection = undefined;
    this.process = undefined;
    this.starting = undefined;
    this.versions.clear();
  }

  /** shutdown + exit, then make sure the process is gone. */
  async stop(): Promise<void> {
    const { connection, process: child } = this;
    if (!connection || !child) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await connection.sendRequest("shutdown");
      await connection.sendNotification("exit");
    } catch {
      // the server already went away
    }
    const timer = setTimeout(() => child.kill(), 3000);
    await exited;
    clearTimeout(timer);
  }
}

function itemsOf(result: InlineCompletionList | InlineCompletionItem[] | null | undefined): InlineCompletionItem[] {
  if (!result) return [];
  return Array.isArray(result) ? result : result.items ?? [];
}
