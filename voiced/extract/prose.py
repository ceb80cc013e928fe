"""What counts as prose, shared by every format.

Format modules turn a file into a flat stream of blocks (headings and raw
paragraphs, markup already removed); :func:`assemble` turns that stream into
passages: whitespace normalised, non-prose dropped, reference sections
skipped, long paragraphs split at sentence boundaries, order numbered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from voiced.config import ExtractionSettings


@dataclass(frozen=True)
class Passage:
    """One paragraph of prose with its place in the document."""

    section: tuple[str, ...]  # heading path, outermost first; () before any heading
    order: int  # 0-based position of the passage in its document
    text: str  # one paragraph of prose, whitespace-normalised

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Heading:
    level: int  # 1 is outermost
    title: str


@dataclass(frozen=True)
class Paragraph:
    text: str


Block = Heading | Paragraph

_ROMAN = r"[ivxlcdm]+"
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|first|second|third|fourth|"
    r"fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\w+teenth|\w+tieth|last"
)
CHAPTER_LINE = re.compile(
    r"^(chapter|book|part|volume|vol\.|canto|letter|section|act|scene)\s+"
    rf"(the\s+)?(\d+|{_ROMAN}|({_NUMBER_WORDS})([- ]\w+)?)"
    rf"\s*[.:]?$",
    re.IGNORECASE,
)
DIVISION_LEVELS = {"volume": 1, "vol.": 1, "book": 1, "part": 1, "act": 1, "chapter": 2, "letter": 2, "canto": 2}
REFERENCE_HEADINGS = re.compile(
    r"^(\d+(\.\d+)*\.?\s+)?(references|bibliography|works cited|literature cited|cited works|sources|"
    r"further reading|references and notes|notes and references|citations)\s*:?$",
    re.IGNORECASE,
)
# Licence markers name the edition ("*** START OF THE PROJECT GUTENBERG EBOOK X ***"), so a writer's own
# "*** Start of part two ***" scene break is never taken for one.
_EDITION = r"(PROJECT GUTENBERG|E-?BOOK|E-?TEXT)"
GUTENBERG_START = re.compile(
    rf"^\s*(\*{{3}}\s*START OF\b.*{_EDITION}.*|\*END\*\s*THE SMALL PRINT.*)$", re.IGNORECASE | re.MULTILINE
)
GUTENBERG_END = re.compile(
    rf"^\s*(\*{{3}}\s*END OF\b.*{_EDITION}.*|End of (the )?Project Gutenberg.*)$", re.IGNORECASE | re.MULTILINE
)

LINK_STARTS = ("http://", "https://", "ftp://", "www.", "mailto:", "<http", "(http", "[http")
_YEAR = re.compile(r"\(?\b(1[5-9]\d\d|20\d\d)[a-z]?\)?")
_CITATION_START = re.compile(
    r"^(\[\d+\]|\d+\.\s+[A-Z][\w'-]+,|[A-Z][\w'-]+(\s[A-Z][\w'-]+)?,\s+([A-Z]\.\s?)+([,&]|and\b|\(|\d))"
)
_CITATION_MARKS = re.compile(
    r"\bdoi:|\bISBN\b|\bpp?\.\s*\d|\bvol\.\s*\d|\bed(s)?\.\s|\bet al\.|\bUniversity Press\b"
    r"|\bJournal of\b|\bRetrieved from\b|\bIn:\s",
    re.IGNORECASE,
)
_MAYBE_LINK = re.compile(r"https?:|ftp:|www\.|mailto:|@", re.IGNORECASE)
_WORDLESS_TOKEN = re.compile(r"(?<!\S)[\W\d_]+(?!\S)")  # a token without a single letter
_NON_LETTERS = re.compile(r"[\W\d_\s]+")
_CODE_CHARS = "{}[]<>=\\|^~`"  # rare in prose, common in code (semicolons, $ and # are both)
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "prof",
    "sr",
    "jr",
    "rev",
    "hon",
    "capt",
    "col",
    "gen",
    "lt",
    "messrs",
    "mme",
    "mlle",
    "no",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "cf",
    "viz",
    "fig",
    "vol",
    "p",
    "pp",
}
_GAP = re.compile(r"(?<!\s)\s+([.,;:!?])(?=\s|$)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])([\"'”’)\]]*)\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def normalise_whitespace(text: str) -> str:
    """Join hard-wrapped lines and collapse every run of whitespace to one space."""
    return " ".join(text.replace("\u00ad", "").split())


def close_gaps(text: str) -> str:
    """Remove the space a dropped citation or reference leaves before punctuation ("the book [1]." -> "the book.")."""
    return _GAP.sub(r"\1", text)


def strip_gutenberg(text: str) -> str:
    """Keep only the book between Project Gutenberg's START and END markers, when present."""
    start = GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def chapter_level(text: str) -> int | None:
    """For 'VOLUME II', 'CHAPTER IV', 'Scene 3' (a number, not prose): its depth in the book, else None."""
    match = CHAPTER_LINE.match(normalise_whitespace(text))
    if match is None:
        return None
    return DIVISION_LEVELS.get(match.group(1).lower(), 3)


def is_chapter_line(text: str) -> bool:
    return chapter_level(text) is not None


def is_reference_heading(title: str) -> bool:
    return bool(REFERENCE_HEADINGS.match(normalise_whitespace(title)))


def looks_like_citation(text: str) -> bool:
    """A bibliography entry: author-initials or numbered start, a year, and citation furniture."""
    if len(text.split()) > 80 or not _YEAR.search(text):
        return False
    return bool(_CITATION_START.match(text)) or len(_CITATION_MARKS.findall(text)) >= 2


def _is_link(token: str) -> bool:
    """A URL or an e-mail address."""
    lowered = token.lower()
    return lowered.startswith(LINK_STARTS) or ("@" in token and "." in token.rpartition("@")[2])


def is_prose(text: str, settings: ExtractionSettings) -> bool:
    """Whether a normalised paragraph reads as prose worth learning a voice from."""
    tokens = text.split()
    if len(tokens) < max(1, settings.min_passage_words) or is_chapter_line(text):
        return False
    if _MAYBE_LINK.search(text) and sum(1 for token in tokens if _is_link(token)) / len(tokens) > 0.3:
        return False
    if len(_WORDLESS_TOKEN.findall(text)) / len(tokens) > 0.4:
        return False
    visible = len(text) - text.count(" ")
    letters = len(_NON_LETTERS.sub("", text))
    code = sum(text.count(char) for char in _CODE_CHARS)
    if letters / visible < 0.6 or code / visible > 0.05 or text.count("\ufffd") / visible > 0.05:
        return False
    return not looks_like_citation(text)


def sentences(text: str) -> list[str]:
    """Split at sentence ends, but not after 'Mr.', 'Mrs.', initials and the like."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()] + match.group(1)
        last_word = candidate.rstrip("\"'”’)]").rsplit(None, 1)[-1] if candidate.strip() else ""
        stem = last_word.rstrip(".").lower().lstrip("\"'“‘([")
        if last_word.endswith(".") and (stem in _ABBREVIATIONS or (len(stem) == 1 and stem.isalpha())):
            continue
        pieces.append(candidate.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def split_long(text: str, max_words: int) -> list[str]:
    """Split a paragraph longer than ``max_words`` into near-equal runs of whole sentences.

    A single sentence longer than the limit is cut between words.
    """
    total = len(text.split())
    if max_words <= 0 or total <= max_words:
        return [text]
    target = math.ceil(total / math.ceil(total / max_words))
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in sentences(text):
        words = sentence.split()
        if len(words) > max_words:
            if current:
                chunks.append(" ".join(current))
                current, count = [], 0
            chunks.extend(" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words))
            continue
        if current and (count + len(words) > max_words or count >= target):
            chunks.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += len(words)
    if current:
        chunks.append(" ".join(current))
    return chunks


def assemble(blocks: Iterable[Block], settings: ExtractionSettings) -> list[Passage]:
    """Blocks to numbered passages under their heading path."""
    stack: list[Heading] = []
    skipping_above: int | None = None  # inside a reference section of this level
    passages: list[Passage] = []
    for block in blocks:
        if isinstance(block, Heading):
            title = normalise_whitespace(block.title)
            if not title:
                continue
            while stack and stack[-1].level >= block.level:
                stack.pop()
            stack.append(Heading(block.level, title))
            if skipping_above is not None and block.level <= skipping_above:
                skipping_above = None
            if skipping_above is None and is_reference_heading(title):
                skipping_above = block.level
            continue
        if skipping_above is not None:
            continue
        text = normalise_whitespace(block.text)
        if not is_prose(text, settings):
            continue
        section = tuple(heading.title for heading in stack)
        for piece in split_long(text, settings.max_passage_words):
            passages.append(Passage(section, len(passages), piece))
    return passages


def line_blocks(lines: Iterable[str]) -> Iterator[list[str]]:
    """Runs of non-blank lines, as separated by blank lines."""
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            yield current
            current = []
    if current:
        yield current


def paragraphs_from_lines(lines: Iterable[str]) -> Iterator[Paragraph]:
    """Blank-line-separated runs of lines as paragraphs (for formats whose markup is already gone)."""
    for block in line_blocks(lines):
        yield Paragraph(" ".join(block))
