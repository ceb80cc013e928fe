"""The rewrite guard on real answers of the embedded base model (tests/fixtures/README.md) and on the
cases a writer's own text must survive: a narrator who says "I will", dialogue in quotes, names."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from voiced.config import InferenceSettings
from voiced.inference.rewrite_guard import (
    GuardLimits,
    GuardReport,
    content_kept,
    describe,
    guarded,
    judge,
    longest_dropped_run,
    names_and_numbers,
)

LIMITS = GuardLimits.from_settings(InferenceSettings())
FIXTURES = [
    json.loads(line)
    for line in (Path(__file__).parent / "fixtures" / "base_model_rewrites.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
]


@pytest.mark.parametrize("case", FIXTURES, ids=[f"{c['paragraph']}-{c['code'] or 'ok'}" for c in FIXTURES])
def test_real_answers_of_the_base_model_are_judged_as_a_reader_would(case: dict) -> None:
    verdict = judge(case["draft"], case["output"], LIMITS)
    assert (verdict.outcome, verdict.code) == (case["outcome"], case["code"])
    if verdict.outcome == "rejected":
        assert verdict.text == case["draft"].strip()  # what may be inserted is the draft itself
        assert verdict.reason
    if verdict.outcome == "cleaned":
        assert not verdict.text.lower().startswith(("rewrite", "here", "i am"))
        assert ":\n" not in verdict.text and verdict.text in case["output"]


def test_the_fixtures_cover_every_kind_of_answer() -> None:
    """Every rejection a real answer earns (a label alone around a good rewrite: the parametrised cases below)."""
    codes = {case["code"] for case in FIXTURES}
    wanted = {"commentary", "content_dropped", "clause_dropped", "names_dropped", "too_short", "too_long", "lines", ""}
    assert wanted <= codes


DRAFT = "The rain had stopped by the time we reached the harbour, and the boats were coming in with the tide."
REWRITE = "By the time we reached the harbour the rain had stopped, and the boats came in on the tide."


@pytest.mark.parametrize(
    "answer",
    [
        "Here is the rewrite:\n\n" + REWRITE,
        "Sure! Here's a rewritten version in my voice:\n" + REWRITE,
        "**Rewritten:**\n" + REWRITE,
        "Rewrite: " + REWRITE,
        f"\u201c{REWRITE}\u201d",
        REWRITE + "\n\nI hope this helps!",
        REWRITE + " I have kept the meaning of the text.",
    ],
)
def test_a_label_quotes_or_a_remark_around_a_rewrite_are_cut(answer: str) -> None:
    verdict = judge(DRAFT, answer, LIMITS)
    assert (verdict.outcome, verdict.text) == ("cleaned", REWRITE)


@pytest.mark.parametrize(
    "answer",
    [
        "I'll make that sound even more vivid. The text is written in my voice, with a focus on the harbour.",
        "This text describes a harbour after the rain. The boats are coming in.",
        "The passage is already polished and concise.",
        REWRITE.rstrip(".") + ". This version keeps the harbour. " + REWRITE,
    ],
)
def test_commentary_is_rejected_and_says_what_was_said(answer: str) -> None:
    verdict = judge(DRAFT, answer, LIMITS)
    assert (verdict.outcome, verdict.code, verdict.text) == ("rejected", "commentary", DRAFT)
    assert "commented on the text" in verdict.reason and "\u201c" not in verdict.reason


def test_a_writer_s_own_words_are_not_taken_for_commentary() -> None:
    draft = (
        "'I will try to make it right,' I said. Her voice shook; the text of the letter lay open "
        "on the table, and I'm sure she had read it twice."
    )
    rewrite = (
        "'I will try to make it right,' said I. Her voice trembled; the text of the letter lay open "
        "upon the table, and I am sure she had read it twice."
    )
    assert judge(draft, rewrite, LIMITS).outcome == "ok"
    dialogue = "\u2018You think me cold,\u2019 said Rose, \u2018but I am only tired.\u2019"
    kept = "\u2018You think me cold,\u2019 Rose said, \u2018but I am merely tired.\u2019"
    assert judge(dialogue, kept, LIMITS).text == kept  # its quotes are the dialogue's, not a wrapping


def test_a_copy_is_unchanged_not_an_error() -> None:
    verdict = judge(DRAFT, "  " + DRAFT.replace(" the boats", "\nthe boats") + "\n", LIMITS)
    assert (verdict.outcome, verdict.accepted, verdict.text) == ("unchanged", True, DRAFT)


def test_length_and_content_drift_are_rejected_with_numbers() -> None:
    short = judge(DRAFT, "The rain stopped.", LIMITS)
    assert (short.code, "3 words for 20" in short.reason) == ("too_short", True)
    long = judge(DRAFT, REWRITE + " " + REWRITE.replace("harbour", "quay"), LIMITS)
    assert long.code == "too_long"
    drift = judge(
        DRAFT, "Snow lay thick on every roof of the sleeping village, and nobody stirred until noon came.", LIMITS
    )
    assert drift.code == "content_dropped" and "%" in drift.reason
    clause = judge(DRAFT, "The rain had stopped by the time we reached the harbour.", LIMITS)
    assert clause.code == "clause_dropped" and "9 words" in clause.reason and "the boats were" in clause.reason


def test_words_replaced_one_or_two_at_a_time_are_no_dropped_clause() -> None:
    rewrite = "The rain was over when we got to the harbour; the boats came in with the tide."
    assert longest_dropped_run(DRAFT, rewrite)[0] <= 2
    moved = "By the time we reached the harbour the rain had stopped, and the boats were coming in with the tide."
    assert longest_dropped_run(DRAFT, moved) == (0, "")  # a clause moved to the front is not left out
    assert judge(DRAFT, rewrite, LIMITS).outcome == "ok"


def test_a_capped_request_is_judged_for_commentary_only() -> None:
    assert judge(DRAFT, "The rain had stopped", LIMITS, check_length=False).outcome == "ok"
    assert judge(DRAFT, "Here is the text in my voice.", LIMITS, check_length=False).code == "commentary"


def test_names_are_capitalised_words_inside_a_sentence_and_numbers() -> None:
    text = "\u2018Yes,\u2019 cried Rose. In 1827 Mr. Markham rode to Lindenhope. And then I\u2019m sure I left."
    assert names_and_numbers(text) == {"Rose", "1827", "Mr", "Lindenhope"}
    verdict = judge(
        text, "\u2018Yes,\u2019 said she. In 1827 Mr. Markham went to Lindenhope. Then I\u2019m sure I left.", LIMITS
    )
    assert (verdict.code, "Rose" in verdict.reason) == ("names_dropped", True)


def test_content_words_match_across_inflections() -> None:
    assert content_kept("She walked home and talked", "she walks home, talking") == 1.0
    assert content_kept("a b c", "x") is None  # too few to tell


@dataclass(frozen=True)
class Params:
    seed: int
    temperature: float


def test_guarded_retries_once_with_another_seed_then_keeps_the_draft_and_reports() -> None:
    seen: list[Params] = []

    def attempt(params: Params):
        seen.append(params)
        yield "I'll make that sound "
        yield "even more vivid."

    reports: list[GuardReport] = []
    out = "".join(
        guarded(
            DRAFT,
            attempt,
            Params(seed=5, temperature=0.0),
            LIMITS,
            paragraph=3,
            retries=1,
            retry_temperature=0.5,
            stop=threading.Event(),
            report=reports.append,
        )
    )
    assert out == DRAFT
    assert [p.seed for p in seen][0] == 5 and seen[1].seed != 5 and seen[1].temperature == 0.5
    assert [(r.paragraph, r.outcome, r.code, r.attempts) for r in reports] == [(3, "rejected", "commentary", 2)]


def test_guarded_takes_a_good_retry_and_says_why_it_retried() -> None:
    answers = iter(["The text is lovely.", REWRITE])
    reports: list[GuardReport] = []
    out = "".join(
        guarded(
            DRAFT,
            lambda params: [next(answers)],
            Params(1, 0.3),
            LIMITS,
            paragraph=1,
            retries=1,
            retry_temperature=0.5,
            stop=threading.Event(),
            report=reports.append,
        )
    )
    assert out == REWRITE
    assert [(r.outcome, r.code, r.attempts) for r in reports] == [("ok", "commentary", 2)]


def test_guarded_yields_nothing_once_cancelled() -> None:
    stop = threading.Event()

    def attempt(params):
        stop.set()
        return ["The text is lovely."]

    calls = []
    assert (
        list(
            guarded(
                DRAFT,
                attempt,
                Params(1, 0.3),
                LIMITS,
                paragraph=1,
                retries=1,
                retry_temperature=0.5,
                stop=stop,
                report=calls.append,
            )
        )
        == []
    )
    assert calls == []


def test_describe_tells_the_writer_which_paragraphs_were_left_and_why() -> None:
    reports = [
        GuardReport(2, "rejected", "commentary", "the model commented on the text instead of rewriting it", 2),
        GuardReport(3, "ok", "commentary", "x", 2),
        GuardReport(5, "unchanged", "unchanged", "y", 1),
    ]
    message = describe(r.to_dict() for r in reports)
    assert message == (
        "Paragraph 2 was left as it was, because the model commented on the text instead of "
        "rewriting it. Try again, or rewrite it by hand. Paragraph 5 came back unchanged."
    )
    assert describe([GuardReport(1, "ok", "commentary", "x", 2).to_dict()]) is None
    two = describe([GuardReport(n, "rejected", "too_long", "r", 2).to_dict() for n in (1, 4)])
    assert two.startswith("Paragraphs 1 and 4 were left as they were, because 1: r; 4: r.")


def test_a_sentence_that_opens_like_an_assistant_is_prose_when_it_goes_on_like_prose() -> None:
    draft = "She was glad of it, and she said so to her sister before the evening was over."
    assert (
        judge(
            draft, "Of course she was glad of it, and said so to her sister before the evening ended.", LIMITS
        ).outcome
        == "ok"
    )
    labelled = judge(
        draft, "Certainly! Here is the text: she was glad of it, and told her sister so before evening.", LIMITS
    )
    assert (labelled.outcome, labelled.text) == (
        "cleaned",
        "she was glad of it, and told her sister so before evening.",
    )
