"""Markdown for section bodies: safe HTML for the email, and wrapped plain text.

Raw HTML in an author's Markdown is shown as text, never passed through."""

from __future__ import annotations

import textwrap
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup

WIDTH = 78


@cache
def _parser() -> MarkdownIt:
    # "commonmark" with html off: <script> and friends come out escaped, and markdown-it's
    # link validation drops javascript:, vbscript:, file: and data: URLs.
    return MarkdownIt("commonmark", {"html": False}).enable("strikethrough")


def refused_scheme(url: str) -> str | None:
    """The scheme of a link's `url` (as typed between the brackets) if it is one the parser
    leaves out of the email (javascript:, vbscript:, file:, data: but for images), which then
    shows the link as it was typed; None for any other."""
    parser = _parser()
    url = url.strip().removeprefix("<")
    if ":" not in url or parser.validateLink(parser.normalizeLink(url)):
        return None
    return url.partition(":")[0].lower()


def to_html(source: str) -> Markup:
    """HTML for an email body; safe to place in a template unescaped."""
    return Markup(_parser().render(source))


def to_text(source: str, width: int = WIDTH) -> str:
    """Plain text: paragraphs wrapped at `width`, lists as bullets, links written out."""
    return _text(_parser().parse(source), width)


def to_html_and_text(source: str, width: int = WIDTH) -> tuple[Markup, str]:
    """Both, from one parse."""
    parser = _parser()
    tokens = parser.parse(source)
    return Markup(parser.renderer.render(tokens, parser.options, {})), _text(tokens, width)


def _text(tokens: list[Token], width: int) -> str:
    return "\n\n".join(_blocks(SyntaxTreeNode(tokens), width)).strip("\n")


def wrap(text: str, width: int = WIDTH, indent: str = "", first: str | None = None) -> str:
    """Wrap without breaking long words or at hyphens, so URLs stay whole."""
    lines = []
    for number, line in enumerate(text.split("\n")):
        lead = first if (first is not None and number == 0) else indent
        lines.append(textwrap.fill(line, width=width, initial_indent=lead,
                                   subsequent_indent=indent, break_long_words=False,
                                   break_on_hyphens=False) or lead.rstrip())
    return "\n".join(lines)


def _blocks(node: SyntaxTreeNode, width: int) -> list[str]:
    out: list[str] = []
    for child in node.children:
        kind = child.type
        if kind == "paragraph":
            out.append(wrap(_inline(child), width))
        elif kind == "heading":
            out.append(wrap(_inline(child).upper(), width))
        elif kind in ("bullet_list", "ordered_list"):
            out.append(_list(child, width))
        elif kind == "blockquote":
            inner = "\n\n".join(_blocks(child, width - 2))
            out.append("\n".join(f"> {line}".rstrip() for line in inner.split("\n")))
        elif kind in ("fence", "code_block"):
            out.append("\n".join(f"    {line}" for line in child.content.rstrip("\n").split("\n")))
        elif kind == "hr":
            out.append("-" * 20)
        else:
            out.extend(_blocks(child, width))
    return out


def _list(node: SyntaxTreeNode, width: int) -> str:
    start = int(node.attrs.get("start", 1)) if node.type == "ordered_list" else 0
    items = []
    for number, item in enumerate(node.children, start=start):
        marker = f"{number}. " if node.type == "ordered_list" else "- "
        pad = " " * len(marker)
        body = "\n\n".join(_blocks(item, width - len(marker)))
        lines = body.split("\n")
        items.append("\n".join([marker + lines[0], *((pad + ln).rstrip() for ln in lines[1:])]))
    tight = all(p.hidden for item in node.children for p in item.children
                if p.type == "paragraph")
    return ("\n" if tight else "\n\n").join(items)


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in node.children:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "link":
            text = _inline(child)
            href = str(child.attrs.get("href", ""))
            address = href.removeprefix("mailto:")
            # A link whose text is its own address is written once, as the reader knows it.
            parts.append(text if text in (href, address) else f"{text} <{href}>")
        elif kind == "image":
            alt = _inline(child)
            parts.append(f"[{alt}]" if alt else "")
        else:
            parts.append(_inline(child))
    return "".join(parts)
