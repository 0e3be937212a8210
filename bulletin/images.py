"""Local images: a file on the officer's disk made into what every inbox can show.

An issue's `image.src` and a logo's `src`/`dark_src` may be a path relative to the file that
names it. Each is read with Pillow once per render (or its result for the same bytes and size
is taken from bulletin.usercache) and checked (a real JPEG, PNG or GIF; WebP
is converted to PNG; SVG is refused, since most mail clients do not show it), turned upright
by its EXIF orientation, made sRGB by its ICC profile, resized to twice its display width
(sharp on phones, never larger than it was), stripped of its metadata (EXIF with GPS
position and camera serials, XMP, ICC, comments) and optimised. The result is named by the
hash of its bytes, `<sha256 prefix>.<ext>`, served at `BASE/media/<name>` (or `[media]
base_url`), so a changed image is a new name and the old URL can be cached for ever.

Pure: files in, bytes out; publishing them (the store) and serving them are elsewhere."""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import usercache
from .errors import IssueError

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL import Image as PILImage

    from .issue import IssueFile
    from .settings import Workspace

CONTENT_WIDTH = 552
"""The widest an image is shown in the default theme: 600 px less 24 px padding each side."""
MAX_FILE_BYTES = 10 * 1024 * 1024
"""A larger file is refused before it is decoded: a camera original, not a picture to mail."""
MAX_PIXELS = 40_000_000  # an image's (or an animation's frames together)
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif"}
PROCESSING = 1  # raise when _made makes other bytes of the same file: kept results then go
_JPEG_QUALITY = 82
_MEDIA_NAME = re.compile(r"^[0-9a-f]{20}\.(?:jpg|png|gif)$")


@dataclass(frozen=True)
class MediaFile:
    """One processed image as published: its content-addressed name, bytes and type."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Placed:
    """An image as the email shows it."""

    url: str
    width: int  # display width in CSS pixels (the HTML's width)
    height: int
    file: MediaFile | None = None  # the processed local file; None for a remote URL
    source: Path | None = None


@dataclass(frozen=True)
class Images:
    """Every local image of one issue, placed: by section index, and the logos."""

    sections: dict[int, Placed] = field(default_factory=dict)
    logo: Placed | None = None
    logo_dark: Placed | None = None

    @property
    def files(self) -> tuple[MediaFile, ...]:
        """Each processed file once."""
        found: dict[str, MediaFile] = {}
        for placed in (*self.sections.values(), self.logo, self.logo_dark):
            if placed is not None and placed.file is not None:
                found.setdefault(placed.file.name, placed.file)
        return tuple(found.values())

    def heights(self) -> dict[str, tuple[int, int]]:
        """URL -> (display width, height) of each local image, for set_heights."""
        return {p.url: (p.width, p.height)
                for p in (*self.sections.values(), self.logo, self.logo_dark)
                if p is not None and p.file is not None}


def is_local(src: str) -> bool:
    """True for a path to a file, False for an http(s) URL."""
    return urlsplit(src).scheme not in ("http", "https")


def is_media_name(name: str) -> bool:
    """True for a name `process` could have given (nothing else is served or written)."""
    return bool(_MEDIA_NAME.fullmatch(name))


def media_url(base_url: str, media_base_url: str | None, name: str) -> str:
    """Where a published image is fetched from: `[media] base_url`/NAME, else BASE/media/NAME."""
    base = media_base_url or base_url.rstrip("/") + "/media"
    return f"{base.rstrip('/')}/{name}"


def prepare(loaded: IssueFile, workspace: Workspace) -> Images:
    """Every local image of the issue and its newsletter's logo, processed; one IssueError
    naming each bad file (its file and line, and what to do) when any cannot be used."""
    settings = workspace.settings
    problems: list[str] = []

    def place(src: str, base: Path, width: int, where: Callable[[], str],
              exact: bool) -> Placed | None:  # where: the line, found only for a message
        if not is_local(src):
            return None
        path = Path(os.path.abspath(base / src))  # not resolve(): a symlink loop raises
        try:
            processed = process(path, width, exact)
        except ImageProblem as exc:
            problems.append(f"{where()}: {src}: {exc}")
            return None
        name, data, content_type, shown_width, shown_height = processed
        url = media_url(settings.base_url, settings.media.base_url, name)
        return Placed(url, shown_width, shown_height, MediaFile(name, data, content_type), path)

    sections: dict[int, Placed] = {}
    for index, section in enumerate(loaded.issue.sections):
        image = section.image
        if image is not None:
            where = partial(loaded.where, ("sections", index, "image", "src"))
            placed = place(image.src, loaded.path.parent, image.width or CONTENT_WIDTH, where,
                           image.width is not None)
            if placed is not None:
                sections[index] = placed
    logo = loaded.newsletter.brand.logo
    found: list[Placed | None] = [None, None]
    if logo is not None:
        slug = loaded.issue.newsletter
        for i, (key, src) in enumerate((("src", logo.src), ("dark_src", logo.dark_src))):
            if src is not None:
                where = partial(workspace.where, ("newsletters", slug, "brand", "logo", key))
                found[i] = place(src, workspace.config_path.parent, logo.width, where, True)
    if problems:
        raise IssueError("\n".join(problems))
    return Images(sections, found[0], found[1])


def banner_logo(workspace: Workspace, slug: str) -> tuple[Placed | None, bool]:
    """The newsletter's logo for a dark background (the web pages' banner): `dark_src`, else
    `src` on a light plate (True); its file processed when it is local. IssueError naming
    bulletin.toml's line for a bad file."""
    logo = workspace.settings.newsletters[slug].brand.logo
    if logo is None:
        return None, False
    key, src = ("dark_src", logo.dark_src) if logo.dark_src else ("src", logo.src)
    plate = logo.dark_src is None
    if not is_local(src):
        return Placed(src, logo.width, 0), plate
    where = workspace.where(("newsletters", slug, "brand", "logo", key))
    try:
        name, data, content_type, width, height = process(
            Path(os.path.abspath(workspace.config_path.parent / src)), logo.width)
    except ImageProblem as exc:
        raise IssueError(f"{where}: {src}: {exc}") from None
    settings = workspace.settings
    return Placed(media_url(settings.base_url, settings.media.base_url, name), width, height,
                  MediaFile(name, data, content_type)), plate


class ImageProblem(Exception):
    """Why a file cannot be used (turned into an IssueError naming its file and line)."""


def process(path: Path, display_width: int, exact: bool = True
            ) -> tuple[str, bytes, str, int, int]:
    """(name, bytes, content type, display width, display height) of the image at `path`,
    shown `display_width` wide (narrower when the file is narrower, unless `exact`).
    Remembered by the file's path, size and time, so editions and re-renders reuse it."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ImageProblem("no such file; check the path (it is relative to the file that "
                           "names it)") from None
    except OSError as exc:
        raise ImageProblem(f"cannot read it: {exc.strerror}") from None
    if not path.is_file():
        raise ImageProblem("is a folder, not an image file; name the image file in it"
                           if path.is_dir() else "is not a file; name an image file")
    if stat.st_size > MAX_FILE_BYTES:
        raise ImageProblem(f"the file is {stat.st_size / 1e6:.1f} MB, over the "
                           f"{MAX_FILE_BYTES // (1024 * 1024)} MB an image may be; export a "
                           f"smaller copy (about {2 * display_width} px wide is plenty)")
    return _process(path, stat.st_size, stat.st_mtime_ns, display_width, exact)


@lru_cache(maxsize=64)
def _process(path: Path, size: int, mtime: int, display_width: int, exact: bool
             ) -> tuple[str, bytes, str, int, int]:
    try:
        raw = path.read_bytes()
    except OSError as exc:  # it could be looked at, not read (its permissions)
        raise ImageProblem(f"cannot read it: {exc.strerror}") from None
    import PIL  # its version alone: PIL.Image, the costly part, loads only in _made

    return usercache.image(raw, (display_width, exact, PIL.__version__, PROCESSING),
                           lambda: _made(raw, display_width, exact))


def _made(raw: bytes, display_width: int, exact: bool) -> tuple[str, bytes, str, int, int]:
    from PIL import Image, UnidentifiedImageError

    warnings.filterwarnings("ignore", module=r"PIL\.")  # a bomb, damaged EXIF: ours says why
    if _looks_like_svg(raw):
        raise ImageProblem("SVG is not shown by most mail clients (Gmail, Outlook); export "
                           "it as PNG")
    if raw[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):  # an iPhone's
        raise ImageProblem("a HEIC photo (as iPhones take them), which mail clients do not "
                           "show; export it as JPEG")
    try:
        with Image.open(io.BytesIO(raw)) as opened:  # reads the header alone
            kind = opened.format or "?"
            if opened.width * opened.height > MAX_PIXELS:
                raise ImageProblem(f"{opened.width}x{opened.height} pixels, over the "
                                   f"{MAX_PIXELS // 1_000_000} megapixels an image may be; "
                                   f"export a smaller copy (about {2 * display_width} px "
                                   "wide is plenty)")
            if kind not in (*CONTENT_TYPES, "WEBP"):
                raise ImageProblem(f"a {kind} image; mail clients show JPEG, PNG and GIF: "
                                   "export it as one of those")
            count = int(getattr(opened, "n_frames", 1)) if kind == "GIF" else 1  # no decoding
            if count * opened.width * opened.height > MAX_PIXELS:
                raise ImageProblem(f"{count} frames of {opened.width}x{opened.height} pixels, "
                                   f"over the {MAX_PIXELS // 1_000_000} megapixels an "
                                   "animation's frames may be together; shorten or shrink it")
            natural_width, natural_height = _draft(opened, display_width, exact)
            frames = _frames(opened)
    except Image.DecompressionBombError:  # over Pillow's own limit, far over ours
        raise ImageProblem(f"over {MAX_PIXELS // 1_000_000} megapixels; export a smaller "
                           "copy") from None
    except UnidentifiedImageError:
        raise ImageProblem("not an image Pillow can read (is it really a JPEG, PNG or "
                           "GIF?); export it again") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageProblem(f"a damaged image ({exc}); export it again") from None
    if kind == "WEBP":  # most mail clients cannot show WebP: PNG keeps its transparency
        kind = "PNG"
    shown = display_width if exact else min(display_width, natural_width)
    target = min(natural_width, 2 * shown)
    if target < frames[0][0].width:
        height = max(1, round(natural_height * target / natural_width))
        frames = [(_smoothable(frame).resize((target, height), Image.Resampling.LANCZOS), duration)
                  for frame, duration in frames]
    data = _encode(kind, frames)
    content_type = CONTENT_TYPES[kind]
    name = f"{hashlib.sha256(data).hexdigest()[:20]}.{EXTENSIONS[content_type]}"
    return name, data, content_type, shown, max(1, round(natural_height * shown
                                                         / natural_width))


def _looks_like_svg(raw: bytes) -> bool:
    """Markup (no image format starts with "<") naming <svg near its start, after any byte
    order mark, XML declaration, comment or DOCTYPE."""
    head = raw[:4096].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith(b"<") and b"<svg" in head


def _draft(opened: PILImage.Image, display_width: int, exact: bool) -> tuple[int, int]:
    """The image's upright size; a JPEG set to decode at 1/2, 1/4 or 1/8 scale when that is
    still at least what it is resized to (a camera photo then decodes several times faster)."""
    wide, high = opened.size
    turned = opened.format == "JPEG" and opened.getexif().get(0x0112) in (5, 6, 7, 8)
    if turned:
        wide, high = high, wide
    if opened.format == "JPEG":
        target = min(wide, 2 * (display_width if exact else min(display_width, wide)))
        box = (target, -(-high * target // wide))  # the height rounded up
        opened.draft(None, box[::-1] if turned else box)
    return wide, high


def _smoothable(frame: PILImage.Image) -> PILImage.Image:
    """`frame` in a mode Pillow resizes with a filter: it resizes palette and 1-bit images by
    picking pixels, which leaves a logo's edges jagged."""
    if frame.mode == "P":
        return frame.convert("RGBA" if "transparency" in frame.info else "RGB")
    return frame.convert("L") if frame.mode == "1" else frame


def _srgb(image: PILImage.Image) -> PILImage.Image:
    """`image` in sRGB, what mail clients assume once its ICC profile is stripped with the
    rest of the metadata (a phone's Display P3 photo, a printer's CMYK); as it is when it
    has no profile, or one that cannot be used."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    from PIL import ImageCms

    try:
        converted = ImageCms.profileToProfile(
            image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if image.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted or image


def _frames(opened: PILImage.Image) -> list[tuple[PILImage.Image, int]]:
    """The image upright (its EXIF orientation applied), as (frame, milliseconds) pairs: one
    for a still image, every frame of an animated GIF (its first is what Outlook shows)."""
    from PIL import ImageOps, ImageSequence

    if getattr(opened, "is_animated", False) and opened.format == "GIF":
        return [(frame.convert("RGBA"), int(frame.info.get("duration", 100)))
                for frame in ImageSequence.Iterator(opened)]
    upright = _srgb(ImageOps.exif_transpose(opened))
    upright.load()
    if upright.mode.startswith("I"):  # a 16-bit grey PNG: its tones to 8 bits (Pillow's
        # own conversion clips every value over 255 to white)
        upright = upright.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return [(upright, 0)]


def _encode(kind: str, frames: list[tuple[PILImage.Image, int]]) -> bytes:
    """The frames as `kind`, with no metadata: nothing from the original's info is passed on
    (no exif, xmp, icc comment or text chunks)."""
    from PIL import Image

    out, loop = io.BytesIO(), frames[0][0].info.get("loop")  # none: the GIF plays once
    frames = [(_bare(frame), duration) for frame, duration in frames]
    first = frames[0][0]
    if kind == "JPEG":
        rgb = first.convert("RGB") if first.mode not in ("RGB", "L") else first
        rgb.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True, progressive=True)
    elif kind == "PNG":
        still = first if first.mode in ("RGB", "RGBA", "L", "LA", "P") else first.convert(
            "RGBA")
        still.save(out, "PNG", optimize=True)
        if still.mode in ("RGB", "RGBA"):  # a palette of 256 colours, if it saves a third
            palette = still.quantize(256, method=Image.Quantize.FASTOCTREE,
                                     dither=Image.Dither.FLOYDSTEINBERG)
            smaller = io.BytesIO()
            palette.save(smaller, "PNG", optimize=True)
            if smaller.tell() < out.tell() * 2 // 3:
                return smaller.getvalue()
    else:
        images = [_palette(frame) if frame.mode not in ("P", "L") else frame
                  for frame, _ in frames]
        if len(images) > 1:
            options = {"transparency": _CLEAR} if any(
                "transparency" in image.info for image in images) else {}
            options.update({} if loop is None else {"loop": loop})
            images[0].save(out, "GIF", save_all=True, append_images=images[1:],
                           duration=[duration for _, duration in frames], optimize=True,
                           disposal=2, **options)
        else:
            images[0].save(out, "GIF", optimize=True)
    return out.getvalue()


_CLEAR = 255  # the palette index of a GIF frame's see-through pixels


def _palette(frame: PILImage.Image) -> PILImage.Image:
    """A GIF frame of 255 colours, its see-through pixels (alpha under half) index _CLEAR."""
    from PIL import Image

    rgba = frame.convert("RGBA")
    paletted = rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    alpha = rgba.getchannel("A")
    lowest = alpha.getextrema()[0]  # an "L" image's extrema: (lowest, highest)
    if isinstance(lowest, (int, float)) and lowest >= 128:
        return paletted
    colours = (paletted.getpalette() or [])[:3 * _CLEAR]
    paletted.putpalette(colours + [0] * (3 * 256 - len(colours)))
    paletted.paste(_CLEAR, mask=alpha.point(lambda a: 255 if a < 128 else 0))
    paletted.info["transparency"] = _CLEAR
    return paletted


def _bare(frame: PILImage.Image) -> PILImage.Image:
    """A copy with none of the original's metadata (Pillow carries `info` through resizes
    and some encoders write it), keeping only a palette's transparent colour."""
    bare = frame.copy()
    kept = {k: v for k, v in frame.info.items() if k == "transparency"}
    bare.info.clear()
    bare.info.update(kept)
    if hasattr(bare, "_exif"):
        bare._exif = None
    return bare

