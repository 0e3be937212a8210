"""`bulletin media export FOLDER`: a folder that cannot be written to is one line naming the
FOLDER argument (the command has no --out), with no traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bulletin.cli import app


def test_a_file_in_the_way_is_one_line_naming_the_folder(workspace: Path) -> None:
    (workspace / "taken").write_text("a file\n")
    for folder in (workspace / "taken", workspace / "taken" / "inside"):
        result = CliRunner().invoke(app, ["media", "export", str(folder), "--config",
                                          str(workspace / "bulletin.toml")])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert "--out" not in result.output, result.output
        assert result.output.replace("\n", "").startswith(f"Error: FOLDER {folder}: "), \
            result.output
