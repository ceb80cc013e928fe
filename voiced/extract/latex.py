"""LaTeX to blocks.

Only the body between \\begin{document} and \\end{document} is read (a file
without them is taken as a fragment). Comments, math, floats, verbatim and
bibliography environments, citations, references, labels and footnotes are
dropped; sectioning commands become headings; the words inside formatting
commands (\\emph, \\textit, \\textbf, ...) are kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator

from voiced.extract.prose import Block, Heading, Paragraph, close_gaps, paragraphs_from_lines

SECTION_LEVELS = {"part": 1, "chapter": 2, "section": 3, "subsection": 4, "subsubsection": 5, "paragraph": 6}
DROPPED_ENVIRONMENTS = (
    "figure",
    "table",
    "tabular",
    "tabularx",
    "longtable",
    "equation",
    "align",
    "alignat",
    "gather",
    "multline",
    "eqnarray",
    "displaymath",
    "math",
    "verbatim",
    "Verbatim",
    "lstlisting",
    "minted",
    "thebibliography",
    "tikzpicture",
    "comment",
    "filecontents",
    "titlepage",
    "wrapfigure",
    "subfigure",
    "algorithm",
    "algorithmic",
)
# Commands whose arguments are not prose: the command and its arguments go.
DROPPED_COMMANDS = (
    "cite",
    "citep",
    "citet",
    "citealp",
    "citeauthor",
    "citeyear",
    "parencite",
    "textcite",
    "autocite",
    "footcite",
    "nocite",
    "ref",
    "eqref",
    "autoref",
    "cref",
    "Cref",
    "pageref",
    "vref",
    "label",
    "footnote",
    "footnotetext",
    "marginpar",
    "index",
    "glossary",
    "includegraphics",
    "input",
    "include",
    "bibliography",
    "bibliographystyle",
    "printbibliography",
    "url",
    "hspace",
    "vspace",
    "setlength",
    "addtolength",
    "setcounter",
    "newcommand",
    "renewcommand",
    "thanks",
    "caption",
    "todo",
    "pagestyle",
    "thispagestyle",
    "documentclass",
    "usepackage",
    "addcontentsline",
    "hypersetup",
    "color",
    "colorbox",
    "fontsize",
)
ACCENTS = {
    "`": "\u0300",
    "'": "\u0301",
    "^": "\u0302",
    "~": "\u0303",
    '"': "\u0308",
    "=": "\u0304",
    ".": "\u0307",
    "c": "\u0327",
    "v": "\u030c",
    "u": "\u0306",
    "H": "\u030b",
}
SYMBOLS = {
    "ldots": "…",
    "dots": "…",
    "textemdash": "—",
    "textendash": "–",
    "ss": "ß",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "o": "ø",
    "O": "Ø",
    "aa": "å",
    "AA": "Å",
    "l": "ł",
    "L": "Ł",
    "S": "§",
    "P": "¶",
    "dag": "†",
    "copyright": "©",
    "pounds": "£",
    "textquoteleft": "‘",
    "textquoteright": "’",
    "textquotedblleft": "“",
    "textquotedblright": "”",
    "LaTeX": "LaTeX",
    "TeX": "TeX",
}

COMMENT = re.compile(r"(?<!\\)%.*")
VERBATIM = re.compile(r"\\(verb|lstinline)\*?([^A-Za-z\s{])(.*?)\2|\\(lstinline|mintinline)(\{[^}]*\})?\{[^}]*\}")
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|(?<!\\)\$(?:\\\$|[^$])+?(?<!\\)\$", re.DOTALL)
ENVIRONMENT = re.compile(r"\\begin\{(" + "|".join(DROPPED_ENVIRONMENTS) + r")\*?\}.*?\\end\{\1\*?\}", re.DOTALL)
BEGIN_END = re.compile(r"\\(begin|end)\{[^}]*\}(\[[^\]]*\])?")
ITEM = re.compile(r"\\item\b(\[[^\]]*\])?")
SECTION = re.compile(r"\\(" + "|".join(SECTION_LEVELS) + r")\*?\s*(\[[^\]]*\])?\s*\{")
DROPPED = re.compile(r"\\(" + "|".join(DROPPED_COMMANDS) + r")\*?(?![A-Za-z])")
HREF = re.compile(r"\\href\s*\{")
ACCENT = re.compile(r"\\([`'^~\"=.]|[cvuH](?=[\s{]))\s*\{?\s*(\\?[A-Za-z])\}?")
SYMBOL = re.compile(r"\\(" + "|".join(sorted(SYMBOLS, key=len, reverse=True)) + r")(?![A-Za-z])\s?(\{\})?")
OTHER_COMMAND = re.compile(r"\\[A-Za-z@]+\*?(\[[^\]]*\])?")
HEADING_MARK = "\x00H"


def _group_end(text: str, start: int) -> int:
    """Index just past the brace group whose opening brace is at ``start - 1``."""
    depth = 1
    index = start
    while index < len(text) and depth:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        index += 1
    return index


def _drop_commands(text: str) -> str:
    """Remove each dropped command with its optional and braced arguments."""
    out: list[str] = []
    position = 0
    for match in DROPPED.finditer(text):
        if match.start() < position:
            continue
        out.append(text[position : match.start()])
        index = match.end()
        while True:
            rest = text[index:]
            stripped = len(rest) - len(rest.lstrip(" \t"))
            if rest[stripped : stripped + 1] == "[":
                close = text.find("]", index + stripped)
                index = close + 1 if close >= 0 else len(text)
            elif rest[stripped : stripped + 1] == "{":
                index = _group_end(text, index + stripped + 1)
            else:
                break
        position = index
    out.append(text[position:])
    return "".join(out)


def _replace_braced(pattern: re.Pattern[str], text: str, render: Callable[[re.Match[str], str], str]) -> str:
    """Replace ``\\command{...}`` (pattern ends at the opening brace) by render(match, argument)."""
    while match := pattern.search(text):
        end = _group_end(text, match.end())
        text = text[: match.start()] + render(match, text[match.end() : end - 1]) + text[end:]
    return text


def _body(text: str) -> str:
    begin = text.find("\\begin{document}")
    if begin >= 0:
        text = text[begin + len("\\begin{document}") :]
    end = text.find("\\end{document}")
    return text[:end] if end >= 0 else text


def _accent(match: re.Match[str]) -> str:
    letter = match.group(2).lstrip("\\")
    letter = {"i": "i", "j": "j"}.get(letter, letter)
    return unicodedata.normalize("NFC", letter + ACCENTS[match.group(1)])


def _plain(text: str) -> str:
    """What remains after structure is gone: formatting commands lose their names, keep their words."""
    text = ACCENT.sub(_accent, text)
    text = SYMBOL.sub(lambda m: SYMBOLS[m.group(1)], text)
    text = re.sub(r"\\\\(\[[^\]]*\])?|\\newline\b|\\par\b|\\linebreak\b", " ", text)
    text = re.sub(r"\\([&%$#_{}])", r"\1", text)
    text = OTHER_COMMAND.sub("", text)
    text = text.replace("{", "").replace("}", "")
    text = text.replace("---", "—").replace("--", "–").replace("``", "“").replace("''", "”").replace("`", "‘")
    text = re.sub(r"(?<!\\)~", " ", text)
    return text.replace("\\ ", " ").replace("\\,", " ").replace("\\", "")


def blocks(text: str) -> Iterator[Block]:
    """Headings and prose paragraphs of a LaTeX document, in order."""
    text = VERBATIM.sub(" ", _body(text).replace(HEADING_MARK, " "))
    text = "\n".join(COMMENT.sub("", line) for line in text.split("\n"))
    text = ENVIRONMENT.sub("\n\n", text)
    text = DISPLAY_MATH.sub(" ", text)
    text = _drop_commands(text)
    text = _replace_braced(HREF, text, lambda match, url: "")  # \href{url}{text}: the text group stays
    text = _replace_braced(
        SECTION,
        text,
        lambda match, title: f"\n\n{HEADING_MARK}{SECTION_LEVELS[match.group(1)]} {' '.join(title.split())}\n\n",
    )
    text = BEGIN_END.sub("\n\n", text)
    text = ITEM.sub("\n\n", text)
    text = re.sub(
        r"\\(par|bigskip|medskip|smallskip|noindent|newpage|clearpage|maketitle|tableofcontents)\b", "\n\n", text
    )
    for paragraph in paragraphs_from_lines(text.split("\n")):
        raw = paragraph.text.strip()
        if raw.startswith(HEADING_MARK):
            level, _, title = raw[len(HEADING_MARK) :].partition(" ")
            yield Heading(int(level), _plain(title))
        else:
            yield Paragraph(close_gaps(_plain(raw)))
