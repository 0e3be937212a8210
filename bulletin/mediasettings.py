"""The image settings of bulletin.toml: a newsletter's logo ([newsletters.X.brand.logo]) and
[media], where published images are served from and how much image weight one issue may
carry before `bulletin check` warns."""

from __future__ import annotations

from pydantic import Field

from .fields import BaseUrl, ImageSource, Prose, Strict, Url


class Logo(Strict):
    """`src` (a URL, or a file relative to bulletin.toml) for light backgrounds; `dark_src`
    for dark ones (without it, the logo sits on a light plate where the background is dark)."""

    src: ImageSource
    dark_src: ImageSource | None = None
    alt: Prose
    width: int = Field(default=200, ge=16, le=600)
    href: Url | None = None


class MediaSettings(Strict):
    """`base_url`: where the images live when not under the web service's BASE/media/ (a CDN
    or a web server they are copied to with `bulletin media export`); `budget`: the bytes of
    every image of an issue together, above which `bulletin check` warns (default 1 MB)."""

    base_url: BaseUrl | None = None
    budget: int = Field(default=1_000_000, ge=10_000)
