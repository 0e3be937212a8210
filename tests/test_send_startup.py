"""What `bulletin send` does before its first message, done with less: the cyclic garbage
collector off while the send is set up and, for the messages, on over only what they make
(what exists by then frozen), left afterwards as it was; and the sending modules imported
while the render child renders, its errors and Ctrl-C's still ending the child."""

from __future__ import annotations

import gc
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bulletin import asyncrun
from bulletin.cli.send import YOUNG
from bulletin.errors import IssueError
from bulletin.send import campaign, outgoing
from tests.conftest import EXAMPLE
from tests.processes import child_processes
from tests.smtp_server import SmtpServer
from tests.test_send import bulletin, delivered

pytestmark = pytest.mark.slow  # whole sends through a real SMTP server


pytest_plugins = ["tests.send_fixtures"]


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The collector's state (on?, objects frozen) as the plan is made and as the messages
    are sent."""
    seen: dict[str, Any] = {}
    planning, running = campaign.plan, asyncrun.run

    def plan(*args: Any, **kwargs: Any) -> campaign.Plan:
        seen["plan"] = (gc.isenabled(), gc.get_freeze_count())
        return planning(*args, **kwargs)

    def run(*args: Any) -> Any:
        seen["messages"] = (gc.isenabled(), gc.get_freeze_count())
        seen["thresholds"] = gc.get_threshold()
        return running(*args)

    monkeypatch.setattr(campaign, "plan", plan)
    monkeypatch.setattr(asyncrun, "run", run)
    return seen


def test_the_setup_runs_without_the_collector_and_the_messages_with_it(
        setup: Path, server: SmtpServer, collector: dict[str, Any]) -> None:
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    code, output = bulletin("send", str(setup / "issues" / EXAMPLE.name), "--yes")
    assert code == 0, output
    assert sum(delivered(server).values()) == 3
    assert collector["plan"] == (False, 0)
    on, frozen = collector["messages"]
    assert on and frozen > 0  # the setup's objects, out of the collections' way
    assert collector["thresholds"] == (YOUNG, *thresholds[1:])
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # as it was
    assert gc.get_threshold() == thresholds


@pytest.mark.parametrize("how", [["--dry-run"], ["--list", "nowhere", "--yes"]])
def test_a_send_that_sends_nothing_leaves_the_collector_as_it_was(
        how: list[str], setup: Path, collector: dict[str, Any]) -> None:
    code, output = bulletin("send", str(setup / "issues" / EXAMPLE.name), *how)
    assert code == (0 if how == ["--dry-run"] else 1), output
    assert "messages" not in collector
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold()[0] != YOUNG


def test_a_send_with_the_collector_off_leaves_it_off(
        setup: Path, server: SmtpServer, collector: dict[str, Any]) -> None:
    gc.disable()
    try:
        code, output = bulletin("send", str(setup / "issues" / EXAMPLE.name), "--yes")
        assert code == 0, output
        assert collector["messages"][0] is False
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert gc.get_freeze_count() == 0


def test_meanwhile_runs_beside_the_child_and_changes_nothing_it_renders(setup: Path) -> None:
    issue = setup / "issues" / EXAMPLE.name
    alive: list[bool] = []
    earlier = set(child_processes(os.getpid()))  # servers other tests left running, say

    def meanwhile() -> None:
        children = set(child_processes(os.getpid())) - earlier  # the render child
        alive.append(bool(children) and all(Path(f"/proc/{c}").exists() for c in children))

    beside = outgoing.render_apart(issue, check=True, meanwhile=meanwhile)
    alone = outgoing.render_apart(issue, check=True)
    assert alive == [True]
    assert (beside.editions, beside.findings, beside.newsletter) == \
        (alone.editions, alone.findings, alone.newsletter)
    with pytest.raises(IssueError, match=r"missing\.yaml: no such file$"):
        outgoing.render_apart(setup / "issues" / "missing.yaml", meanwhile=meanwhile)
    assert alive == [True, True]


@pytest.mark.parametrize("error", [KeyboardInterrupt, ImportError])
def test_an_error_meanwhile_ends_the_child_and_is_raised(
        error: type[BaseException], setup: Path) -> None:
    earlier = set(child_processes(os.getpid()))  # servers other tests left running, say
    children: list[int] = []

    def meanwhile() -> None:
        children.extend(set(child_processes(os.getpid())) - earlier)  # the render child
        raise error("meanwhile")

    with pytest.raises(error, match=r"^meanwhile$"):
        outgoing.render_apart(setup / "issues" / EXAMPLE.name, meanwhile=meanwhile)
    assert children
    for child in children:
        assert not Path(f"/proc/{child}").exists()


def test_a_child_gone_before_its_request_is_the_same_one_error(
        setup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request goes to a child that may already have ended (its pipe broken): that is
    not an error of its own; the child's exit status says what happened."""
    monkeypatch.setattr(outgoing, "_CHILD", "import os\nos.close(0)\nraise SystemExit(3)\n")

    class Ended(subprocess.Popen[bytes]):
        """A child that has ended, its stdin's pipe broken, before anything is written to it:
        every time, not only when it wins the race."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.wait()

    monkeypatch.setattr(subprocess, "Popen", Ended)
    waited: list[None] = []
    with pytest.raises(outgoing.RenderError, match=r"stopped \(exit status 3\)$"):
        outgoing.render_apart(setup / "issues" / EXAMPLE.name,
                              meanwhile=lambda: waited.append(None))
    assert waited == [None]
