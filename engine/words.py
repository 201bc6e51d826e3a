"""Counts and articles in messages: "1 edit", "3 edits", "an int"."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """Return "1 edit" / "3 edits" (`many` for words that do not just take an s)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def a_or_an(word: str) -> str:
    """Return `word` with its indefinite article: "an int", "a float"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
