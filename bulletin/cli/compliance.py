"""`bulletin compliance ISSUE`: what an auditor asks of a multilingual newsletter under the
Welsh Language Standards, in the terminal or as an HTML file; and the timing lines that
`bulletin status` shows too."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from .common import out

if TYPE_CHECKING:
    from ..store.timing import LanguageTiming

app = typer.Typer()


def show_timing(timing: list[LanguageTiming]) -> None:
    """Per language, when its first and last message went, and the skew between them."""
    from ..store.timing import skew

    out.print("[bold]Sent, by language:[/]")
    for row in timing:
        out.print(f"  {escape(row.language or 'none recorded'):<14} {row.sent:>8,}  first "
                  f"{row.first:%Y-%m-%d %H:%M:%S}  last {row.last:%Y-%m-%d %H:%M:%S} UTC")
    gap = skew(timing)
    if gap is not None:
        out.print(f"[bold]Skew:[/] {gap.total_seconds():.1f} s between the languages' first "
                  "or last messages")
