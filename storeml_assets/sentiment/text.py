"""Review text as the model reads it: title and body joined, whatever arrives.

Serving and training both go through :func:`review_texts`, so the model never sees a shape of input
it was not trained on. Missing or empty parts become empty strings; bytes are decoded as UTF-8 with
invalid sequences replaced; lone surrogates (what Python makes of undecodable bytes read with
``surrogateescape``) are replaced too; a text longer than :data:`MAX_CHARS` keeps its head and its
tail (reviews put the verdict first or last), so a 1 MB review costs as much as a long one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

#: Longest text the model reads, in characters: the head and the tail of longer texts are kept.
MAX_CHARS = 4_000
_HEAD_CHARS = 3_000
#: The columns the model reads, in serving input and in the reviews table.
TEXT_COLUMNS: tuple[str, ...] = ("title", "body")


def clean_text(value: Any) -> str:
    """One part of a review as a clean string: '' for None/NaN, bytes decoded, surrogates replaced,
    whitespace collapsed, truncated to :data:`MAX_CHARS` (head and tail)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = str(value)
    if len(text) > 4 * MAX_CHARS:  # cut before the whitespace pass: a 1 MB review is not read whole
        text = text[: 2 * MAX_CHARS] + " " + text[-2 * MAX_CHARS:]
    text = text.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    text = " ".join(text.split())
    if len(text) > MAX_CHARS:
        text = text[:_HEAD_CHARS] + " ... " + text[-(MAX_CHARS - _HEAD_CHARS - 5):]
    return text


def join_review(title: Any, body: Any) -> str:
    """``"<title> . <body>"`` cleaned (one of them may be empty), lower case."""
    head, tail = clean_text(title), clean_text(body)
    return (f"{head} . {tail}" if head and tail else head or tail).lower()


def review_texts(frame: pd.DataFrame) -> list[str]:
    """The model's text for every row of ``frame`` (columns ``title`` and/or ``body``; a ``text``
    column is read as the body when ``body`` is absent). A frame with none of them is an error naming them."""
    columns = [c for c in (*TEXT_COLUMNS, "text") if c in frame.columns]
    if not columns:
        raise ValueError(f"review input needs a 'title' and/or 'body' column, got columns {list(frame.columns)}")
    titles: Iterable[Any] = frame["title"] if "title" in frame.columns else [None] * len(frame)
    body_column = "body" if "body" in frame.columns else ("text" if "text" in frame.columns else None)
    bodies: Iterable[Any] = frame[body_column] if body_column else [None] * len(frame)
    return [join_review(t, b) for t, b in zip(titles, bodies, strict=True)]
