"""The checks on an issue's images that `bulletin check` adds to its own (checks.py): the
weight of every local image together against `[media] budget`, alt text that is a file name
(what a screen reader then reads out), and, when asked to fetch (`--fetch-images`), a remote
image far wider than it is shown (a local file would have been resized).

Findings are plain (level, code, where, message) tuples, which checks.py makes its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

from .fields import in_language
from .images import CONTENT_WIDTH, is_local

if TYPE_CHECKING:
    from .issue import IssueFile
    from .render import Rendered

Found = tuple[Literal["error", "warning"], str, str, str]

_FILE_NAME = re.compile(
    r"^\s*(?:[\w.~ -]*[/\\])?[\w.~ -]+\.(?:jpe?g|png|gif|webp|svg|bmp|tiff?|heic|avif)\s*$"
    r"|^\s*(?:IMG|DSC|DSCN|PXL|Screenshot)[_ -]?[\d_ -]+\s*$", re.IGNORECASE)
TOO_WIDE = 3
"""A remote image more than this many times wider than shown is reported."""
FETCH_BYTES = 256 * 1024
FETCH_TIMEOUT = 5.0


def is_file_name(alt: str) -> bool:
    """True for alt text such as "IMG_2231.jpg" or "photos/park.png": a file's name."""
    return bool(_FILE_NAME.match(alt))


def check_images(loaded: IssueFile, rendered: Rendered, budget: int,
                 fetch: bool = False) -> Iterator[Found]:
    issue = loaded.issue
    for index, section in enumerate(issue.sections):
        image = section.image
        if image is None or image.alt is None:
            continue
        for language in rendered.languages:
            alt = in_language(image.alt, language)
            if is_file_name(alt):
                yield ("warning", "image-alt-file-name",
                       loaded.where(("sections", index, "image", "alt")),
                       f"the alt text '{alt}' is a file name, which a screen reader reads "
                       "out; describe what the image shows")
                break
    logo, workspace = loaded.newsletter.brand.logo, loaded.workspace
    if logo is not None and workspace is not None:  # the logo's, on bulletin.toml's line
        names = [alt for alt in (in_language(logo.alt, language)
                                 for language in rendered.languages) if is_file_name(alt)]
        if names:
            yield ("warning", "image-alt-file-name", workspace.where(
                ("newsletters", issue.newsletter, "brand", "logo", "alt")),
                f"the logo's alt text '{names[0]}' is a file name, which a screen reader "
                "reads out; give the organisation's name")
    total = sum(len(media.data) for media in rendered.media)
    if total > budget:
        largest = max(rendered.media, key=lambda media: len(media.data))
        yield ("warning", "image-weight", _where_of(loaded),
               f"the images weigh {_size(total)} together, over the {_size(budget)} budget "
               f"([media] budget in bulletin.toml): slow to open on a phone's data; use "
               f"fewer or smaller images (the largest is {_size(len(largest.data))})")
    yield from _blank_first_frames(loaded, rendered)
    if fetch:
        yield from _too_wide(loaded)


def _blank_first_frames(loaded: IssueFile, rendered: Rendered) -> Iterator[Found]:
    """An animated GIF whose first frame is one colour: Outlook (Windows) shows only that."""
    import io

    from PIL import Image

    gifs = [index for index, section in enumerate(loaded.issue.sections)
            if section.image is not None and is_local(section.image.src)
            and section.image.src.lower().endswith(".gif")]
    for media in rendered.media:
        if media.content_type != "image/gif":
            continue
        with Image.open(io.BytesIO(media.data)) as gif:
            if getattr(gif, "n_frames", 1) < 2 or gif.convert("RGB").getcolors(1) is None:
                continue
        where = loaded.where(("sections", gifs[0], "image", "src")) if gifs else \
            f"{loaded.path}:1"
        yield ("warning", "gif-first-frame", where,
               "an animated GIF's first frame is blank, and Outlook on Windows shows only "
               "the first frame; make the first frame say what the animation says")


def _where_of(loaded: IssueFile) -> str:
    """The line of the issue's first local image, else its first line."""
    for index, section in enumerate(loaded.issue.sections):
        if section.image is not None and is_local(section.image.src):
            return loaded.where(("sections", index, "image", "src"))
    return f"{loaded.path}:1"


def _too_wide(loaded: IssueFile) -> Iterator[Found]:
    remote = [(index, section.image.src, section.image.width or CONTENT_WIDTH)
              for index, section in enumerate(loaded.issue.sections)
              if section.image is not None and not is_local(section.image.src)]
    if not remote:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(remote))) as pool:
        widths = list(pool.map(lambda found: natural_width(found[1]), remote))
    for (index, src, shown), width in zip(remote, widths, strict=True):
        if width is not None and width > TOO_WIDE * shown:
            yield ("warning", "image-too-wide", loaded.where(("sections", index, "image", "src")),
                   f"image {src} is {width} px wide but shown at {shown} px: "
                   f"{width / shown:.0f}x what is needed, so every reader downloads the "
                   f"difference; resize it to {2 * shown} px, or use a local file (bulletin "
                   f"resizes those)")


def natural_width(url: str) -> int | None:
    """The pixel width of the image at `url`, from its first bytes (no more than
    FETCH_BYTES are read); None when it cannot be fetched or read."""
    import urllib.request

    from PIL import ImageFile

    if not url.startswith(("https://", "http://")):
        return None
    request = urllib.request.Request(url, headers={"Range": f"bytes=0-{FETCH_BYTES - 1}",
                                                   "User-Agent": "bulletin-check"})
    parser = ImageFile.Parser()
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
            read = 0
            while read < FETCH_BYTES:
                chunk = response.read(16384)
                if not chunk:
                    break
                read += len(chunk)
                parser.feed(chunk)
                if parser.image is not None:
                    return int(parser.image.size[0])
    except (OSError, ValueError, SyntaxError):
        return None
    return None


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 1_000_000 else f"{count / 1000:.0f} KB"
