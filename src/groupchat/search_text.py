"""Search text: what a query means (words and phrases), and its snippets. No SQL here.

A word is a run of letters and digits, compared without case and diacritics; every word of a
query matches the start of a word of the message, a "quoted phrase" matches whole words in a
row. Every other character (operators, wildcards, parentheses, a lone quote) is plain text."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

from groupchat.errors import Invalid

MAX_QUERY = 200  # characters (API.md)
SNIPPET_CHARS = 200  # longer messages show a window around the first match
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case without diacritics (NFKD, combining marks dropped): how words compare."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True, slots=True)
class Term:
    """One word (a prefix) or a phrase (whole words in a row)."""

    words: tuple[str, ...]
    phrase: bool


def parse(q: str) -> list[Term]:
    """The query's terms, all of which must match; 422 for no word or too long a query."""
    if len(q) > MAX_QUERY:
        raise Invalid(f"q is longer than {MAX_QUERY} characters")
    parts = q.split('"')
    if len(parts) % 2 == 0:  # an unclosed quote is plain text: its phrase is single words
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    terms: list[Term] = []
    for index, part in enumerate(parts):
        words = tuple(_WORD.findall(fold(part)))
        if index % 2 and len(words) > 1:
            terms.append(Term(words, phrase=True))
        else:
            terms.extend(Term((word,), phrase=False) for word in words)
    if not terms:
        raise Invalid("q has no word to search for")
    return terms


def fts5_query(terms: list[Term]) -> str:
    """SQLite FTS5: every term quoted (words are letters and digits only), words as prefixes."""
    return " ".join(f'"{" ".join(t.words)}"' if t.phrase else f'"{t.words[0]}"*' for t in terms)


def tsquery(terms: list[Term]) -> str:
    """PostgreSQL to_tsquery: words as prefixes (:*), phrases with <->, all joined by &."""
    quoted = [
        "(" + " <-> ".join(f"'{w}'" for w in t.words) + ")" if t.phrase else f"'{t.words[0]}':*"
        for t in terms
    ]
    return " & ".join(quoted)


def snippet_html(content: str, terms: list[Term]) -> str:
    """The message's text escaped, each word a term matches in <mark> (a window if long)."""
    prefixes = [t.words[0] for t in terms if not t.phrase]
    whole = {w for t in terms if t.phrase for w in t.words}
    spans = [
        m.span()
        for m in _WORD.finditer(content)
        if (word := fold(m.group())) in whole or any(word.startswith(p) for p in prefixes)
    ]
    start, end = 0, len(content)
    if len(content) > SNIPPET_CHARS:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - SNIPPET_CHARS // 4, len(content) - SNIPPET_CHARS))
        end = start + SNIPPET_CHARS
    out = ["…" if start else ""]
    at = start
    for s, e in spans:
        if s < start or e > end:
            continue
        out += [html.escape(content[at:s]), "<mark>", html.escape(content[s:e]), "</mark>"]
        at = e
    out += [html.escape(content[at:end]), "…" if end < len(content) else ""]
    return "".join(out)
