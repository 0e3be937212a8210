"""The per-recipient headers of a send as one text (message.recipient_head) are the lines of
message.recipient_headers, whatever the name and address; Message-IDs are unique, in a forked
child as in its parent."""

from __future__ import annotations

import os
import re

from hypothesis import given
from hypothesis import strategies as st

from bulletin.message import (
    Recipient,
    delivery_message_id,
    random_message_id,
    recipient_head,
    recipient_headers,
)

names = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=120),
                  st.text(alphabet="Ab '_-\t", max_size=20), st.just("x" * 401))
local_parts = st.text(alphabet="abc0.+-_=&'âЖ", min_size=1, max_size=20).filter(
    lambda s: not s.startswith(".") and ".." not in s and not s.endswith("."))
domains = st.sampled_from(["example.org", "bücher.de", "x.example"])
urls = st.sampled_from(["https://news.example.org/unsubscribe/dW5zdWJzY3JpYmUfNx8.6Un4onyd",
                        "../unsubscribe/x.y"])


@given(names, local_parts, domains, urls, st.sampled_from([None, "", "off@example.org"]))
def test_the_head_is_the_headers_lines(name: str, local: str, domain: str, url: str,
                                       mailto: str | None) -> None:
    recipient = Recipient("7", f"{local}@{domain}", name)
    date, message_id = "Tue, 01 Feb 2022 09:00:00 +0000", "<a.0123456789@example.org>"
    headers = recipient_headers(recipient, {"unsubscribe_url": url}, mailto, date, message_id)
    assert recipient_head(recipient, url, mailto, date, message_id) == \
        "".join(f"{name}: {value}\r\n" for name, value in headers)


def test_message_ids() -> None:
    token = "bqaaaaaaaaaaaaaaaaa"
    ids = {delivery_message_id(token, "example.org") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(rf"<{token}\.[0-9a-f]{{10}}@example\.org>", i) for i in ids)
    assert re.fullmatch(r"<[0-9a-f]{24}@example\.org>", random_message_id("example.org"))


def test_a_forked_child_makes_other_message_ids_than_its_parent() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        os.write(write, f"{delivery_message_id('t', 'x.org')} {random_message_id('x.org')}"
                 .encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    assert status == 0
    with os.fdopen(read, "rb") as pipe:
        theirs = pipe.read().decode()
    ours = [delivery_message_id("t", "x.org"), random_message_id("x.org")]
    assert [len(i) for i in theirs.split()] == [len(i) for i in ours]
    assert all(a != b for a, b in zip(theirs.split(), ours, strict=True))
