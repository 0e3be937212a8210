"""BASE/media/NAME as caches and proxies ask for it: a weak ETag in If-None-Match (what a
proxy that compresses sends back) is the same image; names that only look like one are 404."""

from __future__ import annotations

import pytest

from bulletin.images import is_media_name
from tests.web_helpers import Web

pytest_plugins = ["tests.web_fixtures"]

NAME = "0123456789abcdef0123.png"


def test_a_weak_etag_is_a_304(web: Web) -> None:
    web.store.media.put([(NAME, b"\x89PNG not really", "image/png")])
    got = web.http.get(f"/media/{NAME}")
    assert got.status_code == 200
    etag = got.headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", W/{etag}'):
        again = web.http.get(f"/media/{NAME}", headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.headers["etag"] == etag
    assert web.http.get(f"/media/{NAME}",
                        headers={"If-None-Match": 'W/"other"'}).status_code == 200


@pytest.mark.parametrize("name", [NAME + "\n", NAME.upper(), "../" + NAME, NAME + ".png",
                                  "0123456789abcdef0123.svg"])
def test_only_a_name_a_send_could_give_is_served(name: str) -> None:
    assert not is_media_name(name)
