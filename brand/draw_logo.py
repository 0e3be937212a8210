"""Draws the example workspace's stand-in logo: a bilingual wordmark, "Llywodraeth Cymru /
Welsh Government", made for this project (not the government's real logo), as two PNGs with
transparent backgrounds: dark lettering for light backgrounds, light lettering for dark ones
(bulletin.toml's brand.logo.src and dark_src).

    python brand/draw_logo.py      # rewrites the two PNGs beside this script

Needs Pillow and a bold sans-serif font (DejaVu Sans Bold, Debian's fonts-dejavu-core; else
Pillow's own)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 660, 200
RED = (200, 16, 46, 255)
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
         "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def draw(ink: tuple[int, int, int, int]) -> Image.Image:
    image = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    # A simple mark: a red square with a white chevron, then the two names.
    pen.rounded_rectangle((8, 30, 148, 170), radius=14, fill=RED)
    pen.line([(40, 70), (78, 108), (116, 70)], fill=(255, 255, 255, 255), width=14,
             joint="curve")
    pen.line([(40, 112), (78, 150), (116, 112)], fill=(255, 255, 255, 255), width=14,
             joint="curve")
    pen.text((176, 36), "Llywodraeth Cymru", font=font(41), fill=ink)
    pen.line([(178, 100), (WIDTH - 12, 100)], fill=RED, width=4)
    pen.text((176, 114), "Welsh Government", font=font(41), fill=ink)
    return image


def main() -> None:
    draw((29, 29, 27, 255)).save(HERE / "llywodraeth-cymru-welsh-government.png",
                                 optimize=True)
    draw((255, 255, 255, 255)).save(HERE / "llywodraeth-cymru-welsh-government-dark.png",
                                    optimize=True)


if __name__ == "__main__":
    main()
