"""Local images fitted to the layout MJML made of them: their <img> heights, and their files.

An issue asks for an image's width, but the theme's layout decides the width it is shown
at: narrower in a side-by-side column, or the column's when the issue asks for more. The
compiled HTML says (each <img width>), so after compiling, each local image's height is made
to keep its shape at that width (Outlook sizes an image by its attributes), and an image
shown narrower than it was processed for is processed again at twice that width (sharp on
phones, no heavier than needed) and linked by its new name. Pure: HTML and images in, HTML
and the files it links to out; the processing is images.process (remembered)."""

from __future__ import annotations

import re

from .images import Images, MediaFile, Placed, process

_IMG = re.compile(r"<img\b[^>]*>")
_SRC = re.compile(r'\ssrc="([^"]*)"')
_WIDTH = re.compile(r'\swidth="(\d+)"')


def fit(html: str, images: Images) -> tuple[str, tuple[MediaFile, ...]]:
    """`html` with each local image's height and file fitted to the width it is shown at,
    and every file it links to, each once."""
    html = set_heights(html, images.heights())
    placed = {p.url: p for p in (*images.sections.values(), images.logo, images.logo_dark)
              if p is not None and p.file is not None and p.source is not None}
    narrowest: dict[str, int] = {}
    for tag in _IMG.findall(html):
        src, attribute = _SRC.search(tag), _WIDTH.search(tag)
        url = src.group(1).replace("&amp;", "&") if src else None
        if url is not None and url in placed and attribute is not None:
            narrowest[url] = min(narrowest.get(url, placed[url].width),
                                 int(attribute.group(1)))
    files = {media.name: media for media in images.files}
    for url, width in narrowest.items():
        if width < placed[url].width:
            html, files = _refit(html, files, placed[url], width)
    linked = set(re.findall(r"[0-9a-f]{20}\.(?:jpg|png|gif)", html))
    return html, tuple(media for name, media in files.items() if name in linked)


def _refit(html: str, files: dict[str, MediaFile], shown: Placed, width: int
           ) -> tuple[str, dict[str, MediaFile]]:
    """`shown` processed again for `width`, its URL in `html` replaced by the new file's."""
    assert shown.source is not None and shown.file is not None
    name, data, content_type, _, _ = process(shown.source, width)
    url = shown.url.removesuffix(shown.file.name) + name
    return (html.replace(f'src="{shown.url}"', f'src="{url}"'),
            {**files, name: MediaFile(name, data, content_type)})


def set_heights(html: str, heights: dict[str, tuple[int, int]]) -> str:
    """Each local image's <img height="auto"> (as MJML writes it) made its real height at the
    width MJML gave it (narrower than asked in a side-by-side column, or when the issue asks
    for more than the column), so the layout is reserved before the image loads and Outlook,
    which sizes by the attributes, keeps its shape; its CSS height stays auto (phones)."""
    if not heights:
        return html

    def fix(match: re.Match[str]) -> str:
        tag = match.group(0)
        src = re.search(r'\ssrc="([^"]*)"', tag)
        size = heights.get(src.group(1).replace("&amp;", "&")) if src else None
        if size is None:
            return tag
        width, height = size
        shown = re.search(r'\swidth="(\d+)"', tag)
        if shown is not None and int(shown.group(1)) != width:
            height = max(1, round(height * int(shown.group(1)) / width))
        return tag.replace('height="auto"', f'height="{height}"', 1)

    return re.sub(r"<img\b[^>]*>", fix, html)
