"""An issue ready to send, as plain data; for `bulletin send`, rendered in a child process.

A send runs for as long as the list is long, and a process keeps what it once imported: the
rendering stack (Jinja, mjml, premailer with lxml, cssutils and requests, Babel, markdown-it,
PyYAML) is about 30 MiB that the sender would carry to the end and never use again. So
`render_apart` renders in a short-lived child process (a fresh interpreter, never a fork of
this one) and hands back only what sending needs: each edition's `Rendered` (text), its
public copy for the archive, the workspace's and the newsletter's settings, and what
`bulletin check` found in each edition, as plain text (`Notice`: the checks need lxml, and a
send refuses on their errors before it queues anything). The sending process imports none of
the rendering modules.

Nothing about errors changes for the user: a mistake in the issue, bulletin.toml or a theme
crosses back as the BulletinError it was, so the CLI prints the same one line; an unexpected
failure in the child prints its traceback there and becomes a RenderError here. Ctrl-C is
this process's alone: the child starts with SIGINT blocked (so that it cannot print a
traceback of its own, even while starting up), and this process's KeyboardInterrupt kills it
and goes on as it would have.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BulletinError, RenderError

if TYPE_CHECKING:  # (unpickling an Outgoing imports them; the child runs before that)
    from ..render import Rendered
    from ..settings import Newsletter, Workspace
    from ..store.store import Store
    from ..workflow import Prepared

_CHILD = """\
import gc
gc.disable()  # short-lived: what it imports and renders lives to its end (see _child)
import sys
sys.path.insert(0, {root!r})  # this bulletin, wherever it was imported from
from bulletin.send.outgoing import _child
_child()
"""


@dataclass(frozen=True)
class Edition:
    """One email the issue is sent as, and the copy of it anyone may see in the archive."""

    rendered: Rendered
    public_html: str
    public_text: str


@dataclass(frozen=True)
class Notice:
    """One finding of `bulletin check` (checks.Finding), as plain text."""

    level: str
    """error or warning"""
    code: str
    where: str
    """The file and line, where the finding has them."""
    message: str
    forcible: bool = True
    """False for an error `send --force` does not override (parity.NEVER_SENT)."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class Outgoing:
    """Every edition of one issue, with the settings a send needs."""

    workspace: Workspace
    newsletter: Newsletter
    """The issue's newsletter, with any --delivery override."""
    editions: tuple[Edition, ...]
    findings: tuple[Notice, ...] | None = None
    """What `bulletin check` found in the editions, each finding once; None when the
    checks were not run."""

    @classmethod
    def of(cls, editions: list[Prepared], check: bool = False) -> Outgoing:
        """From the issue rendered in this process (workflow.prepare_editions); with
        `check`, with the findings of `bulletin check`."""
        from ..public_copy import public_copy

        first = editions[0]
        findings = None
        if check:
            from ..parity import NEVER_SENT
            from ..workflow import run_checks

            found: list[Notice] = []
            for prepared in editions:
                found += [notice for notice in (
                    Notice(f.level, f.code, f.where, f.message, f.code not in NEVER_SENT)
                    for f in run_checks(prepared)) if notice not in found]
            findings = tuple(found)
        return cls(first.workspace, first.loaded.newsletter,
                   tuple(Edition(p.rendered, *public_copy(p)) for p in editions), findings)

    @property
    def errors(self) -> list[Notice]:
        return [notice for notice in self.findings or () if notice.level == "error"]

    @property
    def warnings(self) -> list[Notice]:
        return [notice for notice in self.findings or () if notice.level != "error"]

    @property
    def first(self) -> Rendered:
        return self.editions[0].rendered

    @property
    def key(self) -> str:
        """How the ledger names the issue: newsletter/file stem."""
        return f"{self.first.newsletter}/{self.first.issue}"

    def publish(self, store: Store) -> int:
        """Every edition into the archive, under each language it is in (a bilingual edition
        serves both), replacing an earlier copy; how many copies."""
        stored = 0
        apart = any(len(edition.rendered.languages) == 1 for edition in self.editions)
        for edition in self.editions:
            rendered = edition.rendered
            if apart and len(rendered.languages) > 1:
                continue  # the one for unknown languages: each language has its own copy
            for language in rendered.languages:
                store.archive_put(rendered.newsletter, rendered.issue, language,
                                  rendered.subject, edition.public_html, edition.public_text)
                stored += 1
        return stored


@dataclass(frozen=True)
class _Request:
    issue: Path
    config: Path | None
    language: str | None
    delivery: str | None
    check: bool


def render_here(issue: Path, config: Path | None = None, language: str | None = None,
                delivery: str | None = None, check: bool = False) -> Outgoing:
    """The issue rendered in this process (which then holds the rendering stack); with
    `check`, checked as `bulletin check` does."""
    from ..workflow import prepare_editions

    return Outgoing.of(prepare_editions(issue, config, language, delivery), check)


def render_apart(issue: Path, config: Path | None = None, language: str | None = None,
                 delivery: str | None = None, check: bool = False,
                 meanwhile: Callable[[], object] | None = None) -> Outgoing:
    """The issue rendered (and with `check`, checked) in a child process, which has ended
    when this returns. `meanwhile`, if given, is called while the child renders: this
    process's own preparations, done side by side with the child's (an error it raises,
    Ctrl-C's included, ends the child too)."""
    request = pickle.dumps(_Request(issue, config, language, delivery, check))
    command = [sys.executable, "-c", _CHILD.format(root=str(Path(__file__).parents[2]))]
    child = None
    try:
        # Blocked signals stay blocked across fork and exec: the child never sees a Ctrl-C,
        # and one that comes meanwhile waits for this process, not lost.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            # Its stderr is ours, so that its warnings (and a bug's traceback) are seen; its
            # reply comes on stdout.
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        _hand(child, request)
        if meanwhile is not None:
            meanwhile()
        output, _ = child.communicate()
    except BaseException:  # Ctrl-C's KeyboardInterrupt included: the child goes too
        if child is not None:
            child.kill()
            child.wait()
        raise
    try:
        status, value = pickle.loads(output) if output else (None, None)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        status, value = None, None
    if status == "ok" and isinstance(value, Outgoing):
        return value
    if status == "error" and isinstance(value, BulletinError):
        raise value from None
    if status == "crash":
        how = f"failed: {value}"
    elif child.returncode < 0:
        how = f"was killed by {signal.Signals(-child.returncode).name}"
    else:
        how = f"stopped (exit status {child.returncode})"
    raise RenderError(f"{issue}: rendering, in a child process, {how}")


def _hand(child: subprocess.Popen[bytes], request: bytes) -> None:
    """The request to the child, its stdin closed after it (a few hundred bytes: the pipe
    holds them whether or not the child is reading yet). A child already gone is not an
    error here: its exit status tells why."""
    stdin = child.stdin
    assert stdin is not None
    child.stdin = None  # so that communicate() only reads its reply
    try:
        stdin.write(request)
        stdin.flush()
    except BrokenPipeError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def _child() -> None:
    """The child's side: read the request from stdin, render, write (status, value) to
    stdout as a pickle. Anything printed meanwhile goes to stderr instead. It runs with the
    cyclic garbage collector off (_CHILD): nearly all it makes is the rendering stack's
    modules, kept to the end, which the collector would walk again and again as they grow
    and find nothing to free; the few reference cycles of one issue's rendering go when the
    process does."""
    reply = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        request: _Request = pickle.load(sys.stdin.buffer)
    except EOFError:
        return  # the parent is gone
    try:
        answer: tuple[str, object] = ("ok", render_here(
            request.issue, request.config, request.language, request.delivery, request.check))
    except BulletinError as exc:
        answer = ("error", exc)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        answer = ("crash", f"{type(exc).__name__}: {exc} (traceback above)")
    try:
        data = pickle.dumps(answer)
    except (pickle.PicklingError, TypeError, AttributeError):
        data = pickle.dumps(("error", BulletinError(str(answer[1]))))
    with contextlib.suppress(BrokenPipeError), reply:  # else the parent is gone
        reply.write(data)
