"""Markdown to safe HTML for a message's `content_html`.

Markdown is parsed with markdown-it-py (CommonMark plus tables and strikethrough) with raw
HTML disabled, so any HTML a user types is shown as text. Single newlines become `<br>`
(`breaks`), as chat users expect. Image syntax is switched off: `![alt](url)` renders as
`!` followed by a link, because message images travel in `image_url`, never inline; `img`
is also absent from the sanitizer's allow list. Bare URLs are not auto-linked (that needs
linkify-it-py); `<https://…>` autolinks work.

The HTML is then cleaned with nh3 (ammonia): a small tag allow list, no `style`, no
`class`, no event handlers, link targets only http, https, mailto or relative, and every
link gets `rel="noopener noreferrer nofollow"` and `target="_blank"`. Table column
alignment and code-block language classes are therefore dropped.
"""

import functools
import re

import nh3
from markdown_it import MarkdownIt

_TAGS = frozenset(
    {
        "p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "thead", "tbody", "tr", "th", "td", "hr",
    }
)  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_LINK_REL = "noopener noreferrer nofollow"


# One line of letters, digits, spaces and punctuation that Markdown never gives a meaning to
# there, starting with a letter (a digit could start a list): most chat messages. Its HTML is
# known without parsing (the full path costs ~40 µs, a large share of a post's CPU).
_PLAIN_LINE = re.compile(r"[^\W\d_](?:[^\W_]|[ ,.?!'():;/-])*")


def render_markdown(text: str) -> str:
    """Render Markdown to sanitized HTML."""
    if _PLAIN_LINE.fullmatch(text) and not text.endswith(" "):
        return f"<p>{text}</p>\n"
    return render_full(text)


def render_full(text: str) -> str:
    """Markdown-it, then nh3: what render_markdown returns for any text."""
    return nh3.clean(
        _parser().render(text),
        tags=set(_TAGS),
        attributes=_ATTRIBUTES,
        url_schemes=set(_URL_SCHEMES),
        link_rel=_LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


@functools.cache
def _parser() -> MarkdownIt:
    """Build the Markdown parser once, on first use."""
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    return md.enable(["table", "strikethrough"]).disable("image")
