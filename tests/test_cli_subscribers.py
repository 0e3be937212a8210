"""`bulletin subscribers ...` and `bulletin db upgrade`, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.store import Store, migrate
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]


@pytest.fixture
def run(workspace: Path, database_url: str, monkeypatch: pytest.MonkeyPatch):
    """Run `bulletin ARGS...` in the workspace, against the test database."""
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args))
    return invoke


def write(folder: Path, text: str, name: str = "people.csv") -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8"))
    return path


MESSY = ("\ufeffEmail,Name,Language,Postcode\r\n"
         "ann@example.org,\"Smith, Ann\",en,CF10\r\n"
         "\r\n"
         "ANN@EXAMPLE.ORG,,,\r\n"
         "bob@@example.org,Bob,en,\r\n"
         "carol@example.org,Carol,Cymraeg,\r\n"
         "dave@example.org,Dave,cy,\r\n")


def test_import_names_every_bad_row_and_imports_the_rest(run, workspace: Path,
                                                         database_url: str) -> None:
    path = write(workspace, MESSY)
    result = run("subscribers", "import", str(path), "--list", "cohes3ion")
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"Error: {path}:5: 'bob@@example.org' is not a valid email "
                                f"address")
    assert errors[1] == (f"Error: {path}:6: language 'Cymraeg' is not a language code; write "
                         f"cy for Welsh; row not imported")
    assert errors[2].startswith(f"Error: {path}: 2 bad rows not imported (listed above)")
    assert f"note: {path}:4: ANN@example.org is a duplicate of line 2; merged" in result.stdout
    assert "ignored columns: Postcode" in result.stdout
    assert (f"{path} → cohes3ion: 5 rows: 2 added, 1 duplicates merged, 2 bad rows not "
            f"imported") in result.stdout
    with Store.open(database_url) as store:
        assert [m.email for m in store.iter_active_members("cohes3ion")] == [
            "ann@example.org", "dave@example.org"]

    again = run("subscribers", "import", str(path), "--list", "cohes3ion")
    assert "2 already on the list, 1 duplicates merged, 2 bad rows" in again.stdout


def test_a_file_without_an_email_column_is_one_error_and_nothing_is_written(
        run, workspace: Path, database_url: str) -> None:
    path = write(workspace, "Name,Address\r\nAnn,ann@example.org\r\n")
    result = run("subscribers", "import", str(path), "--list", "cohes3ion")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {path}:1: no email column in the header ('Name', "
                             f"'Address'); name the column of addresses 'email' (a header row "
                             f"such as email,name,language)\n")
    assert result.stdout == ""
    with Store.open(database_url) as store:
        assert store.counts()["active"] == 0


@pytest.mark.slow
def test_add_remove_count_lists_export(run, workspace: Path) -> None:
    assert run("subscribers", "add", "Ann@Example.org", "--list", "cohes3ion", "--name",
               "Ann", "--language", "cy").stdout == "added Ann@Example.org to cohes3ion\n"
    assert run("subscribers", "add", "bob@example.org", "--list", "cohes3ion").exit_code == 0
    assert run("subscribers", "lists", "--create", "cohes3ion-events", "--newsletter",
               "cohes3ion", "--title", "Events").exit_code == 0
    assert run("subscribers", "add", "bob@example.org", "--list",
               "cohes3ion-events").stdout == "bob@example.org joined cohes3ion-events\n"
    assert run("subscribers", "remove", "bob@example.org", "--list", "cohes3ion-events"
               ).stdout == "unsubscribed bob@example.org from cohes3ion-events\n"
    assert run("subscribers", "remove", "ann@example.org").stdout == \
        "unsubscribed ann@example.org from everything\n"

    refused = run("subscribers", "add", "ann@example.org", "--list", "cohes3ion")
    assert refused.exit_code == 1
    assert refused.stderr == ("Error: ann@example.org has left (unsubscribed); subscribe "
                              "them again only if they have asked to be (--resubscribe)\n")
    counts = dict(line.split(": ", 1)
                  for line in run("subscribers", "count").stdout.splitlines())
    assert counts["cohes3ion"] == ("1 active · 0 paused · 0 pending · 1 unsubscribed · "
                                   "0 bounced · 0 complained · 0 suppressed")
    assert counts["cohes3ion-events"] == ("0 active · 0 paused · 0 pending · 1 unsubscribed · "
                                          "0 bounced · 0 complained · 0 suppressed")
    assert counts["everyone"] == ("1 active · 0 paused · 0 pending · 1 unsubscribed · "
                                  "0 bounced · 0 complained · 0 suppressed")
    lists = run("subscribers", "lists").stdout.splitlines()
    assert "cohes3ion  1 active member  (Cohes3ion Newsletter, newsletter cohes3ion)" in lists
    assert "cohes3ion-events  0 active members  (Events, newsletter cohes3ion)" in lists

    out = workspace / "out.csv"
    result = run("subscribers", "export", "--list", "cohes3ion", "--out", str(out))
    assert result.stdout == f"wrote 1 subscriber to {out}\n"
    assert out.read_bytes() == b"email,name,language\r\nbob@example.org,,\r\n"
    assert run("subscribers", "export", "--list", "cohes3ion").stdout.splitlines() == [
        "email,name,language", "bob@example.org,,"]


@pytest.mark.parametrize("args, says", [
    (("add", "ann@@example.org", "--list", "cohes3ion"),
     "Error: 'ann@@example.org' is not a valid email address"),
    (("add", "ann@example.org", "--list", "cohes3ion", "--language", "Welsh"),
     "Error: --language: language 'Welsh' is not a language code"),
    (("add", "ann@example.org", "--list", "nope"), "Error: no list named 'nope'"),
    (("add", "ann@example.org", "--list", "cohes3ion", "--name", "Ann\u202eSmith"),
     "Error: --name: the name holds U+202E (RIGHT-TO-LEFT OVERRIDE), an invisible character "
     "that reorders or hides text; delete it"),
    (("remove", "zed@example.org"), "Error: no subscriber zed@example.org in the store"),
    (("import", "missing.csv", "--list", "cohes3ion"),
     "Error: missing.csv: cannot read: No such file or directory"),
    (("export", "--list", "cohes3ion", "--out", "no/such/folder/x.csv"),
     "Error: no/such/folder/x.csv: cannot write"),
])
def test_mistakes_are_one_line_and_exit_1(run, args: tuple[str, ...], says: str) -> None:
    result = run("subscribers", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(says), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr + result.stdout


def test_an_export_of_a_list_there_is_not_writes_nothing(run) -> None:
    """Before, the CSV's header row went out (to a file redirected into) before the error."""
    result = run("subscribers", "export", "--list", "nope")
    assert result.exit_code == 1 and result.stderr.startswith("Error: no list named 'nope'")
    assert result.stdout == ""


def test_db_upgrade(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
    first = CliRunner().invoke(app, ["db", "upgrade"])
    assert first.stdout == f"sqlite:///{workspace.resolve()}/bulletin.db: upgraded from empty " \
                           f"to {migrate.head()}\n"
    again = CliRunner().invoke(app, ["db", "upgrade"])
    assert again.stdout.endswith(f"bulletin.db: up to date ({migrate.head()})\n")


def test_database_url_in_bulletin_toml_is_relative_to_it(workspace: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
    config = workspace / "bulletin.toml"
    config.write_text('database_url = "sqlite:///data/subscribers.db"\n' +
                      config.read_text(encoding="utf-8"), encoding="utf-8")
    (workspace / "data").mkdir()
    monkeypatch.chdir(workspace.parent)
    result = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (workspace / "data" / "subscribers.db").is_file()


def blocked_reading(pid: int, path: Path) -> bool:
    """Whether a thread of process `pid` (the import reads the file in a thread of its own)
    is blocked in a system call on its descriptor of `path` (for a FIFO: waiting to read,
    everything written to it so far read)."""
    target = os.path.realpath(path)
    try:
        descriptors = {int(fd.name) for fd in Path(f"/proc/{pid}/fd").iterdir()
                       if os.readlink(fd) == target}
        calls = [task.joinpath("syscall").read_text().split()
                 for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:  # a descriptor closed meanwhile, or the process has ended
        return False
    # "running", or the call's number, its arguments (the first: the descriptor) and more
    return any(len(call) > 2 and call[0] != "running" and int(call[1], 16) in descriptors
               for call in calls)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_stopping_an_import_half_way_leaves_nothing_behind(
        workspace: Path, database_url: str, tmp_path: Path, stop: signal.Signals) -> None:
    """A real process, stopped after it has written 150,000 rows of a file it is still
    reading: killed (SIGKILL, no clean-up of any kind) or interrupted (Ctrl-C). An import is
    all or nothing: none of it stays."""
    fifo = tmp_path / "people.csv"
    os.mkfifo(fifo)
    environment = {**os.environ, "BULLETIN_DATABASE_URL": database_url}
    environment.pop("BULLETIN_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bulletin", "subscribers", "import", str(fifo), "--list",
         "cohes3ion"], cwd=workspace, env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    written, writer_done = threading.Event(), threading.Event()

    def feed() -> None:
        try:
            with fifo.open("w", encoding="utf-8") as stream:
                stream.write("email,name\n")
                for number in range(150_000):
                    stream.write(f"person{number}@example.org,Person {number}\n")
                stream.flush()
                written.set()
                writer_done.wait()  # keep the pipe open: the import waits for more
        except BrokenPipeError:
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        assert process.stderr is not None
        progress = ""
        while "100,000 rows read" not in progress:  # each line, or "" once it has ended
            progress += process.stderr.readline()
            assert process.poll() is None, progress
        # Every row written and read, it waits for more: each batch went in as it was read
        # (30 of 5,000), so all 150,000 rows are in its transaction now. Waiting for that,
        # not for a second to pass.
        wait_for(lambda: (written.is_set() and blocked_reading(process.pid, fifo))
                 or process.poll() is not None, "the import to read every row and wait")
        assert process.poll() is None, progress
        process.send_signal(stop)
        progress += process.communicate(timeout=SAFETY)[1]
    finally:
        writer_done.set()
        if process.poll() is None:
            process.kill()
            process.wait()
        feeder.join(SAFETY)
    if stop == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 1
        assert progress.splitlines()[-1] == (
            f"Error: {fifo}: interrupted; nothing was imported (an import is all or nothing). "
            f"Run it again to import the file")
    with Store.open(database_url) as store:
        assert store.counts()["active"] == 0
        assert "cohes3ion" in store.list_names()
        # and the same import, allowed to finish, goes in whole
        path = write(tmp_path, "email\n" + "".join(f"p{n}@example.org\n" for n in range(10)),
                     "small.csv")
        assert store.import_csv(path, "cohes3ion").added == 10


def test_a_list_is_made_for_a_newsletter_there_is_with_a_one_line_title(
        run, workspace: Path) -> None:
    """Before, a list could be made for a newsletter bulletin.toml does not have, `--create ''`
    did nothing and said nothing, and a title kept escape sequences and line breaks."""
    unknown = run("subscribers", "lists", "--create", "topic", "--newsletter", "nope")
    assert unknown.exit_code == 1 and unknown.stderr.startswith(
        "Error: --newsletter nope: ") and "give one of cohes3ion" in unknown.stderr
    empty = run("subscribers", "lists", "--create", "")
    assert empty.exit_code == 1 and "'' is not a list name" in empty.stderr
    long = run("subscribers", "lists", "--create", "topic", "--title", "x" * 201)
    assert long.exit_code == 1 and "at most 200 characters" in long.stderr
    made = run("subscribers", "lists", "--create", "topic", "--newsletter", "cohes3ion",
               "--title", "Evil\x1b[2J\nTitle")
    assert made.exit_code == 0, made.stderr
    assert "topic  0 active members  (Evil [2J Title, newsletter cohes3ion)" in made.stdout
