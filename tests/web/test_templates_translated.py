"""No template shows a word outside ``_()`` / ``{% trans %}``.

The walker reads each template's Jinja syntax tree in document order: the literal HTML
between expressions is parsed as HTML (text nodes and the attributes a person reads), and
each expression's string constants that can reach the page (``{{ "yes" if x else "no" }}``)
are checked too. Data, identifiers and code examples are not words to translate: they come
from variables, ``<code>``, or the short list below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import nodes

from omnicx.web.pages import templates

TEMPLATE_DIR = Path(templates.env.loader.searchpath[0])  # type: ignore[union-attr]
SLOT = "\x00"  # where an expression's output goes
WORD = re.compile(r"[A-Za-z]{2,}|[\u4e00-\u9fff]")
# Names and examples, the same in every language.
ALLOWED = {
    "OmniCX",
    "API",
    "IP",
    "user:li@corp.cn",  # placeholder: an actor as the audit log writes it
    "customer",  # placeholder: a target type, an identifier
    "phone, email, user_id",  # placeholder: identifier types
}
READ_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
# Filters that print their input as it is (or nearly).
PRINTING = {"default", "d", "e", "escape", "safe", "upper", "lower", "title"}


def _visible_constants(node: nodes.Node) -> Iterator[str]:
    """String constants of an output expression that can be printed as they are."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, nodes.CondExpr):
        yield from _visible_constants(node.expr1)
        if node.expr2 is not None:
            yield from _visible_constants(node.expr2)
    elif isinstance(node, nodes.Or | nodes.And):
        yield from _visible_constants(node.left)
        yield from _visible_constants(node.right)
    elif isinstance(node, nodes.Concat):
        for part in node.nodes:
            yield from _visible_constants(part)
    elif isinstance(node, nodes.Filter) and node.node is not None and node.name in PRINTING:
        yield from _visible_constants(node.node)


def _walk(node: nodes.Node, html: list[str]) -> None:
    """The template as HTML, each expression replaced by the constants it may print (so
    a constant in a ``class`` or ``data-`` attribute is not taken for text)."""
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                html.append(child.data)
            else:
                html.append(SLOT + SLOT.join(_visible_constants(child)) + SLOT)
        return
    for child in node.iter_child_nodes():
        _walk(child, html)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("code", "script", "style"):
            self._code += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "script", "style"):
            self._code -= 1

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.found.append(data)


def untranslated_text(source: str) -> list[str]:
    tree = templates.env.parse(source)
    html: list[str] = []
    _walk(tree, html)
    parser = _Text()
    parser.feed("".join(html))
    parser.close()
    shown = [text.strip() for piece in parser.found for text in piece.split(SLOT) if text.strip()]
    return [
        piece
        for piece in shown
        if WORD.search(piece) and piece not in ALLOWED and not _only_allowed(piece)
    ]


def _only_allowed(piece: str) -> bool:
    return all(word in ALLOWED for word in re.findall(r"[A-Za-z][\w:@.]*", piece))


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATE_DIR.glob("*.html")))
def test_template_has_no_untranslated_text(name):
    leftovers = untranslated_text((TEMPLATE_DIR / name).read_text(encoding="utf-8"))
    assert not leftovers, f"{name}: wrap in _() or {{% trans %}}: {leftovers}"


def test_the_walker_finds_what_it_must():
    assert untranslated_text("<p>Hello there</p>") == ["Hello there"]
    assert untranslated_text('<input placeholder="Your name">') == ["Your name"]
    assert untranslated_text('{{ "granted" if x else "withdrawn" }}') == ["granted", "withdrawn"]
    assert untranslated_text("<p>{{ _('Hello there') }}</p>") == []
    assert untranslated_text("<p>{% trans %}Hello {{ x }}{% endtrans %}</p>") == []
    assert untranslated_text("<p>OmniCX · <code>POST /v1/batch</code> {{ x }}</p>") == []
