"""Local images in an issue: read, checked, resized, stripped and given real sizes (Pillow
reads back what the pipeline wrote)."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path

import lxml.html
import pytest
from PIL import Image

from bulletin.errors import IssueError
from bulletin.images import media_url
from bulletin.workflow import inline_for_preview, prepare

GPS_IFD = 0x8825
CAMERA_SERIAL = 0xA431


def photo(path: Path, size: tuple[int, int] = (3000, 2000), fmt: str = "JPEG") -> Path:
    """A photo with EXIF (camera serial, GPS position) and a comment, as a camera writes."""
    image = Image.new("RGB", size, (200, 80, 40))
    for x in range(0, size[0], 97):  # some detail, so sizes mean something
        image.paste((20, 120, 220), (x, 0, x + 40, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[CAMERA_SERIAL] = "SERIAL-123456"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 29.0, 0.0), 3: "W", 4: (3.0, 10.0, 0.0)})
    options = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        options["comment"] = b"taken at home"
    image.save(path, fmt, **options)
    return path


def issue_with_image(write_issue: Callable[[str, str], Path], src: str,
                     extra: str = "") -> Path:
    return write_issue(f"""
        newsletter: cohes3ion
        date: 2022-01-31
        subject: Images
        sections:
          - heading: A photo
            image: {{src: "{src}", alt: "The science park"{extra}}}
            body: Words.
        """)


def img_of(html: str, alt: str) -> lxml.html.HtmlElement:
    doc = lxml.html.document_fromstring(html)
    return next(img for img in doc.iter("img") if img.get("alt") == alt)


def test_a_local_photo_is_resized_stripped_and_published_under_media(
        write_issue: Callable[[str, str], Path]) -> None:
    path = write_issue("", "placeholder.yaml").parent
    photo(path / "park.jpg")
    prepared = prepare(issue_with_image(write_issue, "park.jpg"))
    rendered = prepared.rendered
    img = img_of(rendered.html, "The science park")
    assert (img.get("width"), img.get("height")) == ("552", "368")
    src = img.get("src")
    assert re.fullmatch(r"https://bulletins\.example\.gov\.wales/media/[0-9a-f]{20}\.jpg", src)
    (media,) = [m for m in rendered.media if src.endswith(m.name)]
    assert media.content_type == "image/jpeg"
    with Image.open(io.BytesIO(media.data)) as out:
        assert out.format == "JPEG"
        assert out.size == (1104, 736)  # twice the display width
        assert not out.getexif()
        assert "exif" not in out.info and "comment" not in out.info
    assert b"SERIAL-123456" not in media.data and b"taken at home" not in media.data
    assert len(media.data) < (path / "park.jpg").stat().st_size


def test_the_same_image_has_the_same_name_and_a_changed_one_a_new_name(
        write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    photo(folder / "park.jpg")
    issue = issue_with_image(write_issue, "park.jpg")
    first = prepare(issue).rendered.media
    assert prepare(issue).rendered.media == first
    photo(folder / "park.jpg", (2000, 2000))
    os.utime(folder / "park.jpg", ns=(1, 1))
    photos = {m.name for m in prepare(issue).rendered.media if m.name.endswith(".jpg")}
    assert len(photos) == 1 and photos.isdisjoint(m.name for m in first)


def test_a_small_image_is_not_enlarged_and_an_explicit_width_is_kept(
        write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    photo(folder / "small.png", (300, 150), "PNG")
    rendered = prepare(issue_with_image(write_issue, "small.png")).rendered
    img = img_of(rendered.html, "The science park")
    assert (img.get("width"), img.get("height")) == ("300", "150")
    with Image.open(io.BytesIO(rendered.media[0].data)) as out:
        assert out.format == "PNG" and out.size == (300, 150)
        assert not out.getexif() and "exif" not in out.info
    photo(folder / "wide.png", (1200, 600), "PNG")
    rendered = prepare(issue_with_image(write_issue, "wide.png", ", width: 200")).rendered
    img = img_of(rendered.html, "The science park")
    assert (img.get("width"), img.get("height")) == ("200", "100")
    with Image.open(io.BytesIO(rendered.media[0].data)) as out:
        assert out.size == (400, 200)


def test_webp_becomes_png_and_an_animated_gif_keeps_its_frames(
        write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    Image.new("RGBA", (800, 400), (0, 128, 0, 255)).save(folder / "pic.webp", "WEBP")
    rendered = prepare(issue_with_image(write_issue, "pic.webp")).rendered
    assert rendered.media[0].content_type == "image/png"
    assert img_of(rendered.html, "The science park").get("src").endswith(".png")
    frames = [Image.new("RGB", (1400, 700), colour) for colour in ("red", "blue", "green")]
    frames[0].save(folder / "anim.gif", "GIF", save_all=True, append_images=frames[1:],
                   duration=300, loop=0)
    rendered = prepare(issue_with_image(write_issue, "anim.gif")).rendered
    with Image.open(io.BytesIO(rendered.media[0].data)) as out:
        assert out.format == "GIF" and out.size == (1104, 552) and out.n_frames == 3
        first = out.convert("RGB").getpixel((10, 10))
        assert first[0] > 200 and first[2] < 60  # the first frame is the first frame (red)


def test_remote_images_are_left_as_they_were(example_issue: Path) -> None:
    rendered = prepare(example_issue).rendered
    srcs = [img.get("src") for img in lxml.html.document_fromstring(rendered.html).iter("img")]
    assert "https://www.interregeurope.eu/fileadmin/user_upload/tx_tevprojects/library/" \
           "thumbnails/SScP_logo.jpg" in srcs or any(s.startswith("https://") for s in srcs)


@pytest.fixture
def example_issue() -> Path:
    return Path(__file__).resolve().parents[1] / "issues" / "cohes3ion-04.yaml"


def make_bad(folder: Path, kind: str) -> str:
    if kind == "missing":
        return "nowhere.jpg"
    if kind == "folder":
        (folder / "photos.jpg").mkdir()
        return "photos.jpg"
    if kind == "text":
        (folder / "notes.png").write_text("not an image at all\n")
        return "notes.png"
    if kind == "svg":
        (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" '
                                         'width="10" height="10"></svg>')
        return "logo.svg"
    if kind == "pixels":  # a small file of too many pixels, refused before it is decoded
        Image.new("1", (8000, 6000)).save(folder / "vast.png", "PNG", optimize=True)
        return "vast.png"
    # A 20 MB photo (noise does not compress), refused before it is decoded.
    side = 2600
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        folder / "huge.png", "PNG", compress_level=0)
    assert (folder / "huge.png").stat().st_size > 20_000_000
    return "huge.png"


@pytest.mark.parametrize(("kind", "says"), [
    ("missing", "no such file"),
    ("folder", "is a folder, not an image file; name the image file in it"),
    ("text", "not an image"),
    ("svg", "SVG is not shown by most mail clients"),
    ("huge", "20.3 MB, over the 10 MB"),
    ("pixels", "8000x6000 pixels, over the 40 megapixels"),
])
def test_a_bad_image_is_one_line_naming_the_file_and_line(
        write_issue: Callable[[str, str], Path], kind: str, says: str) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    src = make_bad(folder, kind)
    issue = issue_with_image(write_issue, src)
    with pytest.raises(IssueError) as caught:
        prepare(issue)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{issue}:6: {src}: ")
    assert says in message


def test_preview_inlines_the_images_and_the_sent_html_does_not(
        write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    photo(folder / "park.jpg", (800, 400))
    prepared = prepare(issue_with_image(write_issue, "park.jpg"))
    rendered = prepared.rendered
    settings = prepared.workspace.settings
    urls = {m.name: media_url(settings.base_url, settings.media.base_url, m.name)
            for m in rendered.media}
    shown = inline_for_preview(rendered.html, rendered.media, urls)
    assert img_of(shown, "The science park").get("src").startswith("data:image/jpeg;base64,")
    assert "data:image" not in rendered.html


def test_a_logo_keeps_its_transparency_and_gets_lighter(example_issue: Path) -> None:
    rendered = prepare(example_issue).rendered
    source = Path(__file__).resolve().parents[1] / "brand" / \
        "llywodraeth-cymru-welsh-government.png"
    doc = lxml.html.document_fromstring(rendered.html)
    (src,) = doc.xpath("//td[contains(@class, 'bulletin-logo-light')]//img/@src")
    (logo,) = [m for m in rendered.media if src.endswith("/" + m.name)]
    with Image.open(io.BytesIO(logo.data)) as out:
        assert out.size == (440, 133)  # twice the 220 px it is shown at
        assert out.convert("RGBA").getpixel((2, 2))[3] == 0  # still transparent
        assert out.convert("RGBA").getpixel((12, 66))[:3] == pytest.approx((200, 16, 46),
                                                                            abs=40)
    assert len(logo.data) < source.stat().st_size / 1.5


def test_a_missing_logo_file_names_bulletin_toml_s_line(workspace: Path) -> None:
    (workspace / "brand" / "llywodraeth-cymru-welsh-government-dark.png").unlink()
    rows = (workspace / "bulletin.toml").read_text().split("\n")
    line = next(n for n, row in enumerate(rows, 1) if row.startswith("dark_src = "))
    issue = workspace / "issues" / "cohes3ion-04.yaml"
    issue.write_text((Path(__file__).resolve().parents[1] / "issues" / issue.name).read_text())
    with pytest.raises(IssueError) as caught:
        prepare(issue)
    assert str(caught.value) == (
        f"{workspace / 'bulletin.toml'}:{line}: brand/llywodraeth-cymru-welsh-government-dark"
        ".png: no such file; check the path (it is relative to the file that names it)")
