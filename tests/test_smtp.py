"""The SMTP transport against real servers: aiosmtpd in-process (content, faults, TLS, AUTH)
and Postfix's smtp-sink (pipelining). Plus the pure helpers and the file/memory transports."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulletin.errors import SendError
from bulletin.message import Recipient
from bulletin.personalise import MessageTemplate
from bulletin.send.files import FileTransport, MemoryTransport, Sent, safe_name
from bulletin.send.smtp import (
    Reply,
    ReplyParser,
    SmtpSettings,
    SmtpStats,
    SmtpTransport,
    check_tls_policy,
    dot_stuff,
    dot_unstuff,
    is_loopback,
    parse_extensions,
    parse_reply,
    parse_reply_line,
)
from bulletin.send.smtp import policy as smtp_policy
from bulletin.send.transport import Result, Status, Transport
from bulletin.workflow import Prepared

from .smtp_server import SmtpServer, SmtpSink, authenticator, self_signed, server_tls
from .waiting import SAFETY

SENT, TEMPORARY, PERMANENT, UNCERTAIN = (Status.SENT, Status.TEMPORARY, Status.PERMANENT,
                                         Status.UNCERTAIN)
SENDER = "bulletin@example.org"
SIMPLE = b"Subject: hello\r\nTo: someone\r\n\r\nA short body.\r\n"
DOTTY = (b"Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\nmid.dle\r\n...\r\n"
         b"a line\r\n.\r\nafter a lone dot\r\n. \r\n.\r\n")
T = TypeVar("T")
HANG_TIMEOUT = 8.0
"""The client's timeout where a test makes the server stop answering: it must run out there,
and never on the replies around it, which a loopback server gives in milliseconds; 8 s leaves
room for a machine so busy that a process waits seconds for a core. Everywhere else the
timeout is SAFETY: only ever reached when a test is broken."""
GAVE_UP_IN = 120.0
"""Seconds within which a client facing a silent server has given up (HANG_TIMEOUT and
reconnecting, however slow the machine): far less than the hour the test server stays
silent, or the default timeout of 60 s."""


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs `coroutine` in a new event loop on its own thread: the browser tests' Playwright
    keeps a loop running on this one for the whole session."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def plain(port: int, **options: Any) -> SmtpSettings:
    options.setdefault("timeout", SAFETY)
    options.setdefault("security", "none")
    return SmtpSettings("127.0.0.1", port, helo_name="client.test", **options)


async def send_each(settings: SmtpSettings, messages: list[tuple[str, bytes]],
                    between: Callable[[int], Awaitable[None]] | None = None,
                    ) -> tuple[list[Result], SmtpTransport]:
    results = []
    async with SmtpTransport(settings) as smtp:
        for i, (recipient, data) in enumerate(messages):
            if between is not None:
                await between(i)
            results.append(await smtp.send(SENDER, recipient, data))
    return results, smtp


def simple(*recipients: str) -> list[tuple[str, bytes]]:
    return [(r, SIMPLE) for r in recipients]


@pytest.fixture(params=[False, True], ids=["one-at-a-time", "pipelined"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture(scope="session")
def bulletin_message(example: Prepared) -> bytes:
    template = MessageTemplate.build(example.rendered, example.loaded.newsletter,
                                     example.workspace.settings.base_url, b"k" * 32)
    return template.message(Recipient("7", "reader@example.org", "A Reader"))[1]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


# Dot-stuffing ---------------------------------------------------------------------------------

crlf_lines = st.lists(st.text(alphabet=".a \t", max_size=6).map(str.encode), max_size=12)
pieces = st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b" "]), max_size=30)


@given(crlf_lines)
def test_dot_stuffing_round_trip(lines: list[bytes]) -> None:
    message = b"".join(line + b"\r\n" for line in lines)
    stuffed = dot_stuff(message)
    assert dot_unstuff(stuffed) == message
    assert all(not line.startswith(b".") or line.startswith(b"..")
               for line in stuffed.split(b"\r\n"))


@given(pieces.map(b"".join))
def test_dot_stuffed_data_ends_only_at_the_end(data: bytes) -> None:
    stuffed = dot_stuff(data)
    canonical = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    if canonical and not canonical.endswith(b"\r\n"):
        canonical += b"\r\n"
    assert dot_unstuff(stuffed) == canonical
    assert stuffed.count(b"\r") == stuffed.count(b"\n") == stuffed.count(b"\r\n")
    assert stuffed == b"" or stuffed.endswith(b"\r\n")
    wire = b"\r\n" + stuffed + b".\r\n"  # as a server sees it after the 354
    assert wire.find(b"\r\n.\r\n") == len(wire) - 5


def test_dot_stuffing_examples() -> None:
    assert dot_stuff(b".\r\n") == b"..\r\n"
    assert dot_stuff(b"a\r\n.b\r\n..c\r\n") == b"a\r\n..b\r\n...c\r\n"
    assert dot_stuff(b"no line end") == b"no line end\r\n"
    assert dot_stuff(b"lf\n.only\n") == b"lf\r\n..only\r\n"
    assert dot_stuff(b"") == b""


# Replies -----------------------------------------------------------------------------------------

reply_lines = st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
                       min_size=1, max_size=5)


def format_reply(code: int, lines: list[str]) -> bytes:
    return b"".join(b"%d%s%s\r\n" % (code, b" " if i == len(lines) - 1 else b"-", text.encode())
                    for i, text in enumerate(lines))


@given(st.integers(200, 599), reply_lines)
def test_reply_round_trip(code: int, lines: list[str]) -> None:
    wire = format_reply(code, lines)
    assert parse_reply(wire.splitlines(keepends=True)) == Reply(code, "\n".join(lines))


def test_reply_lines() -> None:
    assert parse_reply_line(b"250\r\n") == (250, True, "")
    assert parse_reply_line(b"250 \r\n") == (250, True, "")  # smtp-sink ends EHLO so
    assert parse_reply_line(b"250-PIPELINING\r\n") == (250, False, "PIPELINING")
    assert parse_reply_line(b"550 5.1.1 <a@b>: no\n") == (550, True, "5.1.1 <a@b>: no")
    for bad in (b"", b"25\r\n", b"abc ok\r\n", b"250x\r\n", b"150 old\r\n", b"2500 x\r\n"):
        with pytest.raises(ValueError):
            parse_reply_line(bad)
    with pytest.raises(ValueError, match="changes its code"):
        parse_reply([b"250-a\r\n", b"251 b\r\n"])
    with pytest.raises(ValueError, match="goes on"):
        parse_reply([b"250 a\r\n", b"250 b\r\n"])
    with pytest.raises(ValueError, match="without its last line"):
        parse_reply([b"250-a\r\n"])


@given(st.lists(st.tuples(st.integers(200, 599), reply_lines), max_size=6), st.data())
def test_replies_parsed_as_the_bytes_arrive(replies: list[tuple[int, list[str]]],
                                            data: st.DataObject) -> None:
    wire = b"".join(format_reply(code, lines) for code, lines in replies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    parser, got = ReplyParser(1 << 16), []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        parser.feed(wire[start:end], got.append)
    assert got == [Reply(code, "\n".join(lines)) for code, lines in replies]
    assert parser.pending == 0


def test_reply_parser_refuses_what_is_not_smtp() -> None:
    parser, got = ReplyParser(100), []
    with pytest.raises(ValueError, match="not an SMTP reply line"):
        parser.feed(b"250 ok\r\n250-a\r\nHTTP/1.1 200 OK\r\n", got.append)
    assert got == [Reply(250, "ok")]
    with pytest.raises(ValueError, match="changes its code"):
        ReplyParser(100).feed(b"250-a\r\n251 b\r\n", got.append)
    with pytest.raises(ValueError, match="over-long line"):
        ReplyParser(100).feed(b"250 " + b"x" * 100, got.append)
    with pytest.raises(ValueError, match="over-long line"):
        ReplyParser(100).feed(b"250 " + b"x" * 100 + b"\r\n", got.append)


def test_extensions() -> None:
    reply = Reply(250, "mx.example\nPIPELINING\nSIZE 1000\nauth PLAIN LOGIN\n8BITMIME")
    assert parse_extensions(reply) == {"PIPELINING": "", "SIZE": "1000",
                                       "AUTH": "PLAIN LOGIN", "8BITMIME": ""}


# Settings and the TLS policy -------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LocalHost.", "::1",
                                  "[::1]", "::ffff:127.0.0.1"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["192.0.2.1", "smtp.example.org", "localhost.example.org",
                                  "10.0.0.1", "::2", "0.0.0.0", "vm"])
def test_other_hosts(host: str) -> None:
    assert not is_loopback(host)


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the transport tried to connect")
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse)


async def enter(settings: SmtpSettings) -> None:
    async with SmtpTransport(settings):
        pass


def test_plain_text_to_another_host_is_refused_before_connecting(no_connections: None) -> None:
    with pytest.raises(SendError, match=r"set smtp\.allow_plaintext = true in bulletin\.toml") \
            as caught:
        run(enter(SmtpSettings("192.0.2.1", 25, "none", timeout=60)))
    assert "\n" not in str(caught.value) and "192.0.2.1:25" in str(caught.value)
    with pytest.raises(SendError, match="allow_plaintext"):  # send() connects lazily: same
        run(SmtpTransport(SmtpSettings("192.0.2.1", 25, "none", timeout=60)).send(
            SENDER, "a@b.c", SIMPLE))


def test_password_in_plain_text_to_another_host_is_refused(no_connections: None) -> None:
    settings = SmtpSettings("192.0.2.1", 25, "none", "user", "hunter2", timeout=60,
                            require_tls=False)
    with pytest.raises(SendError, match="refusing to send the SMTP password") as caught:
        run(enter(settings))
    assert "hunter2" not in str(caught.value)


def test_tls_policy_choices() -> None:
    check_tls_policy(SmtpSettings("192.0.2.1", 25, "none", timeout=60, require_tls=False))
    check_tls_policy(SmtpSettings("127.0.0.1", 25, "none", timeout=60))
    check_tls_policy(SmtpSettings("192.0.2.1", 587, "starttls", timeout=60))
    with pytest.raises(SendError, match="require_tls is true"):
        check_tls_policy(SmtpSettings("127.0.0.1", 25, "none", timeout=60, require_tls=True))


def test_settings_are_checked_and_hide_the_password() -> None:
    settings = SmtpSettings("smtp.example.org", 587, "starttls", "user", "hunter2", timeout=60)
    assert "hunter2" not in repr(settings) and "user" in repr(settings)
    with pytest.raises(SendError, match="BULLETIN_SMTP_PASSWORD"):
        SmtpSettings("smtp.example.org", 587, "starttls", "user", timeout=60)
    with pytest.raises(SendError, match=r"smtp\.security is 'ssl'"):
        SmtpSettings("smtp.example.org", 465, "ssl", timeout=60)  # type: ignore[arg-type]
    with pytest.raises(SendError, match=r"smtp\.timeout"):
        SmtpSettings("smtp.example.org", 587, "starttls", timeout=0)
    with pytest.raises(SendError, match=r"smtp\.host '' is not"):
        SmtpSettings("", 587, "starttls", timeout=60)
    with pytest.raises(SendError, match="helo_name"):
        SmtpSettings("smtp.example.org", 587, "starttls", timeout=60, helo_name="two words")


# What arrives ----------------------------------------------------------------------------------

def test_messages_arrive_byte_for_byte(pipelining: bool, bulletin_message: bytes) -> None:
    messages = [("reader@example.org", bulletin_message), ("dots@example.org", DOTTY),
                ("plain@example.org", SIMPLE)]
    with SmtpServer(pipelining=pipelining) as server:
        results, smtp = run(send_each(plain(server.port), messages))
    assert [r.status for r in results] == [SENT] * 3
    assert results[0].code == 250 and results[0].reply == "2.0.0 OK queued as 1"
    assert [(m.mail_from, m.rcpt_tos, m.content) for m in server.received] == \
        [(SENDER, [r], data) for r, data in messages]
    assert server.handler.quits == 1  # close() said QUIT
    assert smtp.stats.connections == 1 and server.connections == 1
    assert "SIZE" in smtp.extensions


def test_data_without_a_final_line_end_gets_one() -> None:
    with SmtpServer() as server:
        results, _ = run(send_each(plain(server.port),
                                   [("a@example.org", b"Subject: x\r\n\r\nend")]))
    assert results[0].status is SENT
    assert server.received[0].content == b"Subject: x\r\n\r\nend\r\n"


def test_commands_go_one_at_a_time_without_pipelining() -> None:
    with SmtpServer() as server:
        _, smtp = run(send_each(plain(server.port), simple("a@x.org", "b@x.org", "c@x.org")))
    assert not smtp.pipelining and smtp.stats.pipelined == 0
    assert smtp.stats.round_trips == 1 + 4 * 3  # EHLO; then MAIL, RCPT, DATA, data each
    assert server.handler.grouped == [False] * 3


def test_commands_are_grouped_when_the_server_pipelines() -> None:
    with SmtpServer(pipelining=True) as server:
        _, smtp = run(send_each(plain(server.port), simple("a@x.org", "b@x.org", "c@x.org")))
    assert smtp.pipelining and smtp.stats.pipelined == 3
    assert smtp.stats.round_trips == 1 + 2 * 3  # EHLO; then MAIL+RCPT+DATA, data each
    assert server.handler.grouped == [True] * 3  # RCPT and DATA came with the MAIL


def test_smtp_sink_pipelined(bulletin_message: bytes) -> None:
    messages = [("reader@example.org", bulletin_message), ("dots@example.org", DOTTY),
                ("plain@example.org", SIMPLE)] * 2
    with SmtpSink(dump=True) as sink:
        results, smtp = run(send_each(plain(sink.port), messages))
        dumped = list(sink.messages())
    assert [r.status for r in results] == [SENT] * 6
    assert smtp.pipelining and smtp.stats.pipelined == 6
    assert smtp.stats.round_trips == 1 + 2 * 6
    assert sorted((f["X-Mail-Args"], f["X-Rcpt-Args"], data) for f, data in dumped) == \
        sorted((f"<{SENDER}>", f"<{r}>", data) for r, data in messages)


def test_the_next_message_goes_out_with_the_end_of_data(bulletin_message: bytes) -> None:
    """Two or more sends at once on one connection: each message's MAIL, RCPT and DATA go
    out with the previous message's end of data, and every message arrives whole."""
    messages = [(f"r{i}@example.org", [bulletin_message, DOTTY, SIMPLE + b"%d" % i][i % 3])
                for i in range(24)]

    async def scenario(port: int) -> tuple[list[Result], SmtpTransport]:
        async with SmtpTransport(plain(port)) as smtp:
            assert smtp.depth == 2
            results = await asyncio.gather(*(smtp.send(SENDER, r, data)
                                             for r, data in messages))
            return results, smtp
    with SmtpSink(dump=True) as sink:
        results, smtp = run(scenario(sink.port))
        dumped = list(sink.messages())
    assert [r.status for r in results] == [SENT] * 24
    assert smtp.stats.joined == 23 and smtp.stats.connections == 1
    assert sorted((f["X-Rcpt-Args"], data) for f, data in dumped) == \
        sorted((f"<{r}>", data if data.endswith(b"\r\n") else data + b"\r\n")
               for r, data in messages)


def concurrently(port: int, recipients: list[str], timeout: float = SAFETY
                 ) -> tuple[list[Result], SmtpStats]:
    async def scenario() -> tuple[list[Result], SmtpStats]:
        async with SmtpTransport(plain(port, timeout=timeout)) as smtp:
            results = await asyncio.gather(*(smtp.send(SENDER, r, SIMPLE + r.encode())
                                             for r in recipients))
            return results, smtp.stats
    return run(scenario())


def test_refusals_in_a_pipelined_run_stay_with_their_message() -> None:
    recipients = ["a@x.org", "reject@x.org", "b@x.org", "tempfail@x.org", "c@x.org",
                  "laxdata@x.org", "nodata@x.org", "d@x.org"]
    with SmtpServer(pipelining=True) as server:
        results, stats = concurrently(server.port, recipients)
    assert [r.status for r in results] == [SENT, PERMANENT, SENT, TEMPORARY, SENT, PERMANENT,
                                           PERMANENT, SENT]
    assert [m.rcpt_tos for m in server.received] == [["a@x.org"], ["b@x.org"], ["c@x.org"],
                                                     ["d@x.org"]]
    assert all(m.content.endswith(m.rcpt_tos[0].encode() + b"\r\n") for m in server.received)
    assert stats.joined >= 1 and stats.connections == 1


def test_a_lost_reply_in_a_pipelined_run() -> None:
    """The server takes a message's data and vanishes: that message is uncertain; the one
    whose commands went out after it was not taken (its data never went), so it is tried
    again; nothing else is uncertain."""
    with SmtpServer(pipelining=True) as server:
        results, stats = concurrently(server.port, ["a@x.org", "vanish@x.org", "b@x.org",
                                                    "c@x.org"])
    statuses = [r.status for r in results]
    assert statuses[0] is SENT and statuses[1] is UNCERTAIN and statuses[3] is SENT
    assert statuses[2] in (TEMPORARY, SENT)
    delivered = [m.rcpt_tos[0] for m in server.received]  # (vanish records nothing)
    assert delivered == ["a@x.org"] + (["b@x.org"] if statuses[2] is SENT else []) + \
        ["c@x.org"]
    assert stats.connections == 2


def test_concurrent_sends_take_turns_on_one_connection() -> None:
    async def scenario(port: int) -> list[Result]:
        async with SmtpTransport(plain(port)) as smtp:
            return await asyncio.gather(*(smtp.send(SENDER, f"r{i}@x.org", SIMPLE)
                                          for i in range(20)))
    with SmtpServer(pipelining=True) as server:
        results = run(scenario(server.port))
    assert [r.status for r in results] == [SENT] * 20
    assert server.connections == 1
    assert sorted(m.rcpt_tos[0] for m in server.received) == sorted(f"r{i}@x.org"
                                                                    for i in range(20))


def test_addresses_that_would_inject_commands() -> None:
    with SmtpServer() as server:
        results, _ = run(send_each(plain(server.port), simple("a@x.org>\r\nRCPT TO:<b@x.org",
                                                              "", "ok@x.org")))
        with pytest.raises(SendError, match="sender address"):
            run(SmtpTransport(plain(server.port)).send("me@x.org\r\nRSET", "a@x.org", SIMPLE))
    assert [(r.status, r.code) for r in results] == [(PERMANENT, 0), (PERMANENT, 0), (SENT, 250)]
    assert [m.rcpt_tos for m in server.received] == [["ok@x.org"]]


# Faults ----------------------------------------------------------------------------------------

def test_refused_recipients_and_data(pipelining: bool) -> None:
    with SmtpServer(pipelining=pipelining) as server:
        results, smtp = run(send_each(plain(server.port), simple(
            "a-tempfail@x.org", "b-mailboxfull@x.org", "c-reject@x.org", "d-nodata@x.org",
            "ok@x.org")))
    assert [(r.status, r.code) for r in results] == [
        (TEMPORARY, 451), (TEMPORARY, 452), (PERMANENT, 550), (PERMANENT, 554), (SENT, 250)]
    assert results[0].reply == "4.3.0 <a-tempfail@x.org>: temporarily unavailable, try later"
    assert results[1].reply == "4.2.2 <b-mailboxfull@x.org>: mailbox full"
    assert results[2].reply == "5.1.1 <c-reject@x.org>: no such user here"
    assert results[3].reply == "5.7.1 No data for you"
    assert [m.rcpt_tos for m in server.received] == [["ok@x.org"]]
    assert smtp.stats.connections == 1  # RSET after each refusal; the connection carried on


def test_data_taken_after_every_recipient_was_refused_is_ended() -> None:
    with SmtpServer(pipelining=True) as server:  # only a pipelining client sends that DATA
        results, smtp = run(send_each(plain(server.port),
                                      simple("a-laxdata@x.org", "ok@x.org")))
    assert [(r.status, r.code) for r in results] == [(PERMANENT, 550), (SENT, 250)]
    assert [m.rcpt_tos for m in server.received] == [["ok@x.org"]]
    assert smtp.stats.connections == 1  # the lone dot kept client and server in step


def test_421_after_some_messages_then_reconnects(pipelining: bool) -> None:
    with SmtpServer(pipelining=pipelining, close_after=2) as server:
        results, smtp = run(send_each(plain(server.port), simple(*(f"r{i}@x.org"
                                                                   for i in range(6)))))
    assert [r.status for r in results] == [SENT, SENT, TEMPORARY, SENT, SENT, TEMPORARY]
    assert results[2] == Result(TEMPORARY, 421,
                                "4.7.0 Too many messages on one connection, closing")
    assert [m.rcpt_tos[0] for m in server.received] == ["r0@x.org", "r1@x.org", "r3@x.org",
                                                        "r4@x.org"]
    assert smtp.stats.connections == 2


@pytest.mark.parametrize(("word", "reply"), [
    ("closercpt", "4.3.2 Shutting down"), ("closedata", "4.3.2 Shutting down, message not taken")])
def test_421_mid_message(pipelining: bool, word: str, reply: str) -> None:
    with SmtpServer(pipelining=pipelining) as server:
        results, smtp = run(send_each(plain(server.port), simple(f"a-{word}@x.org", "ok@x.org")))
    assert results == [Result(TEMPORARY, 421, reply), results[1]]
    assert results[1].status is SENT and smtp.stats.connections == 2
    assert [m.rcpt_tos for m in server.received] == [["ok@x.org"]]


def test_drop_during_the_data_is_temporary(pipelining: bool) -> None:
    big = b"Subject: big\r\n\r\n" + (b"x" * 98 + b"\r\n") * 240_000  # 24 MB: more than the
    with SmtpServer(pipelining=pipelining) as server:  # sockets hold, so it is still going out
        results, smtp = run(send_each(plain(server.port), [("a-dropdata@x.org", big),
                                                           ("ok@x.org", SIMPLE)]))
    assert (results[0].status, results[0].code) == (TEMPORARY, 0)
    assert results[0].reply.startswith("the connection was lost")
    assert "before the end of data" in results[0].reply
    assert results[1].status is SENT and smtp.stats.connections == 2


def test_drop_after_the_data_is_uncertain(pipelining: bool) -> None:
    with SmtpServer(pipelining=pipelining) as server:
        results, smtp = run(send_each(plain(server.port), simple("a-vanish@x.org", "ok@x.org")))
    assert (results[0].status, results[0].code) == (UNCERTAIN, 0)
    assert results[0].reply == ("the server closed the connection (after the end of data was "
                                "sent: the server may have taken the message)")
    assert results[1].status is SENT and smtp.stats.connections == 2


@pytest.mark.slow
@pytest.mark.parametrize(("word", "status"), [("hang", TEMPORARY), ("hangdata", UNCERTAIN)])
def test_a_server_that_stops_answering(pipelining: bool, word: str, status: Status) -> None:
    with SmtpServer(pipelining=pipelining) as server:
        started = time.monotonic()
        results, smtp = run(send_each(plain(server.port, timeout=HANG_TIMEOUT),
                                      simple(f"a-{word}@x.org", "ok@x.org")))
        elapsed = time.monotonic() - started
    assert (results[0].status, results[0].code) == (status, 0)
    assert results[0].reply.startswith(f"no reply within {HANG_TIMEOUT:g} s")
    assert results[1].status is SENT and smtp.stats.connections == 2
    assert elapsed < GAVE_UP_IN


def test_server_restarted_during_a_run(pipelining: bool) -> None:
    with SmtpServer(pipelining=pipelining) as server:
        async def restart(i: int) -> None:
            if i == 3:
                await asyncio.to_thread(server.restart)  # the client sees the drop meanwhile
        results, smtp = run(send_each(plain(server.port), simple(*(f"r{i}@x.org"
                                                                   for i in range(6))), restart))
    assert [r.status for r in results] == [SENT] * 6
    assert len(server.received) == 6 and smtp.stats.connections == 2


def test_a_drop_the_client_has_not_seen_costs_one_temporary(pipelining: bool) -> None:
    with SmtpServer(pipelining=pipelining) as server:
        async def restart(i: int) -> None:
            if i == 2:
                server.restart()  # blocks the event loop: the close is not noticed until sent
        results, smtp = run(send_each(plain(server.port), simple(*(f"r{i}@x.org"
                                                                   for i in range(4))), restart))
    assert [(r.status, r.code) for r in results] == [(SENT, 250), (SENT, 250), (TEMPORARY, 0),
                                                     (SENT, 250)]
    assert "before the end of data" in results[2].reply
    assert smtp.stats.connections == 2


def test_server_down_for_a_while() -> None:
    with SmtpServer() as server:
        async def outage(i: int) -> None:
            if i == 1:
                await asyncio.to_thread(server.stop)
            if i == 2:
                await asyncio.to_thread(server.start)
        results, _ = run(send_each(plain(server.port), simple("a@x.org", "b@x.org", "c@x.org"),
                                   outage))
    assert [r.status for r in results] == [SENT, TEMPORARY, SENT]
    assert results[1].reply.startswith(f"cannot connect to 127.0.0.1:{server.port}")


def test_no_server_at_the_start_is_an_error() -> None:
    with SmtpServer() as server:
        port = server.port
    with pytest.raises(SendError, match=f"cannot connect to the SMTP server 127.0.0.1:{port}"):
        run(enter(plain(port)))


def test_cancelled_send_leaves_no_half_conversation() -> None:
    async def scenario(server: SmtpServer) -> Result:
        async with SmtpTransport(plain(server.port)) as smtp:
            task = asyncio.create_task(smtp.send(SENDER, "a-hang@x.org", SIMPLE))
            # cancelled half-way: once the server has its RCPT and will not answer
            give_up = time.monotonic() + SAFETY
            while not server.handler.hanging:
                assert time.monotonic() < give_up, "the server never got the RCPT"
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return await smtp.send(SENDER, "ok@x.org", SIMPLE)
    with SmtpServer(pipelining=True) as server:
        result = run(scenario(server))
        assert result.status is SENT and server.connections == 2


@pytest.mark.parametrize(("flag", "expected"), [("-q .", (UNCERTAIN, 0)),
                                                ("-Q RCPT", (TEMPORARY, 421)),
                                                ("-q RCPT", (TEMPORARY, 0))])
def test_smtp_sink_faults(flag: str, expected: tuple[Status, int]) -> None:
    with SmtpSink(*flag.split()) as sink:
        results, smtp = run(send_each(plain(sink.port), simple("a@x.org", "b@x.org")))
    assert smtp.pipelining
    assert [(r.status, r.code) for r in results] == [expected] * 2
    assert smtp.stats.connections == 2


@pytest.mark.slow
def test_a_server_that_stops_reading_the_data() -> None:
    big = b"Subject: big\r\n\r\n" + (b"y" * 98 + b"\r\n") * 240_000
    # smtp-sink waits a minute before reading the data: the client gives up long before
    with SmtpSink("-H", "60") as sink:
        started = time.monotonic()
        results, _ = run(send_each(plain(sink.port, timeout=HANG_TIMEOUT), [("a@x.org", big)]))
        elapsed = time.monotonic() - started
    assert (results[0].status, results[0].code) == (TEMPORARY, 0)
    assert results[0].reply.startswith(f"the server took nothing for {HANG_TIMEOUT:g} s")
    assert elapsed < GAVE_UP_IN


# TLS and AUTH ----------------------------------------------------------------------------------

def tls_settings(port: int, cert: Path, **options: Any) -> SmtpSettings:
    options.setdefault("security", "starttls")
    return plain(port, ca_file=cert, require_tls=True, **options)


def test_starttls_and_auth_plain(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    check = authenticator("newsletter", "s3cret-Pw")
    with SmtpServer(tls_context=server_tls(cert, key), require_starttls=True,
                    authenticator=check) as server:
        settings = tls_settings(server.port, cert, username="newsletter", password="s3cret-Pw")
        results, smtp = run(send_each(settings, [("a@x.org", DOTTY)]))
    assert results[0].status is SENT and smtp.encrypted
    assert "STARTTLS" not in smtp.extensions and "AUTH" in smtp.extensions  # the second EHLO
    assert check.tried == [("PLAIN", b"newsletter", b"s3cret-Pw")]
    assert server.received[0].content == DOTTY


def test_auth_login_when_plain_is_not_offered(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    check = authenticator("newsletter", "s3cret-Pw")
    with SmtpServer(tls_context=server_tls(cert, key), authenticator=check,
                    auth_exclude_mechanism=["PLAIN"]) as server:
        settings = tls_settings(server.port, cert, username="newsletter", password="s3cret-Pw")
        results, _ = run(send_each(settings, simple("a@x.org")))
    assert results[0].status is SENT
    assert check.tried == [("LOGIN", b"newsletter", b"s3cret-Pw")]


def test_rejected_login_says_so_without_the_password(certificate: tuple[Path, Path],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    cert, key = certificate
    caplog.set_level(logging.DEBUG)
    password = "wr0ng-Pa55word"
    with SmtpServer(tls_context=server_tls(cert, key), authenticator=authenticator("u", "p")) \
            as server, pytest.raises(SendError, match=r"refused the login for 'newsletter': 535") \
            as caught:
        run(enter(tls_settings(server.port, cert, username="newsletter", password=password)))
    leaks = (password, base64.b64encode(b"\0newsletter\0" + password.encode()).decode())
    for text in (str(caught.value), repr(caught.value.__cause__), caplog.text):
        assert not any(leak in text for leak in leaks)


def test_untrusted_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with SmtpServer(tls_context=server_tls(cert, key)) as server, \
            pytest.raises(SendError, match=r"certificate of 127\.0\.0\.1:\d+ is not trusted.*"
                                           r"smtp\.ca_file"):
        run(enter(plain(server.port, security="starttls")))


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with SmtpServer(ssl_context=server_tls(cert, key)) as server:
        results, smtp = run(send_each(tls_settings(server.port, cert, security="tls"),
                                      [("a@x.org", SIMPLE)]))
    assert results[0].status is SENT and smtp.encrypted
    assert server.received[0].content == SIMPLE


def test_implicit_tls_to_a_plain_server_is_an_error(certificate: tuple[Path, Path]) -> None:
    with SmtpServer() as server, pytest.raises(SendError, match=r"TLS handshake .* failed"):
        run(enter(tls_settings(server.port, certificate[0], security="tls")))


def test_starttls_missing(certificate: tuple[Path, Path]) -> None:
    with SmtpServer() as server:
        with pytest.raises(SendError, match="does not offer STARTTLS"):
            run(enter(tls_settings(server.port, certificate[0])))
        # loopback, TLS not required: carries on in plain text
        results, smtp = run(send_each(plain(server.port, security="starttls"), simple("a@x.org")))
    assert results[0].status is SENT and not smtp.encrypted


def test_no_password_over_plain_text_after_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    check = authenticator("newsletter", "s3cret-Pw")
    with SmtpServer(authenticator=check, auth_require_tls=False) as server:
        monkeypatch.setattr(smtp_policy, "is_loopback", lambda host: False)  # pretend it is far
        settings = plain(server.port, security="starttls", require_tls=False,
                         username="newsletter", password="s3cret-Pw")
        with pytest.raises(SendError, match="refusing to send the SMTP password to 127"):
            run(enter(settings))
    assert check.tried == []


# File and memory transports --------------------------------------------------------------------

def test_file_transport(tmp_path: Path) -> None:
    async def scenario(recipients: list[str]) -> list[Result]:
        transport: Transport = FileTransport(tmp_path / "out")
        async with transport:
            return [await transport.send(SENDER, r, SIMPLE + r.encode()) for r in recipients]
    assert [r.status for r in run(scenario(["a@x.org", "../../etc/passwd"]))] == [SENT] * 2
    run(scenario(["b+tag@x.org"]))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "000001-a@x.org.eml", "000002-_.._etc_passwd.eml", "000003-b+tag@x.org.eml"]
    assert (tmp_path / "out" / "000003-b+tag@x.org.eml").read_bytes() == SIMPLE + b"b+tag@x.org"
    assert safe_name("..") == "_" and len(safe_name("x" * 500)) == 100


def test_memory_transport() -> None:
    def outcome(sender: str, recipient: str, data: bytes) -> Result:
        return Result(PERMANENT, 550, "no") if "bad" in recipient else Result(SENT, 250, "ok")

    async def scenario(transport: MemoryTransport) -> list[Result]:
        async with transport:
            assert transport.open
            return [await transport.send(SENDER, r, SIMPLE) for r in ("a@x.org", "bad@x.org")]
    plain_memory, scripted = MemoryTransport(), MemoryTransport(outcome)
    assert [r.status for r in run(scenario(plain_memory))] == [SENT, SENT]
    assert [r.status for r in run(scenario(scripted))] == [SENT, PERMANENT]
    assert plain_memory.messages == [Sent(SENDER, "a@x.org", SIMPLE),
                                     Sent(SENDER, "bad@x.org", SIMPLE)]
    assert scripted.messages == [(SENDER, "a@x.org", SIMPLE)] and not scripted.open


@pytest.mark.slow
def test_a_server_that_stops_answering_mid_pipeline() -> None:
    """The data of one message taken and never answered: it is uncertain after the timeout;
    the message whose commands went out behind it was not taken; later ones go through on a
    new connection."""
    with SmtpServer(pipelining=True) as server:
        results, stats = concurrently(server.port, ["a@x.org", "hangdata@x.org", "b@x.org",
                                                    "c@x.org"], timeout=HANG_TIMEOUT)
    statuses = [r.status for r in results]
    assert statuses[:2] == [SENT, UNCERTAIN] and statuses[3] is SENT
    assert statuses[2] in (TEMPORARY, SENT)
    assert "no reply within" in results[1].reply
    assert stats.connections == 2
