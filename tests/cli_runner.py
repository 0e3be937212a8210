"""The bulletin command run in-process for a test: its exit code and output, failing the test
on a traceback or an exception that is not an exit (a user's mistake must be one line)."""

from __future__ import annotations

from typer.testing import CliRunner

from bulletin.cli import app


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result.exit_code, result.output
