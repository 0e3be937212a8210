"""The fast path of reading a subscriber CSV file (csvfields.checked: common records checked
inline) held to its reference (csvfields.check for every record): the same batches of good rows,
the same bad rows with the same words, the same error for a file that cannot be read, for every
generated file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bulletin.csvimport import CsvFileError, SubscriberFile

emails = st.one_of(
    st.from_regex(r"[A-Za-z0-9._%+'-]{1,12}@[A-Za-z0-9-]{1,10}\.(org|wales|co\.uk|COM|x)",
                  fullmatch=True),
    st.sampled_from(["", " ", "ann@example.org", " Ann@Example.ORG ", "bob@@example.org",
                     "postmaster@example.org", "a@localhost", "a..b@example.org",
                     "\"quoted\"@example.org", "a@münchen.de", "x" * 70 + "@example.org",
                     "not an address", "ann@example.org\u00a0", "'=1+1@example.org",
                     " '-x@example.org", "''ann@example.org", "'ann@example.org", "'@example.org"]),
    st.text(max_size=12))
names = st.one_of(
    st.text(max_size=15),
    st.sampled_from(["", "Ann", "  Ann   Smith ", "Ann\r\nSmith", "'=1+1", "'Ann", "''", "=SUM(A1)",
                     "Ann\x00", "Ann\x1b[31m", "Ann\u00a0Smith", "Ann\u2028", "x" * 201,
                     "x" * 200, "Smith, Ann", "\t", "Ann\u200b"]))
languages = st.one_of(st.sampled_from(["", "en", "CY", "en-GB", "cy_GB", " en ", "Welsh",
                                       "English", "e", "en-", "zzzz"]), st.text(max_size=5))
headers = st.sampled_from([
    ["email", "name", "language"],
    ["Language", "E-mail Address", "Full Name", "Phone"],
    ["email", "first name", "last name"],
    ["last name", "email", "first name", "lang"],
    ["email"],
    ["name", "email"],
])


@st.composite
def files(draw: st.DrawFn) -> bytes:
    header = draw(headers)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\r\n", "\n"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.write(draw(st.sampled_from(["\n", "\r\n", ",,\n"])))
            continue
        row = []
        for column in header:
            key = column.lower()
            if "mail" in key:
                row.append(draw(emails))
            elif "name" in key:
                row.append(draw(names))
            elif "lang" in key:
                row.append(draw(languages))
            else:
                row.append(draw(st.text(max_size=4)))
        if kind == 1:
            row = row[:draw(st.integers(0, len(row)))]  # fewer fields
        elif kind == 2:
            row.append(draw(st.text(max_size=4)))  # one too many
        writer.writerow(row)
    return out.getvalue().encode("utf-8", "surrogatepass")


def read(data: bytes, size: int, reference: bool) -> object:
    try:
        return list(SubscriberFile(Path("people.csv"), io.BytesIO(data))
                    .batches(size, reference=reference))
    except CsvFileError as exc:
        return ("unreadable", str(exc))


@settings(max_examples=800, deadline=None)
@given(files(), st.integers(1, 4))
@example(b"email,name\nann@example.org,'=1\n", 2)
@example(b"email,name\nann@example.org,\xc2\xa0Ann\n", 2)
@example(b"email,name,language\n  ,,\n,Ann,\nb@x.org,,en\n", 1)
@example(b"email\nann@example.org\nann@example.org\n", 1)
def test_the_fast_path_reads_every_file_as_the_reference_does(data: bytes, size: int) -> None:
    assert read(data, size, reference=False) == read(data, size, reference=True)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=60).map(lambda tail: b"email,name\n" + tail), st.integers(1, 3))
@example(b"email,name\na@example.org,\"Ann\n", 1)
@example(b"email,name\na@example.org,Z\xfcrich\n", 1)
@example(b"email,name\na@example.org,\"Ann\" Smith\n", 1)
def test_a_file_that_cannot_be_read_fails_the_same_way(data: bytes, size: int) -> None:
    assert read(data, size, reference=False) == read(data, size, reference=True)
