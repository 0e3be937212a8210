"""bulletin.toml and an issue's YAML are read by the one helper (bulletin.textfile), with the
same one-line messages, each as its own kind of error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bulletin.errors import BulletinError, IssueError, SettingsError
from bulletin.settings import load_workspace
from bulletin.yamlsource import load_yaml

LOADERS: list[tuple[Callable[[Path], object], type[BulletinError], str]] = [
    (load_workspace, SettingsError, "bulletin.toml"), (load_yaml, IssueError, "issue.yaml")]


@pytest.mark.parametrize(("load", "error", "name"), LOADERS)
def test_the_same_messages_for_either_file(tmp_path: Path, load: Callable[[Path], object],
                                           error: type[BulletinError], name: str) -> None:
    path = tmp_path / name
    with pytest.raises(error) as missing:
        load(path)
    assert str(missing.value) == f"{path}: no such file"
    path.write_bytes(b"title = 'Z\xfcrich'\n")
    with pytest.raises(error) as latin:
        load(path)
    assert str(latin.value) == (f"{path}:1: not UTF-8 text (byte 0xfc at column 11); "
                                "save the file as UTF-8")
    path.write_bytes("x = 1\n".encode("utf-16"))
    with pytest.raises(error) as utf16:
        load(path)
    assert str(utf16.value) == f"{path}: the file is UTF-16 text; save it as UTF-8"
    path.unlink()
    path.mkdir()
    with pytest.raises(error) as folder:
        load(path)
    assert str(folder.value) == f"{path}: cannot read: Is a directory"


def test_a_byte_order_mark_is_no_mistake(workspace: Path) -> None:
    """Windows' Notepad starts a UTF-8 file with a byte-order mark, and CRLF line ends."""
    config = workspace / "bulletin.toml"
    text = config.read_text()
    config.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert load_workspace(config).settings.newsletters
