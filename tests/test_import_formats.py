"""Subscriber files as people really have them: Mailchimp's and Excel's headers, semicolons
and tabs, Windows-1252, and the formats we cannot read, each named in one line; and names a
spreadsheet would run as formulas, made safe on export and read back as they were."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.csvimport import (
    CsvFileError,
    SubscriberFile,
    clean_name,
    formula_safe,
    open_csv,
)
from bulletin.store import Store
from bulletin.store.rows import BadRow, Row

pytest_plugins = ["tests.store_fixtures"]


def rows(data: bytes, encoding: str | None = None,
         name: str = "people.csv") -> list[tuple[str, str | None, str | None]]:
    stream = open_csv(Path(name), encoding, io.BytesIO(data))
    out = list(SubscriberFile(Path(name), stream))
    assert not [r for r in out if isinstance(r, BadRow)], out
    return [(r.address.email, r.name, r.language) for r in out if isinstance(r, Row)]


def test_mailchimp_export_headers() -> None:
    data = (b'"Email Address","First Name","Last Name","Address","MEMBER_RATING"\r\n'
            b'"ann@example.org","Ann","Smith","",2\r\n'
            b'"bob@example.org","Bob","","",1\r\n'
            b'"cy@example.org","","Jones","",1\r\n')
    assert rows(data) == [("ann@example.org", "Ann Smith", None),
                          ("bob@example.org", "Bob", None),
                          ("cy@example.org", "Jones", None)]


@pytest.mark.parametrize("separator", [";", "\t", ","])
def test_separators_are_detected(separator: str) -> None:
    text = separator.join(["E-mail", "First name", "Surname", "Language"]) + "\r\n" + \
        separator.join(["ann@example.org", "Ann", "Smith, MBE", "cy"]) + "\r\n"
    if separator == ",":
        text = text.replace("Smith, MBE", '"Smith, MBE"')
    assert rows(text.encode()) == [("ann@example.org", "Ann Smith, MBE", "cy")]


def test_excels_separator_line() -> None:
    data = b"sep=;\r\nEmail;Name\r\nann@example.org;Smith, Ann\r\n"
    assert rows(data) == [("ann@example.org", "Smith, Ann", None)]


def test_windows_1252_with_encoding() -> None:
    data = "email;name\r\nsian@example.org;Siân O\u2019Neill\r\n".encode("cp1252")
    assert rows(data, "cp1252") == [("sian@example.org", "Siân O\u2019Neill", None)]


def test_windows_1252_without_encoding_says_what_to_do() -> None:
    data = "email,name\r\nsian@example.org,Siân\r\n".encode("cp1252")
    with pytest.raises(CsvFileError) as caught:
        rows(data)
    message = str(caught.value)
    assert message.startswith("people.csv:2: not UTF-8 text")
    assert "--encoding cp1252" in message and "\n" not in message


def test_unknown_encoding() -> None:
    with pytest.raises(CsvFileError, match=r"unknown encoding 'klingon'; use one such as "
                                           r"utf-8, cp1252 or utf-16"):
        rows(b"email\r\n", "klingon")


@pytest.mark.parametrize(("data", "message"), [
    (b"email,name\rann@example.org,Ann\rbob@example.org,Bob\r",
     r"^people\.csv:1: its lines end with CR alone \(an old Mac format\); save it as "
     r"'CSV UTF-8' and import that$"),
    ("email,name\r\nann@example.org,Ann\r\n".encode("utf-16-le"),
     r"^people\.csv:1: the file looks like UTF-16 text without a byte-order mark; save it "
     r"as 'CSV UTF-8', or import it with --encoding utf-16-le$"),
    ("email,name\r\nann@example.org,Ann\r\n".encode("utf-16-be"),
     r"^people\.csv:1: the file looks like UTF-16 text without a byte-order mark; save it "
     r"as 'CSV UTF-8', or import it with --encoding utf-16-be$"),
    (b"PK\x03\x04\x14\x00\x06\x00", r"^people\.csv: an Excel workbook, not CSV"),
    # CR alone at the end of some lines, CR LF at others: the same message, with the line.
    (b"email,name\r\nann@example.org,Ann\rbob@example.org,Bob\r\n",
     r"^people\.csv:2: this line ends with CR alone \(an old Mac format\), others with CR LF; "
     r"save it as 'CSV UTF-8' and import that$"),
    (b"email,name\rann@example.org,Ann\r\nbob@example.org,Bob\r\n",
     r"^people\.csv:1: this line ends with CR alone \(an old Mac format\), others with CR LF; "
     r"save it as 'CSV UTF-8' and import that$"),
    (b"email,name\r\nann@example.org,Ann\r\n\"bob@example.org\",\"Bob\"\rcy@example.org,Cy",
     r"^people\.csv:3: this line ends with CR alone \(an old Mac format\), others with CR LF; "
     r"save it as 'CSV UTF-8' and import that$"),
])
def test_formats_we_cannot_read_get_one_line(data: bytes, message: str) -> None:
    with pytest.raises(CsvFileError, match=message):
        rows(data)


def test_utf16_with_encoding_reads() -> None:
    data = "email\tname\r\nann@example.org\tAnn\r\n".encode("utf-16")
    assert rows(data, "utf-16") == [("ann@example.org", "Ann", None)]


@pytest.mark.parametrize(("name", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"), ("'quoted", "''quoted"), ("Ann", "Ann"), ("O'Neill", "O'Neill"),
])
def test_formula_safe(name: str, cell: str) -> None:
    assert formula_safe(name) == cell


names = st.text(alphabet=st.sampled_from("=+-@'\"a Bé,;\t\u2019"), min_size=1, max_size=12) \
    .map(lambda s: " ".join(s.split())).filter(bool)


# Local parts a spreadsheet would run as a formula (=1+1@..., '-x@...) are valid addresses.
locals_ = st.text(alphabet=st.sampled_from("=+-'a"), min_size=1, max_size=8)


@given(st.lists(st.tuples(locals_, names), min_size=1, max_size=5))
@settings(max_examples=200)
def test_names_and_emails_round_trip_through_an_exported_file(
        people: list[tuple[str, str]]) -> None:
    emails = [f"{local}{number}@example.org" for number, (local, _) in enumerate(people)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("email", "name", "language"))
    for email, (_, name) in zip(emails, people, strict=True):
        writer.writerow((formula_safe(email), formula_safe(name), ""))
    cells = [cell for row in csv.reader(io.StringIO(out.getvalue())) for cell in row[:2]]
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells)
    read = rows(out.getvalue().encode())
    assert [(email, name) for email, name, _ in read] == [
        (email, clean_name(name)) for email, (_, name) in zip(emails, people, strict=True)]


def test_export_neutralises_and_import_restores(store: Store, tmp_path: Path) -> None:
    store.create_list("people")
    store.create_list("again")
    source = tmp_path / "in.csv"
    source.write_text("email,name\r\nann@example.org,=1+1\r\nbob@example.org,@Bob\r\n"
                      "=1+1@example.org,Cy\r\n\"=cmd|'/Ccalc'!A0@example.org\",-Dai\r\n"
                      "'+44@example.org,Eve\r\n", encoding="utf-8")
    store.import_csv(source, "people")
    out = io.StringIO()
    store.export_csv("people", out)
    cells = [cell for row in csv.reader(io.StringIO(out.getvalue())) for cell in row]
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells)
    assert {"'=1+1", "'@Bob", "'-Dai", "'=1+1@example.org", "'=cmd|'/Ccalc'!A0@example.org",
            "'+44@example.org"} <= set(cells)
    exported = tmp_path / "out.csv"
    exported.write_text(out.getvalue(), encoding="utf-8")
    store.import_csv(exported, "again")
    back = io.StringIO()
    store.export_csv("again", back)
    assert back.getvalue() == out.getvalue()


def test_cli_import_with_encoding(workspace: Path, database_url: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)
    path = workspace / "people.csv"
    path.write_bytes("Email Address;First Name;Last Name\r\nsian@example.org;Siân;Hughes\r\n"
                     .encode("cp1252"))
    result = CliRunner().invoke(app, ["subscribers", "import", str(path), "--list",
                                      "cohes3ion"])
    assert result.exit_code == 1 and "--encoding cp1252" in result.output
    result = CliRunner().invoke(app, ["subscribers", "import", str(path), "--list",
                                      "cohes3ion", "--encoding", "cp1252"])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output
    result = CliRunner().invoke(app, ["subscribers", "export", "--list", "cohes3ion"])
    assert "sian@example.org,Siân Hughes," in result.output
