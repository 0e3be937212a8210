"""Sign-off bound to the exact content: `bulletin approve`, `bulletin approvals`, and
`bulletin send` held to `approvals = N`, against a real SMTP server (aiosmtpd) and a real
store; the fingerprint's parts, and the approver's identity."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.approval import fingerprint
from bulletin.approval.identity import IdentityError, identity, same_person
from bulletin.cli import app
from bulletin.send.outgoing import render_here
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, ready_to_send

PEOPLE = [f"reader{n}@example.org" for n in range(5)]


def bulletin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def needs(workspace: Path, approvals: int) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text()
    config.write_text(text.replace("[newsletters.cohes3ion]\n",
                                   f"[newsletters.cohes3ion]\napprovals = {approvals}\n", 1))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def setup(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    monkeypatch.setenv("BULLETIN_APPROVER", "Ann Sender")
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in PEOPLE:
            store.subscribe(address, "cohes3ion", source="test")
    return workspace


def issue_of(workspace: Path) -> Path:
    return workspace / "issues" / EXAMPLE.name


# The fingerprint: each input on its own, so that a refusal names what changed.

def test_a_change_to_each_input_is_named(workspace: Path) -> None:
    issue = workspace / "issues" / EXAMPLE.name
    issue.write_text(EXAMPLE.read_text())

    def now() -> fingerprint.Fingerprint:
        return fingerprint.of(render_here(issue), issue, "cohes3ion")

    first = now()
    assert now() == first  # the same content, the same fingerprint
    assert len(first.digest) == 64 and first.digest not in first.parts.values()
    edit(issue, "Eight Regional", "Nine Regional")
    second = now()
    assert second.digest != first.digest
    assert second.changed(first.parts) == ["the issue file"]
    edit(workspace / "templates" / "default" / "email.mjml.j2", "<mj-body", "<mj-body ")
    assert now().changed(second.parts) == ["the theme default"]
    third = now()
    edit(workspace / "bulletin.toml", 'organisation = "Welsh Government"',
         'organisation = "Welsh  Government"')
    assert now().changed(third.parts) == ["bulletin.toml"]
    fourth = now()
    other = fingerprint.of(render_here(issue), issue, "another-list")
    assert other.changed(fourth.parts) == ["the list"]
    logo = "brand/llywodraeth-cymru-welsh-government.png"  # bulletin.toml's brand.logo.src
    assert f"the image {logo}" in fourth.parts
    from PIL import Image

    with Image.open(workspace / logo) as image:
        changed = image.convert("RGBA")
    changed.putpixel((0, 0), (1, 2, 3, 255))  # one pixel of the logo
    changed.save(workspace / logo)
    assert now().changed(fourth.parts) == [f"the image {logo}"]


def test_an_approval_of_the_issue_covers_one_languages_edition(workspace: Path) -> None:
    bilingual = EXAMPLE.with_name("cohes3ion-04-bilingual.yaml")
    issue = workspace / "issues" / bilingual.name
    issue.write_text(bilingual.read_text())
    whole = fingerprint.of(render_here(issue, delivery="each"), issue, "cohes3ion-cy")
    assert {"the email (cy)", "the email (en)"} <= set(whole.parts)  # an edition each
    welsh = fingerprint.of(render_here(issue, language="cy", delivery="each"), issue,
                           "cohes3ion-cy")
    assert welsh.covered_by(whole.parts) and not whole.covered_by(welsh.parts)
    assert welsh.changed(whole.parts) == []
    edit(issue, "cy:", "cy:  ")
    assert not fingerprint.of(render_here(issue, language="cy", delivery="each"), issue,
                              "cohes3ion-cy").covered_by(whole.parts)


def test_an_image_whose_name_has_a_space_is_hashed_and_named(tmp_path: Path) -> None:
    (tmp_path / "my photo.png").write_bytes(b"\x89PNG one")
    (tmp_path / "it's.png").write_bytes(b"\x89PNG two")
    issue = tmp_path / "issue.yaml"
    issue.write_text('sections:\n  - image: {src: "my photo.png", alt: x}\n'
                     '  - image:\n      src: "it\'s.png"\n')
    assert fingerprint.local_files(issue, tmp_path, []) == [
        (tmp_path / "my photo.png").resolve(), (tmp_path / "it's.png").resolve()]


def test_local_images_are_hashed_and_named(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"\x89PNG one")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG logo")
    issue = tmp_path / "issue.yaml"
    issue.write_text('sections:\n  - image: {src: "img/a.png", alt: x}\n'
                     "  - image:\n      src: https://example.org/b.png\n"
                     "  - image: {src: missing.png}\n")
    found = fingerprint.local_files(issue, tmp_path, ["logo.png", None, "https://x/y.png"])
    assert found == [(tmp_path / "img" / "a.png").resolve(), (tmp_path / "logo.png").resolve()]
    before = fingerprint.folder(tmp_path / "img")
    (tmp_path / "img" / "a.png").write_bytes(b"\x89PNG two")
    assert fingerprint.folder(tmp_path / "img") != before


# Who approves.

def test_identity_comes_from_as_then_the_environment_then_git(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gitconfig = tmp_path / "gitconfig"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("BULLETIN_APPROVER", "  Bob   Jones ")
    assert identity("Carol", tmp_path) == "Carol"
    assert identity(None, tmp_path) == "Bob Jones"
    monkeypatch.delenv("BULLETIN_APPROVER")
    with pytest.raises(IdentityError, match="--as"):
        identity(None, tmp_path)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(gitconfig)}
    for key, value in (("user.name", "Dee Evans"), ("user.email", "dee@example.org")):
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    assert identity(None, tmp_path) == "Dee Evans <dee@example.org>"
    assert same_person("Dee Evans <dee@example.org>", "dee evans")
    assert same_person("DEE@example.org", "Dee Evans <dee@example.org>")
    assert not same_person("Dee Evans", "Bob Jones")
    subprocess.run(["git", "config", "--global", "user.name", "Dee\x1b[2J\u200b Evans"],
                   env=env, check=True)
    assert identity(None, tmp_path) == "Dee [2J Evans <dee@example.org>"  # as --as is kept


@pytest.mark.parametrize("other", [
    '"Ann Sender" <ann@example.org>',  # as a mail client writes it
    "'ann sender'",
    "Ann\u200bSender",  # an invisible character between the names
    "Ann \u200b Sender",
    "\uff21nn Sender",  # a fullwidth A
    "ANN SENDER <elsewhere@example.org>",
    " ann@example.org ",
])
def test_the_sender_written_another_way_is_still_the_sender(other: str) -> None:
    assert same_person("Ann Sender <ann@example.org>", other)
    assert same_person(other, "Ann Sender") or "@" in other


def test_an_invisible_character_is_not_kept_in_a_name() -> None:
    assert identity("Ann\u200b Sender\u2060") == "Ann Sender"


def test_nobody_named_is_a_one_line_error(workspace: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(workspace / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("BULLETIN_APPROVER", raising=False)
    issue = issue_of(workspace)
    issue.write_text(EXAMPLE.read_text())
    code, output = bulletin("approve", str(issue))
    assert code == 1 and output.count("\n") == 1 and "Error: who are you?" in output


# Sending held to the approvals.

@pytest.mark.slow
def test_an_edit_after_approval_is_refused_and_named_until_approved_again(
        setup: Path, server: SmtpServer) -> None:
    needs(setup, 1)
    issue = str(issue_of(setup))
    code, output = bulletin("send", issue, "--yes")
    assert code == 1 and not server.received
    assert output.count("Error:") == 1 and "needs 1 approval of the current content from " \
        "people other than Ann Sender; has 0" in output, output
    code, output = bulletin("send", issue, "--dry-run")  # a dry run needs none
    assert code == 0, output

    assert bulletin("approve", issue, "--as", "Bob Approver", "--note", "checked")[0] == 0
    edit(issue_of(setup), "Eight Regional", "Nine Regional")  # one word, after sign-off
    code, output = bulletin("send", issue, "--yes")
    assert code == 1 and not server.received
    assert "has 0; changed since an earlier approval: the issue file" in output, output
    code, output = bulletin("approvals", issue)
    assert "Bob Approver" in output and "matches current: no (changed: the issue file)" \
        in output and "note: checked" in output, output

    assert bulletin("approve", issue, "--as", "Bob Approver")[0] == 0
    code, output = bulletin("approvals", issue)
    assert "matches current: yes" in output, output
    code, output = bulletin("send", issue, "--yes")
    assert code == 0, output
    assert "Approvals:  1 of 1 needed" in output and "Bob Approver" in output, output
    assert sorted(r for m in server.received for r in m.rcpt_tos) == PEOPLE
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        trail = store.issue_audit("cohes3ion/cohes3ion-04")
    assert [row.action for row in trail] == ["approved", "approved",
                                             "send-approved"]
    used = trail[-1]
    assert used.actor == "Ann Sender" and "approved by Bob Approver" in (used.detail or "")


def test_a_refusal_for_another_list_says_to_approve_for_that_list(setup: Path,
                                                                   server: SmtpServer) -> None:
    needs(setup, 1)
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        store.create_list("cohes3ion-staff", newsletter="cohes3ion")
    issue = str(issue_of(setup))
    code, output = bulletin("send", issue, "--list", "cohes3ion-staff", "--yes")
    assert code == 1 and f"they run `bulletin approve {issue} --list cohes3ion-staff`" \
        in output, output
    code, output = bulletin("send", issue, "--yes")  # the newsletter's own list
    assert code == 1 and f"they run `bulletin approve {issue}`" in output, output


@pytest.mark.slow
def test_the_senders_own_approval_does_not_count(setup: Path, server: SmtpServer) -> None:
    needs(setup, 2)
    issue = str(issue_of(setup))
    for who in ("Ann Sender", "Bob Approver", "bob approver"):  # the sender; Bob, twice
        assert bulletin("approve", issue, "--as", who)[0] == 0
    code, output = bulletin("send", issue, "--yes")
    assert code == 1 and not server.received
    assert "needs 2 approvals of the current content from people other than Ann Sender; " \
        "has 1;" in output, output
    assert bulletin("approve", issue, "--as", "Carol Third")[0] == 0
    code, output = bulletin("send", issue, "--yes")
    assert code == 0, output
    assert "Approvals:  2 of 2 needed" in output and len(server.received) == len(PEOPLE)


@pytest.mark.slow
def test_send_test_never_needs_approval(setup: Path, server: SmtpServer) -> None:
    needs(setup, 3)
    code, output = bulletin("send-test", str(issue_of(setup)), "--to", "me@example.org")
    assert code == 0, output
    assert [m.rcpt_tos for m in server.received] == [["me@example.org"]]


def test_status_shows_the_approvals_and_whether_they_match(setup: Path) -> None:
    needs(setup, 1)
    issue = str(issue_of(setup))
    assert bulletin("approve", issue, "--as", "Bob Approver", "--note", "checked")[0] == 0
    code, output = bulletin("status", issue)
    assert code == 0, output
    assert "Approvals (1 needed" in output and "Bob Approver at " in output \
        and "matches current: yes" in output, output
    edit(issue_of(setup), "Eight Regional", "Nine Regional")
    code, output = bulletin("status", issue)
    assert code == 0 and "matches current: no (changed: the issue file)" in output, output


def test_a_control_character_is_not_kept_in_a_name() -> None:
    """An escape sequence would work on the terminal of whoever lists the approvals."""
    assert identity("Bob\x1b[2J\nJones\x07") == "Bob [2J Jones"
