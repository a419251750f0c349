"""Which characters request strings may hold, and the OpenAPI patterns that say so.

schemas.py validates with these rules; the document carries the patterns, so a client (or a
fuzzer) knows exactly which strings the server takes. Patterns use only `\\uXXXX` escapes and
literal characters, which ECMA-262 (JSON Schema) and Python's `re` read alike.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any

BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters but \t \n \r
INVISIBLE = {"Cf", "Cc", "Zs", "Zl", "Zp", "Mn", "Me"}  # a name of only these shows nothing
NOT_IN_A_LINE = "\r\n\t\u2028\u2029"
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"


def _ranges(codes: Iterable[int]) -> str:
    """A character class body for these code points, as compact ranges."""
    out: list[str] = []
    run: list[int] = []
    for code in sorted(codes):
        if run and code == run[-1] + 1:
            run.append(code)
            continue
        if run:
            out.append(_span(run[0], run[-1]))
        run = [code]
    if run:
        out.append(_span(run[0], run[-1]))
    return "".join(out)


def _span(first: int, last: int) -> str:
    return _char(first) if first == last else f"{_char(first)}-{_char(last)}"


def _char(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


@functools.cache
def line_pattern() -> str:
    """A single line: trimmed, no controls or line breaks inside, and something visible."""
    space: set[int] = set()
    invisible: set[int] = set()
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) in INVISIBLE:
            invisible.add(code)
        if char.isspace():
            space.add(code)
    bad = {c for c in range(128) if BAD_CHARS.match(chr(c))}
    inside_never = bad | {ord(c) for c in NOT_IN_A_LINE}
    space -= bad  # what str.strip() removes, less what is refused anyway
    ws = f"[{_ranges(space)}]*"
    other_invisible = f"[{_ranges(invisible - space - inside_never)}]"
    visible = f"[^{_ranges(invisible | space | inside_never)}]"
    inner = f"[^{_ranges(inside_never)}]*"
    last = f"[^{_ranges(space | inside_never)}]"
    return f"^{ws}(?:{other_invisible}{inner})?{visible}(?:{inner}{last})?{ws}$"


def document_text(schema: dict[str, Any]) -> None:
    """json_schema_extra for Text: no control characters but tab and line breaks."""
    schema["pattern"] = TEXT_PATTERN


def document_line(schema: dict[str, Any]) -> None:
    """json_schema_extra for Line (the pattern is built when a document is first made)."""
    schema["pattern"] = line_pattern()
    schema["description"] = "One line, with something visible; surrounding whitespace is trimmed"
