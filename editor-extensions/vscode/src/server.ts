/** Starts `voiced lsp` and restarts it, through one debounced path, when its settings change. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { findVoiced, Found, NotFound } from "./find";
import { ACCEPTED_COMMAND, AcceptWatch } from "./inline";
import { documentSelector, getSettings, SECTION } from "./settings";
import { VoicedStatus } from "./status";

const RESTART_DELAY_MS = 500;

interface PythonEnvironmentApi {
  environments: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(path: string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, process.platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The Python extension's API, when it is installed; voiced works without it. */
export async function pythonApi(): Promise<PythonEnvironmentApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonEnvironmentApi>("ms-python.python");
  if (!extension) {
    return undefined;
  }
  try {
    const api = extension.isActive ? extension.exports : await extension.activate();
    return api?.environments ? api : undefined;
  } catch {
    return undefined;
  }
}

async function selectedInterpreter(): Promise<string | undefined> {
  const api = await pythonApi();
  if (!api) {
    return undefined;
  }
  try {
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const environment = await api.environments.resolveEnvironment(api.environments.getActiveEnvironmentPath(resource).path);
    return environment?.executable.uri?.fsPath;
  } catch {
    return undefined;
  }
}

export async function locateVoiced(): Promise<Found> {
  return findVoiced({
    configuredPath: getSettings().path,
    pythonInterpreter: await selectedInterpreter(),
    pathVariable: process.env.PATH ?? "",
    platform: process.platform,
    isExecutable,
    home: os.homedir(),
  });
}

export class VoicedServer implements vscode.Disposable {
  client: LanguageClient | undefined;
  /** The documents the server serves, as of the last start. */
  selector: vscode.DocumentSelector = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly onDidStartEmitter = new vscode.EventEmitter<LanguageClient>();
  readonly onDidStart = this.onDidStartEmitter.event;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly status: VoicedStatus,
    private readonly accepts: AcceptWatch,
  ) {}

  /** Shows the spinner while a request the client sends itself is pending. */
  busy<T>(work: Thenable<T>): Promise<T> {
    return this.status.whileBusy(work);
  }

  /** Every (re)start goes through here: later calls within the delay fold into one. */
  scheduleRestart(delayMs = RESTART_DELAY_MS): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.restart();
    }, delayMs);
  }

  /** Restarts run one after another, never two at once. */
  restart(): Promise<void> {
    this.chain = this.chain.then(() => this.stop()).then(() => this.start());
    return this.chain;
  }

  private async start(): Promise<void> {
    const settings = getSettings();
    const selector = documentSelector(settings);
    this.status.selector = selector;
    this.selector = selector;
    let found: Found;
    try {
      found = await locateVoiced();
    } catch (error) {
      const message = error instanceof NotFound ? error.message : String(error);
      if (error instanceof NotFound) {
        this.output.error(`${message} Searched: ${error.searched.join(", ") || "nothing"}`);
      }
      this.status.problem("voiced: not installed", message);
      void vscode.commands.executeCommand("setContext", "voiced.active", false);
      const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Show Log");
      if (choice === "Open Settings") {
        void vscode.commands.executeCommand("workbench.action.openSettings", "voiced.path");
      } else if (choice === "Show Log") {
        this.output.show();
      }
      return;
    }
    this.output.info(`Starting ${found.executable} lsp (found through ${found.source})`);
    const serverOptions: ServerOptions = {
      command: found.executable,
      // No `transport`: the client would append `--stdio`, which `voiced lsp` does not take (stdio is its default).
      args: ["lsp"],
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: selector,
      outputChannel: this.output,
      synchronize: { configurationSection: SECTION },
      middleware: {
        // The model runs in resolve and in the server's commands: spin while either is pending.
        resolveCodeAction: (item, token, next) => this.status.whileBusy(Promise.resolve(next(item, token))),
        executeCommand: (command, args, next) => {
          // A ghost text accepted word by word was reported at its first word (see AcceptWatch).
          if (command === ACCEPTED_COMMAND && !this.accepts.fullAccept(String(args[0]))) {
            return undefined;
          }
          return this.status.whileBusy(Promise.resolve(next(command, args)));
        },
      },
    };
    const client = new LanguageClient("voiced", "voiced", serverOptions, clientOptions);
    try {
      await client.start();
    } catch (error) {
      this.status.problem("voiced: server failed", String(error));
      this.output.error(`voiced lsp did not start: ${String(error)}`);
      return;
    }
    this.client = client;
    void vscode.commands.executeCommand("setContext", "voiced.active", true);
    this.onDidStartEmitter.fire(client);
  }

  private async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop();
      } catch (error) {
        this.output.warn(`voiced lsp did not stop cleanly: ${String(error)}`);
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    await this.stop();
    this.onDidStartEmitter.dispose();
  }
}
