"""Local images as officers' files come: 16-bit PNGs, animated GIFs with transparency, SVGs
that start with a comment, and images shown narrower than the issue asks (side by side, or a
`width` wider than the column); Pillow reads back what the pipeline wrote."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bulletin.errors import IssueError
from bulletin.render import Rendered
from bulletin.workflow import prepare
from tests.test_images import img_of, issue_with_image, photo


def shown(rendered: Rendered, alt: str = "The science park") -> Image.Image:
    """The processed file of the image with this alt text."""
    src = img_of(rendered.html, alt).get("src")
    (media,) = [m for m in rendered.media if src.endswith("/" + m.name)]
    return Image.open(io.BytesIO(media.data))


def test_a_16_bit_grey_png_keeps_its_tones(write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    ramp = Image.new("I;16", (1200, 200))
    ramp.putdata([x * 54 for _ in range(200) for x in range(1200)])  # 0 .. 64746
    ramp.save(folder / "ramp.png")
    rendered = prepare(issue_with_image(write_issue, "ramp.png")).rendered
    with shown(rendered) as out:
        grey = out.convert("L")
        left, middle, right = (grey.getpixel((x, 100)) for x in (4, out.width // 2,
                                                                  out.width - 4))
    assert left < 20 and 100 < middle < 160 and right > 230  # not all white


def test_an_animated_gif_keeps_its_transparency(
        write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    frames = []
    for step in range(3):
        frame = Image.new("RGBA", (1200, 400), (0, 0, 0, 0))
        ImageDraw.Draw(frame).rectangle((100 + step * 100, 100, 400 + step * 100, 300),
                                        fill=(0, 128, 0, 255))
        frames.append(frame)
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:],
                   duration=200, loop=0, disposal=2, transparency=0)
    rendered = prepare(issue_with_image(write_issue, "moving.gif")).rendered
    with shown(rendered) as out:
        assert out.n_frames == 3
        for index in range(3):
            out.seek(index)
            frame = out.convert("RGBA")
            assert frame.getpixel((5, 5))[3] == 0, index  # the background stays see-through
            green = frame.getpixel((round((250 + index * 100) * 1104 / 1200), 184))
            assert green[3] == 255 and green[1] > 100, index


@pytest.mark.parametrize("text", [
    '<!-- drawn in Inkscape -->\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/'
    'DTD/svg11.dtd">\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
    '\ufeff<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
])
def test_an_svg_is_named_as_svg_however_it_starts(
        write_issue: Callable[[str, str], Path], text: str) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    (folder / "logo.svg").write_text(text, encoding="utf-8")
    with pytest.raises(IssueError, match="SVG is not shown by most mail clients"):
        prepare(issue_with_image(write_issue, "logo.svg"))


def test_the_height_matches_the_width_the_image_is_shown_at(
        write_issue: Callable[[str, str], Path]) -> None:
    """Outlook sizes an image by its width and height attributes: they must keep its shape
    whatever width the layout gives it."""
    folder = write_issue("", "placeholder.yaml").parent
    photo(folder / "park.jpg", (2000, 1500))
    rendered = prepare(issue_with_image(write_issue, "park.jpg", ", width: 600")).rendered
    img = img_of(rendered.html, "The science park")
    width, height = int(img.get("width")), int(img.get("height"))
    assert width <= 552 and height == round(width * 3 / 4)

    issue = write_issue("""
        newsletter: cohes3ion-bilingual
        date: 2022-01-31
        subject: {en: Images, cy: Delweddau}
        preheader: {en: Some images today, cy: Rhai delweddau heddiw}
        sections:
          - heading: {en: A photo, cy: Llun}
            image: {src: "park.jpg", alt: {en: The park, cy: Y parc}}
            body: {en: Words here., cy: Geiriau yma.}
        """, "side.yaml")
    html = prepare(issue, delivery="side-by-side").rendered.html
    for alt in ("The park", "Y parc"):
        img = img_of(html, alt)
        width, height = int(img.get("width")), int(img.get("height"))
        assert width < 552 and height == round(width * 3 / 4), (alt, width, height)
        assert re.search(r"height:\s*auto", img.get("style"))


def test_a_palette_image_is_resized_smoothly_and_stays_see_through(
        write_issue: Callable[[str, str], Path]) -> None:
    """A logo saved with a palette (as pngquant and many exports write it) is resized with the
    same filter as any other image, not pixel-picked into jagged edges."""
    folder = write_issue("", "placeholder.yaml").parent
    disc = Image.new("P", (1200, 600), 0)
    disc.putpalette([255, 255, 255, 200, 16, 46] + [0] * 762)
    ImageDraw.Draw(disc).ellipse((100, 50, 1100, 550), fill=1)
    disc.save(folder / "disc.png", transparency=0)
    rendered = prepare(issue_with_image(write_issue, "disc.png", ", width: 100")).rendered
    with shown(rendered) as out:
        assert out.size == (200, 100)
        rgba = out.convert("RGBA")
        assert rgba.getpixel((2, 2))[3] == 0 and rgba.getpixel((100, 50))[3] > 245
        alphas = set(rgba.getchannel("A").histogram()[1:255])
        assert alphas != {0}  # soft edges: some pixels part see-through


def rgb_profile(red: tuple[float, float, float], green: tuple[float, float, float],
                blue: tuple[float, float, float]) -> bytes:
    """A matrix/TRC ICC v2 RGB display profile with these primaries (D50 XYZ), gamma 2.2."""
    import struct

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    text = b"test profile\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text
             + b"\0" * 12 + b"\0\0" + b"\0" + b"\0" * 67),
            (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
            (b"rXYZ", xyz(red)), (b"gXYZ", xyz(green)), (b"bXYZ", xyz(blue))]
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = [], b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table.append(signature + struct.pack(">II", offset + len(data), len(body)))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data


def test_a_photo_in_another_colour_space_is_made_srgb_before_its_profile_goes(
        write_issue: Callable[[str, str], Path]) -> None:
    """The ICC profile is removed with the rest of the metadata, so the colours must be
    turned into sRGB (what a mail client assumes) first, or they change."""
    folder = write_issue("", "placeholder.yaml").parent
    swapped = rgb_profile(red=(0.1431, 0.0606, 0.7141), green=(0.3851, 0.7169, 0.0971),
                          blue=(0.4361, 0.2225, 0.0139))  # sRGB's blue named red, and so on
    Image.new("RGB", (800, 400), (255, 0, 0)).save(folder / "tagged.jpg", quality=95,
                                                    icc_profile=swapped)
    rendered = prepare(issue_with_image(write_issue, "tagged.jpg")).rendered
    with shown(rendered) as out:
        assert "icc_profile" not in out.info
        red, green, blue = out.convert("RGB").getpixel((400, 200))
    assert blue > 200 and red < 60 and green < 60, (red, green, blue)


def test_an_animation_of_too_many_frames_is_refused_before_it_is_decoded(
        write_issue: Callable[[str, str], Path]) -> None:
    """A small file can hold hundreds of full-size frames (600 frames of 1000x1000 px in
    half a megabyte took 6 GB and 90 s to process): their pixels together have a limit."""
    folder = write_issue("", "placeholder.yaml").parent
    base = Image.new("P", (1000, 1000), 0)
    base.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    frames = []
    for index in range(45):
        frame = base.copy()
        ImageDraw.Draw(frame).point((index, 0), fill=1)
        frames.append(frame)
    frames[0].save(folder / "long.gif", save_all=True, append_images=frames[1:], duration=20,
                   loop=0)
    with pytest.raises(IssueError) as caught:
        prepare(issue_with_image(write_issue, "long.gif"))
    message = str(caught.value)
    assert "\n" not in message
    assert "long.gif: 45 frames of 1000x1000 pixels, over the 40 megapixels" in message


def test_a_file_that_cannot_be_read_is_one_line(
        write_issue: Callable[[str, str], Path]) -> None:
    """A file that can be looked at but not read (permissions; here a file of /proc that
    refuses reading even to root) is an error naming it, not a traceback."""
    issue = issue_with_image(write_issue, "/proc/self/mem")
    with pytest.raises(IssueError) as caught:
        prepare(issue)
    assert str(caught.value).startswith(f"{issue}:6: /proc/self/mem: cannot read it: ")


def test_a_symlink_loop_is_one_line(write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    (folder / "a.jpg").symlink_to("b.jpg")
    (folder / "b.jpg").symlink_to("a.jpg")
    issue = issue_with_image(write_issue, "a.jpg")
    with pytest.raises(IssueError) as caught:
        prepare(issue)
    assert str(caught.value).startswith(f"{issue}:6: a.jpg: cannot read it: ")


def test_an_image_in_a_side_by_side_column_is_twice_the_column_wide(
        write_issue: Callable[[str, str], Path]) -> None:
    """Side by side, a section's image is shown in a column narrower than 552 px: its file is
    twice that (sharp, and no heavier than needed), and the HTML and the files agree."""
    folder = write_issue("", "placeholder.yaml").parent
    photo(folder / "park.jpg", (2000, 1500))
    issue = write_issue("""
        newsletter: cohes3ion-bilingual
        date: 2022-01-31
        subject: {en: Images, cy: Delweddau}
        preheader: {en: Some images today, cy: Rhai delweddau heddiw}
        sections:
          - heading: {en: A photo, cy: Llun}
            image: {src: "park.jpg", alt: {en: The park, cy: Y parc}}
            body: {en: Words here., cy: Geiriau yma.}
        """, "side.yaml")
    rendered = prepare(issue, delivery="side-by-side").rendered
    img = img_of(rendered.html, "The park")
    width = int(img.get("width"))
    assert width < 552 and img_of(rendered.html, "Y parc").get("src") == img.get("src")
    with shown(rendered, "The park") as out:
        assert out.size == (2 * width, round(2 * width * 3 / 4))
    names = {m.name for m in rendered.media}
    linked = set(re.findall(r'/media/([0-9a-f]{20}\.(?:jpg|png|gif))"', rendered.html))
    assert names == linked  # every file linked, no file left over


@pytest.mark.parametrize("loop", [None, 0, 3])
def test_an_animation_loops_as_its_file_says(write_issue: Callable[[str, str], Path],
                                             loop: int | None) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    frames = [Image.new("RGB", (300, 100), colour) for colour in ("red", "blue")]
    options = {} if loop is None else {"loop": loop}
    frames[0].save(folder / "once.gif", save_all=True, append_images=frames[1:], duration=100,
                   **options)
    with shown(prepare(issue_with_image(write_issue, "once.gif")).rendered) as out:
        assert out.n_frames == 2 and out.info.get("loop") == loop  # None: plays once


def test_pillow_s_warnings_do_not_reach_the_user(
        write_issue: Callable[[str, str], Path]) -> None:
    """An image over Pillow's own limit (89 megapixels), or with damaged EXIF, made Pillow
    print a warning, with a path into its source, before the one line that says why."""
    import warnings

    folder = write_issue("", "placeholder.yaml").parent
    Image.new("1", (10000, 9500)).save(folder / "vast.png", optimize=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(IssueError, match="over the 40 megapixels"):
            prepare(issue_with_image(write_issue, "vast.png"))
    assert [str(w.message) for w in caught] == []


def test_an_iphone_heic_photo_is_named_as_heic(write_issue: Callable[[str, str], Path]) -> None:
    folder = write_issue("", "placeholder.yaml").parent
    (folder / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64)
    with pytest.raises(IssueError, match=r"a HEIC photo .*export it as JPEG"):
        prepare(issue_with_image(write_issue, "IMG_0001.HEIC"))


def test_a_large_turned_jpeg_decoded_at_a_smaller_scale_keeps_its_shape_and_way_up(
        write_issue: Callable[[str, str], Path]) -> None:
    """A camera JPEG is decoded at a fraction of its size when that is still at least twice
    what is shown; turned by its EXIF orientation, the fraction is of the upright size."""
    folder = write_issue("", "placeholder.yaml").parent
    stored = Image.new("RGB", (6000, 3000), (20, 120, 220))
    stored.paste((220, 30, 30), (0, 0, 3000, 3000))  # the left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: the red half on top
    stored.save(folder / "turned.jpg", quality=80, exif=exif.tobytes())
    rendered = prepare(issue_with_image(write_issue, "turned.jpg")).rendered
    img = img_of(rendered.html, "The science park")
    assert (img.get("width"), img.get("height")) == ("552", "1104")
    with shown(rendered) as out:
        assert out.size == (1104, 2208)
        top, bottom = out.getpixel((552, 200)), out.getpixel((552, 2000))
    assert top[0] > 180 and bottom[2] > 180, (top, bottom)
