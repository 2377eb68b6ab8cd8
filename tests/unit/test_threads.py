"""X threads: a long item becomes a reply chain whose every part fits, citation kept whole."""

from __future__ import annotations

from bot.render.limits import x_length
from bot.render.threads import split_thread

CITATION = "Source: Amnesty International, 11 Jul 2017 https://www.amnesty.org.nz/any-cost"


def test_short_text_is_one_part() -> None:
    assert split_thread("Short.", x_length, 280) == ["Short."]


def test_long_text_splits_at_sentences_and_keeps_citation_whole() -> None:
    sentences = " ".join(f"Sentence number {i} says something about Mosul." for i in range(20))
    text = f"{sentences}\n\n{CITATION}"
    parts = split_thread(text, x_length, 280)
    assert len(parts) > 1
    assert all(x_length(part) <= 280 for part in parts)
    assert CITATION in parts[-1]
    assert " ".join(parts).replace("\n\n", " ").split() == text.replace("\n\n", " ").split()
    assert all(part.endswith((".", CITATION)) for part in parts)


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces() -> None:
    text = "word " * 120 + "\n\n" + CITATION
    parts = split_thread(text.strip(), x_length, 280)
    assert all(x_length(part) <= 280 for part in parts)
    assert parts[-1].endswith(CITATION)
