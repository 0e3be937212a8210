"""Helpers for the web service's tests: uvicorn in a background thread on a socket bound
beforehand, and `Web`, the running service with its store and ways to make subscribers and
tokens. The fixtures are in web_fixtures.py."""

from __future__ import annotations

import email
import re
import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bulletin import links
from bulletin.send.config import send_config
from bulletin.send.outgoing import Outgoing
from bulletin.settings import load_workspace
from bulletin.store import Store
from bulletin.web.server import bind
from bulletin.web.service import create_app
from bulletin.workflow import Prepared
from tests.smtp_server import SmtpServer, use_server
from tests.waiting import SAFETY, wait_for

KEY = "a-web-test-secret-key-0123456789"


def publish(editions: list[Prepared], store: Store) -> int:
    """Every edition's public copy into the archive, as a send publishes them."""
    return Outgoing.of(editions).publish(store)


class Running:
    """An ASGI app under uvicorn in a thread, on a socket bound beforehand."""

    def __init__(self, app: Any, sock: Any) -> None:
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.sock = sock

    def __enter__(self) -> Running:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(),
                 "the service to start")
        if not self.server.started:
            raise RuntimeError("the service did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=SAFETY)
        self.sock.close()


class Web:
    def __init__(self, root: Path, url: str, store: Store, smtp: SmtpServer, app: Any) -> None:
        self.root = root
        self.url = url
        self.store = store
        self.smtp = smtp
        self.app = app
        self.signer = links.Signer(KEY.encode())
        self.http = httpx.Client(base_url=url, timeout=SAFETY, follow_redirects=False)

    def token(self, purpose: str, subject: int | str, expires: int | None = None) -> str:
        return self.signer.sign(purpose, str(subject), expires)

    def add(self, address: str, list_name: str = "cohes3ion", **options: Any) -> int:
        self.store.subscribe(address, list_name, source="test", **options)
        return self.store.subscriber(address).id

    def unsubscribe_url(self, subscriber: int | str) -> str:
        return f"{self.url}/unsubscribe/{self.token('unsubscribe', subscriber)}"

    def preferences_url(self, subscriber: int | str) -> str:
        return f"{self.url}/preferences/{self.token('preferences', subscriber)}"

    def drain(self) -> None:
        """Wait for the confirmation emails the service is still sending."""
        confirmations = self.app.state.service.confirmations
        wait_for(lambda: not confirmations.sending, "the confirmation emails to be sent")

    def received(self, count: int) -> list[EmailMessage]:
        """The messages the SMTP server has taken, once it has taken `count`."""
        wait_for(lambda: len(self.smtp.received) >= count, f"{count} message(s) to arrive")
        return [email.message_from_bytes(r.content, policy=policy.default)  # type: ignore[misc]
                for r in self.smtp.received]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match[1]


def start_web(workspace: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch,
              **options: Any) -> Iterator[Web]:
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = workspace / "bulletin.toml"
    config.write_text(re.sub(r'(?m)^base_url = .*$', f'base_url = "{url}"', config.read_text()))
    use_server(workspace, smtp.port)  # its default timeout: 60 s for each reply
    loaded = load_workspace(config)
    store = Store.open(f"sqlite:///{workspace / 'bulletin.db'}")
    for slug, newsletter in loaded.settings.newsletters.items():
        store.create_list(newsletter.mailing_list, newsletter=slug)
    app = create_app(loaded, store, KEY.encode(), send_config(loaded).transport(),
                     **options)
    try:
        with Running(app, sock):
            web = Web(workspace, url, store, smtp, app)
            yield web
            web.http.close()
    finally:
        store.close()
