/**
 * Ghost-text Continue: VS Code's inline completion provider, answered by the server's
 * `voiced/inlineCompletion`. vscode-languageclient 9 has LSP 3.18 inline completion only as a
 * proposed feature whose trigger kind is off by one (see inline.ts), so this provider sends the
 * request itself. VS Code cancels the token when the writer types or moves away; the client then
 * sends `$/cancelRequest` and the server stops the daemon's generation.
 */
import * as vscode from "vscode";
import { ExecuteCommandRequest, InlineCompletionItem, InlineCompletionList, RequestType } from "vscode-languageclient/node";
import {
  acceptCommand,
  askDelay,
  AcceptWatch,
  INLINE_METHOD,
  InlineParams,
  inlineParams,
  LspTrigger,
  proposalIdOf,
  waitUnlessCancelled,
} from "./inline";
import { VoicedServer } from "./server";
import { getSettings } from "./settings";

const InlineRequest = new RequestType<InlineParams, InlineCompletionList | InlineCompletionItem[] | null, void>(INLINE_METHOD);

export class GhostText implements vscode.InlineCompletionItemProvider {
  constructor(
    private readonly voiced: VoicedServer,
    private readonly watch: AcceptWatch,
    private readonly output: vscode.LogOutputChannel,
  ) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const client = this.voiced.client;
    if (!client?.isRunning()) {
      return undefined;
    }
    const c2p = client.code2ProtocolConverter;
    const params = inlineParams(
      c2p.asTextDocumentIdentifier(document).uri,
      c2p.asPosition(position),
      context.triggerKind,
      context.selectedCompletionInfo && {
        range: c2p.asRange(context.selectedCompletionInfo.range),
        text: context.selectedCompletionInfo.text,
      },
    );
    const delay = askDelay(params.context.triggerKind, getSettings(document).inline);
    if (delay === undefined || (delay > 0 && !(await waitUnlessCancelled(delay, token)))) {
      return undefined;
    }
    let answer: InlineCompletionList | InlineCompletionItem[] | null;
    try {
      answer = await this.voiced.busy(client.sendRequest(InlineRequest, params, token));
    } catch (error) {
      if (!token.isCancellationRequested) {
        this.output.warn(`${INLINE_METHOD} failed: ${String(error instanceof Error ? error.message : error)}`);
      }
      return undefined;
    }
    if (token.isCancellationRequested || !answer) {
      return undefined;
    }
    const advertised = client.initializeResult?.capabilities.executeCommandProvider?.commands;
    const p2c = client.protocol2CodeConverter;
    const items = (Array.isArray(answer) ? answer : answer.items).filter((item) =>
      typeof item.insertText === "string" ? item.insertText.length > 0 : item.insertText.value.length > 0,
    );
    if (items.length === 0 && params.context.triggerKind === LspTrigger.Invoked) {
      // Asked for explicitly: say why nothing appears rather than leave the writer waiting.
      vscode.window.setStatusBarMessage("voiced: no continuation here (see the voiced output for why)", 4000);
    }
    return items.map((item) => {
        const converted = p2c.asInlineCompletionItem(item.command ? { ...item, command: acceptCommand(item.command, advertised) } : item);
        const id = proposalIdOf(item.command);
        const start = converted.range?.start ?? position;
        if (id && typeof converted.insertText === "string") {
          this.watch.offer(id, document.uri.toString(), document.offsetAt(start), converted.insertText);
        }
        return converted;
      });
  }
}

/** Registers the provider, the explicit trigger, the relay and the partial-accept watch. */
export function registerGhostText(voiced: VoicedServer, watch: AcceptWatch, output: vscode.LogOutputChannel): vscode.Disposable[] {
  const ghost = new GhostText(voiced, watch, output);
  let registration: vscode.Disposable | undefined;
  const register = (selector: vscode.DocumentSelector) => {
    registration?.dispose();
    registration = vscode.languages.registerInlineCompletionItemProvider(selector, ghost);
  };
  const send = (command: string, args: unknown[]) => {
    const client = voiced.client;
    if (client?.isRunning()) {
      client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }).then(undefined, (error: unknown) => {
        output.warn(`${command} failed: ${String(error)}`);
      });
    }
  };
  return [
    voiced.onDidStart(() => register(voiced.selector)),
    { dispose: () => registration?.dispose() },
    vscode.commands.registerCommand("voiced.continueGhostText", async () => {
      if (!voiced.client?.isRunning()) {
        void vscode.window.showWarningMessage("The voiced server is not running. See the voiced output for why.");
        return;
      }
      await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    }),
    // Bound to VS Code's own accept-next-word key while a ghost text is visible: the same command,
    // with the watch told that the insertion that follows is an accept.
    vscode.commands.registerCommand("voiced.acceptNextWord", async () => {
      watch.expectAccept();
      await vscode.commands.executeCommand("editor.action.inlineSuggest.acceptNextWord");
    }),
    vscode.commands.registerCommand("voiced.relayServerCommand", (command: string, ...args: unknown[]) => {
      if (!(command === "voiced.inlineAccepted" && !watch.fullAccept(String(args[0])))) {
        send(command, args);
      }
    }),
    vscode.workspace.onDidChangeTextDocument((event) => {
      if (event.contentChanges.length !== 1) {
        return;
      }
      const change = event.contentChanges[0];
      const id = watch.changed(event.document.uri.toString(), change.rangeOffset, change.rangeLength, change.text);
      if (id) {
        // After this event's other listeners: the language client's didChange must reach the
        // server first, so that it finds the accepted word in the text.
        setTimeout(() => send("voiced.inlineAccepted", [id]), 0);
      }
    }),
  ];
}
