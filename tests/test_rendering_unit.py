"""Unit tests for groupchat.rendering: Markdown output and its sanitization."""

from html.parser import HTMLParser

import pytest

from groupchat.rendering import render_markdown

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "hr",
}  # fmt: skip
REL = "noopener noreferrer nofollow"


class Elements(HTMLParser):
    """Collects every start tag with its attributes, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_safe(html: str) -> Elements:
    """Every tag allowed, no handler or style attribute, every href harmless."""
    elements = parse(html)
    for tag, attrs in elements.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in {"style", "src", "srcdoc", "formaction"}, (tag, name)
            if name == "href":
                assert value is not None
                scheme = value.split(":", 1)[0].lower() if ":" in value else ""
                assert scheme in {"", "http", "https", "mailto"}, value
    return elements


def links(html: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in parse(html).tags if tag == "a"]


def test_inline_formatting() -> None:
    html = render_markdown("**bold** *italic* `x < y` ~~gone~~")
    assert "<strong>bold</strong>" in html
    assert "<em>italic</em>" in html
    assert "<code>x &lt; y</code>" in html
    assert "<s>gone</s>" in html or "<del>gone</del>" in html
    assert_safe(html)


def test_blocks_render() -> None:
    html = render_markdown(
        "# Title\n\n> quoted\n\n- one\n- two\n\n3. three\n\n---\n\n```\ncode\n```"
    )
    tags = [tag for tag, _ in assert_safe(html).tags]
    for tag in ("h1", "blockquote", "ul", "li", "ol", "hr", "pre", "code"):
        assert tag in tags
    assert '<ol start="3">' in html


def test_table_renders_without_style() -> None:
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |")
    tags = [tag for tag, _ in assert_safe(html).tags]
    assert {"table", "thead", "tbody", "tr", "th", "td"} <= set(tags)
    assert "style" not in html


def test_newlines_become_line_breaks() -> None:
    html = render_markdown("first line\nsecond line")
    assert "first line<br>" in html and "second line" in html


def test_link_gets_rel_and_target() -> None:
    html = render_markdown("see [the docs](https://example.com/a?b=1&c=2 'Docs')")
    (link,) = links(html)
    assert link["href"] == "https://example.com/a?b=1&c=2"
    assert link["rel"] == REL
    assert link["target"] == "_blank"
    assert link["title"] == "Docs"


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("<https://example.org/x>", "https://example.org/x"),
        ("<me@example.org>", "mailto:me@example.org"),
    ],
)
def test_autolinks_get_rel(text: str, href: str) -> None:
    (link,) = links(render_markdown(text))
    assert link["href"] == href
    assert link["rel"] == REL and link["target"] == "_blank"


def test_relative_link_is_kept() -> None:
    (link,) = links(render_markdown("[invite](/invite/abc)"))
    assert link["href"] == "/invite/abc" and link["rel"] == REL


def test_script_tag_is_escaped() -> None:
    html = render_markdown("<script>alert(1)</script>")
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    elements = assert_safe(html)
    assert "<script>alert(1)</script>" in "".join(elements.text)


def test_img_with_handler_is_inert() -> None:
    html = render_markdown("<img src=x onerror=alert(1)>")
    elements = assert_safe(html)
    assert all(tag != "img" for tag, _ in elements.tags)
    assert all("onerror" not in attrs for _, attrs in elements.tags)
    assert "<img" not in html


@pytest.mark.parametrize(
    "text",
    [
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe>",
        '<p style="color:red" onclick="alert(1)">x</p>',
        "<svg><script>alert(1)</script></svg>",
        "<!-- comment --><b>bold</b>",
    ],
)
def test_raw_html_never_becomes_markup(text: str) -> None:
    elements = assert_safe(render_markdown(text))
    assert [tag for tag, _ in elements.tags] == ["p"]


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](<javascript:alert(1)>)",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[x](vbscript:msgbox(1))",
        "[x](file:///etc/passwd)",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "<javascript:alert(1)>",
    ],
)
def test_dangerous_link_schemes_have_no_href(text: str) -> None:
    html = render_markdown(text)
    assert_safe(html)
    for link in links(html):
        href = (link.get("href") or "").lower()
        for scheme in ("javascript:", "data:", "vbscript:", "file:"):
            assert not href.startswith(scheme)
    assert 'href="javascript' not in html.lower()
    assert 'href="data' not in html.lower()


def test_image_syntax_renders_as_link_not_img() -> None:
    html = render_markdown("![a cat](https://example.com/cat.png)")
    elements = assert_safe(html)
    assert all(tag != "img" for tag, _ in elements.tags)
    (link,) = links(html)
    assert link["href"] == "https://example.com/cat.png"
    assert "a cat" in "".join(elements.text)


def test_quote_in_url_cannot_break_out_of_attribute() -> None:
    html = render_markdown('[a](https://x.example/"onmouseover="alert(1))')
    (link,) = links(html)
    assert set(link) == {"href", "rel", "target"}


def test_unicode_survives() -> None:
    text = "emoji 😀👍🏽 RTL مرحبا بالعالم zero\u200bwidth\u200djoiner \u2067isolate\u2069"
    html = render_markdown(text)
    assert "".join(parse(html).text).strip() == text


def test_empty_input_is_empty() -> None:
    assert render_markdown("").strip() == ""
    assert render_markdown("   \n  ").strip() == ""


@pytest.mark.parametrize(
    "text",
    [
        "word " * 1600,
        "*a" * 4000,
        "[" * 8000,
        "**_" * 2666,
        "<" * 8000,
        "> " * 4000,
        "".join("  " * i + "- x\n" for i in range(150))[:8000],
    ],
    ids=["words", "stars", "brackets", "emphasis", "angles", "quotes", "nested-lists"],
)
def test_long_pathological_input_renders_safely(text: str) -> None:
    assert len(text) <= 8000
    assert_safe(render_markdown(text))


def test_long_plain_text_is_kept_whole() -> None:
    text = ("lorem ipsum " * 700)[:8000].strip()
    assert "".join(parse(render_markdown(text)).text).strip() == text
