/**
 * Activation: wires the server, the status item and the commands. Rewriting
 * itself is the server's code action; these commands only ask for it.
 */
import * as vscode from "vscode";
import {
  CodeAction,
  CodeActionRequest,
  CodeActionResolveRequest,
  ExecuteCommandRequest,
  LanguageClient,
} from "vscode-languageclient/node";
import { registerGhostText } from "./ghost";
import { AcceptWatch } from "./inline";
import { VoicedServer, pythonApi } from "./server";
import { documentSelector, getSettings, needsRestart } from "./settings";
import { VoicedStatus } from "./status";
import { parseVersion, pickVoice, ServerStatus, statusRequest, versionPicks } from "./summary";

const REWRITE_KIND = "refactor.rewrite";
/** How often the status item asks the server (quietly) for the active adapter and training progress. */
const REFRESH_MS = 60_000;

let server: VoicedServer | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("voiced", { log: true });
  const status = new VoicedStatus(documentSelector(getSettings()));
  const accepts = new AcceptWatch();
  server = new VoicedServer(output, status, accepts);
  const voiced = server;
  context.subscriptions.push(output, status, voiced, ...registerGhostText(voiced, accepts, output));

  voiced.onDidStart(() => void refreshStatus(voiced, status), undefined, context.subscriptions);
  const timer = setInterval(() => void refreshStatus(voiced, status), REFRESH_MS);
  context.subscriptions.push({ dispose: () => clearInterval(timer) });
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (needsRestart(event)) {
        voiced.scheduleRestart();
      }
    }),
    vscode.commands.registerCommand("voiced.rewriteSelection", () => applyAction(voiced, "Rewrite in my voice")),
    vscode.commands.registerCommand("voiced.continueHere", () => applyAction(voiced, "Continue in my voice")),
    vscode.commands.registerCommand("voiced.showStatus", () => refreshStatus(voiced, status, false)),
    vscode.commands.registerCommand("voiced.trainNow", () => adapterCommand(voiced, status, "voiced.train", false)),
    vscode.commands.registerCommand("voiced.activateAdapter", () =>
      adapterCommand(voiced, status, "voiced.activate", true),
    ),
    vscode.commands.registerCommand("voiced.rollbackAdapter", () =>
      adapterCommand(voiced, status, "voiced.rollback", false),
    ),
    vscode.commands.registerCommand("voiced.restartServer", () => voiced.restart()),
  );
  const python = await pythonApi();
  if (python) {
    context.subscriptions.push(
      python.environments.onDidChangeActiveEnvironmentPath(() => {
        if (!getSettings().path) {
          voiced.scheduleRestart();
        }
      }),
    );
  }
  voiced.scheduleRestart(0);
}

export async function deactivate(): Promise<void> {
  await server?.dispose();
}

function runningClient(voiced: VoicedServer): LanguageClient | undefined {
  if (!voiced.client?.isRunning()) {
    void vscode.window.showWarningMessage("The voiced server is not running. See the voiced output for why.");
    return undefined;
  }
  return voiced.client;
}

/** Asks the server for its code actions at the selection, lets the user pick a voice, resolves and applies it. */
async function applyAction(voiced: VoicedServer, titlePrefix: string): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const client = runningClient(voiced);
  if (!editor || !client) {
    return;
  }
  const c2p = client.code2ProtocolConverter;
  const actions = await client.sendRequest(CodeActionRequest.type, {
    textDocument: c2p.asTextDocumentIdentifier(editor.document),
    range: c2p.asRange(editor.selection),
    context: { diagnostics: [], only: [REWRITE_KIND], triggerKind: 1 },
  });
  const offered = (actions ?? []).filter(
    (a): a is CodeAction => "title" in a && !("command" in a && typeof a.command === "string") && a.title.startsWith(titlePrefix),
  );
  if (offered.length === 0) {
    void vscode.window.showInformationMessage(
      `${titlePrefix} is not offered here: select a paragraph of prose (Continue needs the cursor at a paragraph's end).`,
    );
    return;
  }
  const chosen =
    offered.length === 1
      ? offered[0]
      : (await vscode.window.showQuickPick(offered.map((a) => ({ label: a.title, action: a }))))?.action;
  if (!chosen) {
    return;
  }
  const resolved = chosen.edit || chosen.command ? chosen : await voiced.busy(client.sendRequest(CodeActionResolveRequest.type, chosen));
  if (resolved.edit) {
    await vscode.workspace.applyEdit(await client.protocol2CodeConverter.asWorkspaceEdit(resolved.edit));
  } else if (resolved.command) {
    await executeServerCommand(client, resolved.command.command, resolved.command.arguments ?? []);
  }
}

async function executeServerCommand(client: LanguageClient, command: string, args: unknown[]): Promise<unknown> {
  return vscode.commands.executeCommand(command, ...args).then(undefined, () =>
    client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }),
  );
}

/** voiced.status; quiet (the default) only returns it, loud also shows the server's summary to the user. */
async function fetchStatus(client: LanguageClient, quiet = true): Promise<ServerStatus | null> {
  return (await client.sendRequest(ExecuteCommandRequest.type, statusRequest(quiet))) as ServerStatus | null;
}

async function refreshStatus(voiced: VoicedServer, status: VoicedStatus, quiet = true): Promise<void> {
  const client = voiced.client;
  if (!client?.isRunning()) {
    return;
  }
  try {
    status.show(await fetchStatus(client, quiet), getSettings().voice);
  } catch (error) {
    status.problem("voiced: status failed", String(error));
  }
}

async function chooseVoice(client: LanguageClient): Promise<string | undefined> {
  const current = await fetchStatus(client);
  const voices = current?.voices ?? [];
  if (voices.length <= 1) {
    return pickVoice(current ?? {}, getSettings().voice) ?? (getSettings().voice || undefined);
  }
  return vscode.window.showQuickPick(voices, { placeHolder: "Which voice?" });
}

/** A pick list of the voice's versions from voiced.status; typed in when the server does not list them. */
async function chooseVersion(client: LanguageClient, voice: string): Promise<number | undefined> {
  const picks = versionPicks(await fetchStatus(client), voice);
  if (picks === undefined) {
    const typed = await vscode.window.showInputBox({
      prompt: `Adapter version to activate for ${voice}`,
      validateInput: (value) => (typeof parseVersion(value) === "string" ? (parseVersion(value) as string) : undefined),
    });
    return typed === undefined ? undefined : (parseVersion(typed) as number);
  }
  if (picks.length === 0) {
    void vscode.window.showInformationMessage(`${voice} has no adapter version to activate yet: run "voiced: Train now" first.`);
    return undefined;
  }
  const chosen = await vscode.window.showQuickPick(picks, {
    placeHolder: `Adapter version to activate for ${voice}`,
    matchOnDescription: true,
    matchOnDetail: true,
  });
  return chosen?.version;
}

/** voiced.train {voice}, voiced.activate {voice, version}, voiced.rollback {voice}: run by the server. */
async function adapterCommand(voiced: VoicedServer, status: VoicedStatus, command: string, askVersion: boolean): Promise<void> {
  const client = runningClient(voiced);
  if (!client) {
    return;
  }
  const voice = await chooseVoice(client);
  if (!voice) {
    void vscode.window.showWarningMessage("No voice to act on: add a voice to voiced's config first.");
    return;
  }
  const argument: { voice: string; version?: number } = { voice };
  if (askVersion) {
    const version = await chooseVersion(client, voice);
    if (version === undefined) {
      return;
    }
    argument.version = version;
  }
  try {
    await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] });
  } catch (error) {
    const message = String(error instanceof Error ? error.message : error);
    const missing = /not found|unknown command|-32601/i.test(message);
    void vscode.window.showErrorMessage(
      missing
        ? `This voiced server does not offer ${command} yet; use \`voiced ${command === "voiced.train" ? "train" : "adapters " + command.split(".")[1]}\` in a terminal.`
        : `${command} failed: ${message}`,
    );
  }
  await refreshStatus(voiced, status);
}
