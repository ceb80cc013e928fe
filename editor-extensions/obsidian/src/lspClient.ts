/**
 * A minimal LSP client for `voiced lsp` over stdio. No `obsidian` import: the
 * plugin glue (main.ts) and the tests both drive it.
 *
 * Capabilities declared: codeAction resolve support for `edit` (the server
 * then puts the model's edit in codeAction/resolve), and workspace.applyEdit
 * (if a server still answers with a `voiced.*` command, the edit it sends back
 * through workspace/applyEdit is captured and applied the same way).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { pathToFileURL } from "node:url";
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type CodeAction,
  type Command,
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
}

type ApplyResult = { applied: boolean; failureReason?: string };

export class VoicedNotFound extends Error {}

export class VoicedLspClient {
  private process?: ChildProcess;
  private connection?: ProtocolConnection;
  private starting?: Promise<ProtocolConnection>;
  private versions = new Map<string, { version: number; text: string }>();
  private captured?: WorkspaceEdit[];
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

  /** Run "Rewrite/Continue in my voice" on `range` of the note; the edits to apply, or null if none offered. */
  async run(task: Task, uri: string, text: string, range: Range): Promise<TextEdit[] | null> {
    const connection = await this.start();
    await this.sync(connection, uri, text);
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
      if (resolved.command) return this.execute(connection, resolved.command, uri);
      return [];
    }
    return this.execute(connection, action as Command, uri);
  }

  private async execute(connection: ProtocolConnection, command: Command, uri: string): Promise<TextEdit[]> {
    this.captured = [];
    try {
      await connection.sendRequest("workspace/executeCommand", { command: command.command, arguments: command.arguments });
      return this.captured.flatMap((edit) => editsFor(edit, uri));
    } finally {
      this.captured = undefined;
    }
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
