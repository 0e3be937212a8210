"""DKIM signatures hold for the To headers that need care: a name folded over several encoded
words, an internationalised domain (punycode), a non-ASCII local part (UTF-8 headers)."""

from __future__ import annotations

import pytest

from bulletin.dkim import DkimSigner
from bulletin.message import Recipient
from bulletin.send.smtp import dot_unstuff
from bulletin.workflow import Prepared
from tests.test_dkim import ED_PEM, RSA_PEM, template, verify


@pytest.mark.parametrize("key", [RSA_PEM, ED_PEM], ids=["rsa", "ed25519"])
@pytest.mark.parametrize(("name", "address"), [
    ("\N{GRINNING FACE}" * 200, "ann@example.org"),
    ("=?utf-8?q?Bcc=3A_evil=40example=2Eorg?=", "ann@example.org"),
    ("Siân Ŵyn ap Gruffydd-Llywelyn o Benrhyndeudraeth", "ann@bücher.de"),
    ("Siân", "siân@bücher.de"),
])
def test_awkward_to_headers_verify(example: Prepared, key: bytes, name: str,
                                   address: str) -> None:
    signer = DkimSigner("example.gov.wales", "news", key)
    built = template(example, signer)
    _, plain = built.message(Recipient("1", address, name))
    assert verify(plain, signer)
    _, stuffed = built.message(Recipient("1", address, name), stuffed=True)
    assert verify(dot_unstuff(stuffed), signer)
