"""The code actions offered for a selection or a cursor position (pure; no I/O).

`textDocument/codeAction` must answer at once, so it only builds titles and
the data that `codeAction/resolve` (or the `voiced.*` command) needs later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lsprotocol import types

from voiced.lsp.textops import Target

REWRITE = "rewrite"
CONTINUE = "continue"
COMMAND_FOR_TASK = {REWRITE: "voiced.rewrite", CONTINUE: "voiced.continue"}
TITLES = {REWRITE: "Rewrite in my voice", CONTINUE: "Continue in my voice"}
KINDS = {REWRITE: types.CodeActionKind.RefactorRewrite, CONTINUE: types.CodeActionKind.RefactorRewrite}


@dataclass(frozen=True)
class ActionData:
    """What an action carries from codeAction to resolve: enough to redo the lookup and detect staleness."""

    task: str
    uri: str
    version: int | None
    voice: str
    start_line: int
    start_character: int
    end_line: int
    end_character: int

    @property
    def range(self) -> types.Range:
        return types.Range(
            start=types.Position(line=self.start_line, character=self.start_character),
            end=types.Position(line=self.end_line, character=self.end_character),
        )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> ActionData:
        if not isinstance(data, dict):
            raise ValueError("this code action carries no voiced data")
        try:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed voiced action data: {exc}") from exc


def _title(task: str, voice: str, several: bool) -> str:
    return f"{TITLES[task]} ({voice})" if several else TITLES[task]


def build_actions(
    uri: str, version: int | None, target: Target, voices: list[str], *, task: str, can_resolve: bool
) -> list[types.CodeAction]:
    """One action per voice (the document's own voice first) for ``task`` on ``target``."""
    actions = []
    for voice in voices:
        rng = target.range
        data = ActionData(
            task, uri, version, voice, rng.start.line, rng.start.character, rng.end.line, rng.end.character
        )
        action = types.CodeAction(title=_title(task, voice, len(voices) > 1), kind=KINDS[task])
        if can_resolve:
            action.data = data.to_json()
        else:
            # Clients that cannot resolve run the command; the server applies the edit itself.
            # Keywords: lsprotocol's field order changes between releases (2025 put `tooltip` second).
            action.command = types.Command(
                title=action.title, command=COMMAND_FOR_TASK[task], arguments=[data.to_json()]
            )
        actions.append(action)
    return actions


def order_voices(voices: list[str], document_voice: str | None, preferred: str = "") -> list[str]:
    """The voices to offer: the user's preferred, then the document's own, then the rest."""
    ordered = [v for v in (preferred, document_voice) if v and v in voices]
    return list(dict.fromkeys(ordered + voices))
