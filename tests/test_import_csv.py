"""Reading subscriber CSV files: header-driven, every bad row named by its line."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin.csvimport import (
    FIELD_LIMIT,
    CsvFileError,
    SubscriberFile,
    clean_language,
    clean_name,
)
from bulletin.store.rows import BadRow, Row
from bulletin.textchars import SPOOFING

SPOOFERS = [chr(code) for code in range(0x10000) if SPOOFING.match(chr(code))]
"""Every character of the rule's set (textchars.SPOOFING), read from it."""


def read(data: bytes, name: str = "people.csv") -> tuple[SubscriberFile, list[Row | BadRow]]:
    source = SubscriberFile(Path(name), io.BytesIO(data))
    return source, list(source)


def good(rows: list[Row | BadRow]) -> list[tuple[int, str, str | None, str | None]]:
    return [(r.line, r.address.email, r.name, r.language) for r in rows if isinstance(r, Row)]


def bad(rows: list[Row | BadRow]) -> dict[int, str]:
    return {r.line: r.reason for r in rows if isinstance(r, BadRow)}


MESSY = (
    "\ufeffE-mail Address,Full Name,Lang,Phone\r\n"
    "ann@example.org,\"Smith, Ann\",en,0123\r\n"
    "\r\n"
    "ANN@EXAMPLE.ORG,,cy,\r\n"
    "bob@@example.org,Bob,en,\r\n"
    "\"carol@example.org\",\"Carol \"\"CJ\"\" Jones\r\nof Cardiff\",cy-GB,\r\n"
    ",Nobody,en,\r\n"
    ",,,\r\n"
    "dave@example.org,Dave,English,\r\n"
    "erin@example.org,Erin,en,1,extra\r\n"
    "fred@example.org\r\n"
).encode()


def test_a_messy_spreadsheet_export() -> None:
    source, rows = read(MESSY)
    assert source.columns == {"email": 0, "name": 1, "language": 2}
    assert source.ignored == ("Phone",)
    assert good(rows) == [
        (2, "ann@example.org", "Smith, Ann", "en"),
        (4, "ANN@example.org", None, "cy"),
        (6, "carol@example.org", 'Carol "CJ" Jones of Cardiff', "cy"),
        (12, "fred@example.org", None, None),
    ]
    problems = bad(rows)
    assert sorted(problems) == [5, 8, 10, 11]
    assert "'bob@@example.org' is not a valid email address" in problems[5]
    assert problems[8] == "no email address in the email column"
    assert "language 'English' is not a language code" in problems[10]
    assert problems[11].startswith("5 fields, but the header has 4 columns")


def test_lines_after_a_multi_line_field_keep_their_numbers() -> None:
    data = b'email,name\n"a@example.org","one\ntwo\nthree"\nb@@x\n'
    _, rows = read(data)
    assert good(rows) == [(2, "a@example.org", "one two three", None)]
    assert list(bad(rows)) == [5]


@pytest.mark.parametrize("data, says", [
    (b"name,language\nAnn,en\n", "people.csv:1: no email column in the header ('name', "
                                 "'language'); name the column of addresses 'email'"),
    (b"ann@example.org,Ann\n", "people.csv:1: no email column in the header "
                               "('ann@example.org', 'Ann'); the first row looks like data"),
    (b"\n\nname\n", "people.csv:3: no email column"),
    (b"", "people.csv: the file is empty; it needs a header row"),
    (b"\r\n,\r\n", "people.csv: the file is empty"),
    (b"email,Email\n", "people.csv:1: two columns are 'email' (columns 1 and 2); keep one"),
    (b"email,name\na@example.org,Z\xfcrich\n", "people.csv:2: not UTF-8 text (byte 0xfc at "
                                               "column 16); if Excel saved it as plain 'CSV', "
                                               "import it with --encoding cp1252"),
    ("email\na@example.org\n".encode("utf-16"), "people.csv: the file is UTF-16 text"),
    (b'email,name\na@example.org,"Ann\nb@example.org,Bob\n',
     "people.csv:2: a quoted field that starts on this line is never closed"),
    (b'email,name\na@example.org,"Ann" Smith\n', "people.csv:2: not valid CSV"),
])
def test_a_file_that_cannot_be_read_is_one_clear_error(data: bytes, says: str) -> None:
    with pytest.raises(CsvFileError) as caught:
        read(data)
    assert str(caught.value).startswith(says), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_runaway_quoted_field_is_caught_before_it_eats_the_file() -> None:
    data = b'email,name\na@example.org,"Ann\n' + b"x@example.org,filler\n" * 20000
    with pytest.raises(CsvFileError, match=r"people.csv:2: a quoted field .* runs on"):
        read(data)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 4), st.data(), st.integers(1, 3 * FIELD_LIMIT), st.booleans(),
       st.integers(0, 3), st.sampled_from([",", ";", "\t"]))
def test_a_field_too_long_is_named_by_its_line_and_column(
        width: int, data: st.DataObject, over: int, quoted: bool, before: int,
        separator: str) -> None:
    """A field over the limit on one line (a name column of a million letters, quoted or
    not) is too long, not a quote left open: its line, column and the limit are named."""
    header = ["email", "name", "language", "notes"][:width]
    column = data.draw(st.integers(0, width - 1))
    long = "a" * (FIELD_LIMIT + over)
    row = ["x@example.org", "Ann", "en", "n"][:width]
    row[column] = f'"{long}"' if quoted else long
    lines = [separator.join(header)] + [separator.join(["b@example.org", "Bob", "en", "n"]
                                                       [:width])] * before
    text = "\n".join([*lines, separator.join(row), "c@example.org"]) + "\n"
    with pytest.raises(CsvFileError) as caught:
        read(text.encode())
    assert str(caught.value) == (
        f"people.csv:{before + 2}: the field in column {column + 1} ({header[column]}) is "
        f"{len(long):,} characters long; a field may hold at most {FIELD_LIMIT:,} (no "
        f"address, name or language is that long): check that this is the file to import")


def test_a_missing_file() -> None:
    with pytest.raises(CsvFileError, match=r"nowhere\.csv: cannot read: No such file"):
        list(SubscriberFile(Path("nowhere.csv")))


@pytest.mark.parametrize("raw, expected", [("", None), ("  Ann   Smith ", "Ann Smith"),
                                           ("Ann\r\nSmith", "Ann Smith")])
def test_names(raw: str, expected: str | None) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize("raw", ["Ann\x00", "x" * 201, "Ann\x1b[31m"])
def test_names_that_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="name"):
        clean_name(raw)


@settings(max_examples=60)
@given(st.sampled_from(SPOOFERS), st.text("Ann Smith", max_size=8), st.text("Jones", max_size=5),
       st.integers(0, 3))
def test_a_name_with_a_spoofing_character_is_a_bad_row_with_its_line(
        char: str, before: str, after: str, rows_before: int) -> None:
    """A name holding a character that reorders or hides text (U+202E, U+200B) is refused,
    its row named by its line as any other bad row is; the rows around it are imported."""
    data = "email,name\n" + "b@example.org,Bob\n" * rows_before + \
        f"a@example.org,{before}{char}{after}\nc@example.org,Cy\n"
    _, rows = read(data.encode())
    line = 2 + rows_before
    assert bad(rows) == {line: f"the name holds U+{ord(char):04X} "
                               f"({unicodedata.name(char)}), an invisible character that "
                               f"reorders or hides text; delete it"}
    assert [row[0] for row in good(rows)] == [*range(2, line), line + 1]


@pytest.mark.parametrize("name", ["Cymru \U0001f3f4\U000e0067\U000e0062\U000e0077"
                                  "\U000e006c\U000e0073\U000e007f", "\U0001f468\u200d\U0001f469",
                                  "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"])
def test_names_with_joiners_and_tags_are_kept(name: str) -> None:
    """The Welsh flag (tag characters), emoji joined by U+200D, Persian's U+200C."""
    _, rows = read(f"email,name\na@example.org,{name}\n".encode())
    assert good(rows) == [(2, "a@example.org", name, None)]


@pytest.mark.parametrize("raw, expected", [("", None), ("en", "en"), ("CY", "cy"),
                                           ("en-GB", "en"), ("cy_GB", "cy")])
def test_languages(raw: str, expected: str | None) -> None:
    assert clean_language(raw) == expected


simple_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
                      max_size=20).map(lambda text: " ".join(SPOOFING.sub("", text).split()))
people = st.lists(st.tuples(
    st.from_regex(r"[a-z][a-z0-9.]{0,10}[a-z0-9]@[a-z]{1,10}\.(org|wales|co\.uk)",
                  fullmatch=True).filter(lambda a: ".." not in a),
    simple_text,
    st.sampled_from(["", "en", "cy"])), max_size=30)


@pytest.mark.slow
@settings(max_examples=150)
@given(people, st.booleans(), st.sampled_from(["\r\n", "\n"]),
       st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), st.integers(0, 3))
def test_whatever_a_csv_writer_writes_reads_back_with_its_lines(
        rows: list[tuple[str, str, str]], bom: bool, ending: str, quoting: int,
        blank_lines: int) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=ending, quoting=quoting)
    writer.writerow(["Email", "Name", "Language"])
    expected = []
    line = 2
    for email, name, language in rows:
        out.write(ending * blank_lines)
        line += blank_lines
        writer.writerow([email, name, language])
        expected.append((line, email, name or None, language or None))
        line += 1
    data = ("\ufeff" if bom else "") + out.getvalue()
    _, parsed = read(data.encode())
    assert bad(parsed) == {}
    assert good(parsed) == expected
