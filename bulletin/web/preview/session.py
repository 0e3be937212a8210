"""The preview's state: the latest render of one issue (a Snapshot: the email as the sample
recipient gets it, its text part, headers, source and checks), rebuilt whenever the issue,
bulletin.toml or the templates change; a mistake keeps the last good render and says so."""

from __future__ import annotations

import asyncio
import email
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import watchfiles

from ...checks import Finding
from ...errors import BulletinError, SettingsError
from ...settings import find_config
from ...workflow import local_view, prepare, run_checks, sample

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg"}

# Preview only: an image that cannot load keeps a visible box with its alt text.
_BROKEN_IMAGES = """<style>img.bulletin-preview-broken{outline:1px dashed #8a8a8a;
min-height:40px;background:#f3f3f3;color:#444;font:13px/1.4 sans-serif}</style>
<script>document.querySelectorAll('img').forEach(function (img) {
  function broken() { img.classList.add('bulletin-preview-broken'); }
  if (img.complete && !img.naturalWidth) broken(); else img.addEventListener('error', broken);
});</script>"""


@dataclass
class Snapshot:
    version: int
    error: str | None = None
    subject: str = ""
    html: str = ""
    text: str = ""
    headers: str = ""
    source: str = ""
    findings: list[Finding] = field(default_factory=list)

    def failed(self, version: int, error: str) -> Snapshot:
        """This snapshot's content (the last good render) under a new version and error."""
        return Snapshot(version, error, self.subject, self.html, self.text, self.headers,
                        self.source, self.findings)


class Preview:
    """The latest render of one issue, rebuilt on change."""

    def __init__(self, issue: Path, config: Path | None = None,
                 language: str | None = None, delivery: str | None = None) -> None:
        self.issue = issue.resolve()
        self.config = config
        self.language = language
        self.delivery = delivery
        self.snapshot = Snapshot(version=0)
        self._changed = asyncio.Event()
        self.closing = asyncio.Event()

    def rebuild(self) -> Snapshot:
        """Render now; a mistake becomes the snapshot's error, the last good render stays."""
        last = self.snapshot
        version = last.version + 1
        try:
            prepared = prepare(self.issue, self.config, self.language, self.delivery)
            filled = sample(prepared)
            message = email.message_from_bytes(filled.eml, policy=policy.default)
            headers = "".join(f"{name}: {value}\n" for name, value in message.items())
            self.snapshot = Snapshot(version, None, prepared.rendered.subject,
                                     _with_preview_helpers(local_view(prepared, filled.html)),
                                     filled.text, headers,
                                     prepared.rendered.html, run_checks(prepared, filled))
        except BulletinError as exc:
            self.snapshot = last.failed(version, str(exc))
        except Exception as exc:  # a bug, not the author's mistake: keep serving, say so
            self.snapshot = last.failed(version, f"internal error: {type(exc).__name__}: {exc}")
        return self.snapshot

    def watched(self) -> tuple[set[Path], list[Path]]:
        """(folders to watch, files and folders whose changes matter)."""
        relevant = [self.issue]
        try:
            config = (self.config or find_config(self.issue.parent)).resolve()
            relevant += [config, config.parent / "templates"]
        except SettingsError:
            pass
        folders = {p if p.is_dir() else p.parent for p in relevant if p.exists()}
        return folders, relevant

    async def watch(self) -> None:
        folders, relevant = self.watched()

        def matters(change: watchfiles.Change, path: str) -> bool:
            changed = Path(path)  # an image anywhere in the folders: the issue's may be one
            return changed.suffix.lower() in IMAGE_SUFFIXES or any(
                changed == p or p in changed.parents for p in relevant)

        async for _ in watchfiles.awatch(*folders, watch_filter=matters,
                                         stop_event=self.closing, debounce=400, step=50):
            await asyncio.to_thread(self.rebuild)
            self._changed.set()
            self._changed = asyncio.Event()

    async def next_change(self, seen: int, timeout: float) -> None:
        if self.snapshot.version != seen:
            return
        changed, closing = self._changed, self.closing
        waiters = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(closing.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


def _with_preview_helpers(html: str) -> str:
    head, sep, tail = html.rpartition("</body>")
    return head + _BROKEN_IMAGES + sep + tail if sep else html + _BROKEN_IMAGES
