"""bulletin.toml mistakes name the file and the line, and a misspelt table is one mistake."""

from __future__ import annotations

import base64
import tomllib
from email import quoprimime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulletin.errors import SettingsError
from bulletin.settings import load_workspace, toml_with_lines


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def _fails(config: Path) -> str:
    with pytest.raises(SettingsError) as caught:
        load_workspace(config)
    return str(caught.value)


def test_a_wrong_value_names_its_line(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace('banner = "#323232"', 'banner = "dark"', 1)
    config.write_text(text)
    message = _fails(config)
    line = _line_of(text, 'banner = "dark"')
    assert message.startswith(f"{config}:{line}: "
                              "newsletters.cohes3ion.brand.colours.banner: expected a colour")


def test_an_unknown_key_names_its_line(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace('list = "cohes3ion"\n', 'lsit = "cohes3ion"\n', 1)
    config.write_text(text)
    message = _fails(config)
    line = _line_of(text, "lsit =")
    assert f"{config}:{line}: newsletters.cohes3ion.lsit: unknown key 'lsit'" in message
    # the missing `list` is reported at the newsletter's table header
    assert f"{config}:{_line_of(text, '[newsletters.cohes3ion]')}: " \
           "newsletters.cohes3ion.list: missing" in message


def test_a_misspelt_table_is_one_mistake(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace("[newsletters.cohes3ion]\n", "[newsleters.cohes3ion]\n", 1)
    text = text.replace("[newsletters.cohes3ion.", "[newsleters.cohes3ion.")
    text = text.replace("[[newsletters.cohes3ion.", "[[newsleters.cohes3ion.")
    config.write_text(text)
    lines = _fails(config).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{config}:{_line_of(text, '[newsleters.cohes3ion]')}: ")
    assert "unknown table 'newsleters'" in lines[0] and "newsletters" in lines[0]


def test_a_syntax_error_names_its_line(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace('list = "cohes3ion"', 'list = "cohes3ion', 1)
    config.write_text(text)
    message = _fails(config)
    assert message.startswith(f"{config}:{_line_of(text, 'list = ')}: invalid TOML")
    assert "\n" not in message


keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
scalars = st.one_of(st.integers(), st.text(alphabet="abc xyz.,é", max_size=20), st.booleans())
tables = st.recursive(st.dictionaries(keys, scalars, min_size=1, max_size=4),
                      lambda children: st.dictionaries(keys, children, min_size=1, max_size=3),
                      max_leaves=10)


def _dump(data: dict, prefix: tuple[str, ...] = ()) -> str:
    simple = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = ""
    if simple:
        out += (f"[{'.'.join(prefix)}]\n" if prefix else "") + "\n".join(simple) + "\n\n"
    for k, v in data.items():
        if isinstance(v, dict):
            out += _dump(v, (*prefix, k))
    return out


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    return str(value)


@pytest.mark.slow
@given(tables)
def test_each_key_line_is_where_the_key_stands(data: dict) -> None:
    text = _dump(data)
    plain, lines = toml_with_lines(text, Path("x.toml"))
    assert plain == tomllib.loads(text)
    rows = text.split("\n")
    for loc, line in lines.items():
        if not loc:
            continue
        row = rows[line - 1]
        value = plain
        for part in loc:
            value = value[part]
        if isinstance(value, dict):
            # its header, or (a table only named as part of others) the first that names it
            assert row.startswith("[" + ".".join(map(str, loc))), (loc, row)
        else:
            assert row.startswith(f"{loc[-1]} = "), (loc, row)


def test_a_later_table_is_named_at_its_own_header(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text() + ('\n[newsletters.second]\nname = "Second"\norganisation = "Org"\n'
                                 'from = "news@example.org"\npostal_address = "Here"\n\n'
                                 '[[newsletters.second.social]]\nlabel = "a"\ntext = "b"\n'
                                 'url = "https://example.org"\n\n'
                                 '[[newsletters.second.social]]\nlabel = "a"\ntext = "b"\n')
    config.write_text(text)
    message = _fails(config)
    header = _line_of(text, "[newsletters.second]")
    assert f"{config}:{header}: newsletters.second.list: missing" in message, message
    second_item = text.rindex("[[newsletters.second.social]]")
    line = text[:second_item].count("\n") + 1
    assert f"{config}:{line}: newsletters.second.social[1].url: missing" in message, message


@pytest.mark.parametrize("repeated", [
    'link = "#0b5394"\nlink = "#000000"\n',  # the same key twice in one table
    'colours = {link = "#0b5394", link = "#000000"}\n',  # twice in an inline table
])
def test_a_key_given_twice_is_one_line_not_a_traceback(workspace: Path, repeated: str) -> None:
    config = workspace / "bulletin.toml"
    config.write_text("[x]\n" + repeated)
    message = _fails(config)
    assert message == f"{config}:{repeated.count(chr(10)) + 1}: invalid TOML: link is given " \
        "twice; keep one", message


def test_a_misspelt_inner_table_names_the_one_meant(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace("[newsletters.cohes3ion.brand]\n",
                                      "[newsletters.cohes3ion.brnad]\n", 1)
    config.write_text(text)
    lines = _fails(config).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{config}:{_line_of(text, '[newsletters.cohes3ion.brnad]')}: "
                               "newsletters.cohes3ion.brnad: unknown key 'brnad'; did you mean "
                               "'brand'?"), lines


def test_a_misspelt_newsletter_table_is_one_mistake(workspace: Path) -> None:
    """[newsletters.cohes3on] misspelt, its inner tables not: not five missing keys."""
    config = workspace / "bulletin.toml"
    text = config.read_text().replace("[newsletters.cohes3ion]\n", "[newsletters.cohes3on]\n", 1)
    config.write_text(text)
    lines = _fails(config).splitlines()
    assert len(lines) == 1, lines
    assert "newsletters.cohes3ion: missing required keys name, organisation" in lines[0], lines
    assert f"they are under newsletters.cohes3on ({config}:" \
           f"{_line_of(text, '[newsletters.cohes3on]')}); is 'cohes3on' a misspelling of " \
           "'cohes3ion'?" in lines[0], lines


@pytest.mark.parametrize(("row", "message"), [
    ('banner = #1d1d1b', 'banner: text goes in quotes: banner = "#1d1d1b"'),
    ('name = Cohes3ion News', 'name: text goes in quotes: name = "Cohes3ion News"'),
    ('name = "Cohes3ion News', 'name: the quote is not closed on this line; close it (for text '
                               'over several lines, use """ before and after)'),
    ('verp = True', 'verp: write true or false in lower case'),
])
def test_toml_slips_in_plain_words(workspace: Path, row: str, message: str) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace('list = "cohes3ion"\n', row + "\n", 1)
    config.write_text(text)
    assert _fails(config) == f"{config}:{_line_of(text, row + chr(10))}: invalid TOML: {message}"


def test_a_base_url_without_https_names_its_line(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text()
    old = next(row for row in text.split("\n") if row.startswith("base_url = "))
    text = text.replace(old, 'base_url = "http://bulletins.example.org"', 1)
    config.write_text(text)
    assert _fails(config) == (f"{config}:{_line_of(text, 'base_url = ')}: base_url: must "
                              "start with https:// (links in email must be secure)")


@pytest.mark.parametrize(("url", "said"), [
    ("https://bulletins.example.org/news?x=1", "has a '?' or '#' part; every link appends its "
     "path to it, so give the address alone, such as 'https://bulletins.example.org/news'"),
    ("https://bulletins.example.org/#top", "has a '?' or '#' part"),
    ("https://admin:hunter2@bulletins.example.org", "holds a user name or password, which every "
     "email would show"),
])
def test_a_base_url_every_link_could_not_follow_names_its_line(workspace: Path, url: str,
                                                               said: str) -> None:
    """Before, these passed: every link went after the query or the fragment (one-click
    unsubscribe among them), or showed the password in every email."""
    config = workspace / "bulletin.toml"
    text = config.read_text()
    old = next(row for row in text.split("\n") if row.startswith("base_url = "))
    text = text.replace(old, f'base_url = "{url}"', 1)
    config.write_text(text)
    message = _fails(config)
    assert message.startswith(f"{config}:{_line_of(text, 'base_url = ')}: base_url: {said}")
    assert "hunter2" not in message


def _with_row(text: str, key: str, row: str) -> str:
    """bulletin.toml's `text` with `row` for `key` in the cohes3ion newsletter's table."""
    start = text.index("[newsletters.cohes3ion]\n")
    table_end = text.index("\n[", start + 1)
    table = text[start:table_end]
    old = next((r for r in table.split("\n") if r.startswith(f"{key} = ")), None)
    table = table.replace(old, row, 1) if old else table.replace("\n", f"\n{row}\n", 1)
    return text[:start] + table + text[table_end:]


PRISTINE = (Path(__file__).resolve().parent.parent / "bulletin.toml").read_text()


@pytest.mark.parametrize(("key", "value", "said"), [
    ("from", "Evil\\r\\nBcc: x@evil.org <a@example.org>", "has a line break in it"),
    ("reply_to", "news@example.org\\nBcc: x@evil.org", "has a line break in it"),
    ("name", "Cohes3ion\\nBcc: x@evil.org", "has a line break in it"),
    ("feedback_id", "news\\r\\nX: y", "has a line break in it"),
    ("reply_to", "news@example.org trailing junk", "expected one email address"),
    ("reply_to", "a@example.org, b@example.org", "expected one email address"),
    ("from", "News <news@example.org", "expected one email address"),
    ("unsubscribe_mailto", "a b@example.org", "expected one email address"),
    ("from", "Cymdeithas yr Iaith: Newyddion <n@example.org>", "expected one email address"),
    ("from", "=?utf-8?q?News?= <news@example.org>",
     "the name is an RFC 2047 encoded word (=?utf-8?q?News?=), which every email would encode "
     "again and so show as typed; write it plainly: 'News <news@example.org>'"),
    ("name", "=?utf-8?b?Q29oZXMzaW9u?=", "the text is an RFC 2047 encoded word "
     "(=?utf-8?b?Q29oZXMzaW9u?=), which every email would encode again and so show as "
     "typed; write it plainly: 'Cohes3ion'"),
    ("feedback_id", "=?us-ascii?q?news?=", "the text is an RFC 2047 encoded word"),
])
def test_a_header_value_that_is_not_one_line_or_one_address_names_its_line(
        workspace: Path, key: str, value: str, said: str) -> None:
    """Before, `check` passed these: a line break stopped every send later with an error
    that named no line, and parseaddr made the rest into another address or dropped part."""
    config = workspace / "bulletin.toml"
    row = f'{key} = "{value}"'
    text = _with_row(config.read_text(), key, row)
    config.write_text(text)
    message = _fails(config)
    line = _line_of(text, row)
    assert message.startswith(f"{config}:{line}: newsletters.cohes3ion.{key}: {said}"), message


def test_a_theme_there_is_not_names_its_line(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace("[newsletters.cohes3ion]\n",
                                      '[newsletters.cohes3ion]\ntheme = "nope"\n', 1)
    config.write_text(text)
    loaded = load_workspace(config)
    with pytest.raises(SettingsError) as caught:
        loaded.theme_dir(loaded.newsletter("cohes3ion"))
    assert str(caught.value) == (
        f"{config}:{_line_of(text, 'theme = ')}: newsletters.cohes3ion.theme: theme 'nope' not "
        f"found: expected a folder {workspace.resolve() / 'templates' / 'nope'}")


names = st.lists(st.text("abcdefghijklmnopqrstuvwxyzAWY\u0175\u0177\u00e2\u00e9", min_size=1,
                         max_size=8), min_size=1, max_size=3).map(" ".join)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names, st.sampled_from(["b", "q", "B", "Q"]), st.sampled_from(["utf-8", "UTF-8"]),
       st.booleans(), st.sampled_from(["from", "reply_to", "unsubscribe_mailto"]))
def test_a_name_written_as_an_encoded_word_names_its_line_and_the_name_to_write(
        workspace: Path, name: str, encoding: str, charset: str, quoted: bool,
        key: str) -> None:
    """An RFC 2047 encoded word, which the message would encode again (readers would see
    "=?utf-8?q?...?=" as the name), is refused with its line and the name written plainly."""
    if encoding in "bB":
        word = f"=?{charset}?{encoding}?{base64.b64encode(name.encode()).decode()}?="
    else:
        word = quoprimime.header_encode(name.encode(), charset).replace("?q?", f"?{encoding}?")
    value = f'"{word}" <news@example.org>' if quoted else f"{word} <news@example.org>"
    config = workspace / "bulletin.toml"
    text = _with_row(PRISTINE, key, f"{key} = '{value}'")
    config.write_text(text)
    message = _fails(config)
    assert message == (
        f"{config}:{_line_of(text, f'{key} = {value!r}')}: newsletters.cohes3ion.{key}: the "
        f"name is an RFC 2047 encoded word ({word}), which every email would encode again and "
        f"so show as typed; write it plainly: '{name} <news@example.org>'"), message


@pytest.mark.parametrize("value", ['"Tom <3 Cymru" <news@example.org>', "news@example.org (News)",
                                   "Llywodraeth Cymru / Welsh Government <news@example.org>",
                                   '"Welsh Government, Comms" <news@example.org>',
                                   "J. Smith <news@example.org>", "newyddion@llyw.cymru"])
def test_a_from_address_mail_readers_read_as_one_address_is_taken(workspace: Path,
                                                                  value: str) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text()
    old = next(row for row in text.split("\n") if row.startswith("from = "))
    config.write_text(text.replace(old, f"from = '{value}'", 1))
    assert load_workspace(config).newsletter("cohes3ion").sender == value


@pytest.mark.parametrize(("row", "field", "said"), [
    ('[media]\nbase_url = "https://cdn.example.org/img?v=2"', "media.base_url",
     "has a '?' or '#' part"),
    ('[media]\nbase_url = "https://me:hunter2@cdn.example.org"', "media.base_url",
     "holds a user name or password"),
    ('[smtp]\nhost = "127.0.0.1"\nrate_per_second = inf', "smtp.rate_per_second",
     "give the most messages a second as a finite number above 0, such as 20"),
    ('[smtp]\nhost = "127.0.0.1"\nrate_per_second = nan', "smtp.rate_per_second",
     "give the most messages a second as a finite number above 0, such as 20"),
    ('[smtp]\nhost = "127.0.0.1"\nrate_per_second = 1e-300', "smtp.rate_per_second",
     "that is under one message an hour, so a send would wait over an hour between two "
     "messages; give at least 0.000278 (one an hour), such as 20, or leave it out for no limit"),
])
def test_an_images_address_and_a_rate_that_cannot_be_used_name_their_line(
        workspace: Path, row: str, field: str, said: str) -> None:
    """Images' base_url is appended to as base_url is; an infinite rate is no rate, and one
    under one message an hour would wait over an hour between two (as `--rate` is held)."""
    config = workspace / "bulletin.toml"
    text = config.read_text() + "\n" + row + "\n"
    config.write_text(text)
    message = _fails(config)
    line = _line_of(text, row.split("\n")[-1])
    assert message.startswith(f"{config}:{line}: {field}: {said}"), message
    assert "hunter2" not in message
