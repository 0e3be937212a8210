"""`bulletin dkim-record`: the TXT value split into strings of at most 255 characters, as DNS
holds them and zone files write them (`"…" "…"`); joined again they are the record."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from bulletin.dkim import DkimSigner, txt_strings
from tests.test_send import bulletin

RSA_PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption())
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def unquote(text: str) -> list[str]:
    """The character-strings of a zone file's TXT data, unescaped."""
    return [re.sub(r"\\(.)", r"\1", match) for match in STRING.findall(text)]


def test_a_2048_bit_record_is_printed_in_strings_of_255_at_most(workspace: Path) -> None:
    (workspace / "news.pem").write_bytes(RSA_PEM)
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text() + '\n[newsletters.cohes3ion.dkim]\n'
                      'selector = "news2026"\nkey_file = "news.pem"\n')
    code, output = bulletin("dkim-record", "--config", str(config))
    assert code == 0, output
    record = DkimSigner("example.gov.wales", "news2026", RSA_PEM).public_record()
    assert len(record) > 400
    lines = [line for line in output.splitlines() if "IN TXT" in line]
    assert len(lines) == 1, output  # one line, to paste into a zone file
    owner, _, data = lines[0].partition(" IN TXT ")
    assert owner == "news2026._domainkey.example.gov.wales."
    strings = unquote(data)
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings), data
    assert "".join(strings) == record
    assert data == " ".join(f'"{s}"' for s in strings)


@given(st.text(st.characters(codec="ascii"), max_size=1200))
def test_the_strings_join_to_the_value(value: str) -> None:
    written = txt_strings(value)
    strings = unquote(written)
    assert "".join(strings) == value
    assert all(0 < len(s) <= 255 for s in strings) or value == ""
    assert written == " ".join(f'"{s}"' for s in (
        s.replace("\\", "\\\\").replace('"', '\\"') for s in strings)) or value == ""


def test_a_missing_key_file_names_its_line_in_bulletin_toml(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text() + '\n[newsletters.cohes3ion.dkim]\nselector = "news2026"\n' \
                                'key_file = "missing.pem"\n'
    config.write_text(text)
    code, output = bulletin("dkim-record", "--config", str(config))
    assert code == 1
    line = text[:text.index('key_file = "missing.pem"')].count("\n") + 1
    assert output.startswith(f"Error: {config}:{line}: newsletters.cohes3ion.dkim.key_file: "
                             "cannot read "), output
