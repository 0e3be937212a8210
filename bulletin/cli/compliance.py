"""`bulletin compliance ISSUE`: what an auditor asks of a multilingual newsletter under the
Welsh Language Standards, in the terminal or as an HTML file; and the timing lines that
`bulletin status` shows too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from .common import ConfigOpt, IssueArg, out, reported

if TYPE_CHECKING:
    from ..compliance import Compliance
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


@app.command("compliance")
def compliance_command(
        issue: IssueArg, config: ConfigOpt = None,
        html: Annotated[Path | None, typer.Option(
            "--html", help="Also write the report as an HTML file (for an auditor)")] = None,
) -> None:
    """A short report for an auditor of the Welsh Language Standards: the languages and
    their parity, the order, what a subscriber with no recorded language gets, the last
    send's timing per language, subscribers by language and by where they chose it, and the
    web pages in each language. Exits 1 when the parity checks find errors."""
    from ..compliance import compliance

    with reported():
        found = compliance(issue, config)
        if html is not None:
            _write(html, as_html(found))
    out.print(f"[bold]{escape(found.issue)}[/]: languages {', '.join(found.languages)}; "
              f"read first: {found.languages[0]}; delivery {found.delivery}")
    if len(found.languages) > 1:
        out.print(f"[bold]No recorded language:[/] {_unknown(found)}")
    out.print(f"[bold]Parity:[/] {found.errors} error(s), "
              f"{len(found.findings) - found.errors} warning(s)")
    for finding in found.findings:
        colour = "red" if finding.level == "error" else "yellow"
        out.print(f"  [{colour}]{finding.level}[/] {escape(finding.where)}: "
                  f"{escape(finding.message)}")
    if found.timing:
        show_timing(found.timing)
    else:
        out.print("[bold]Sent, by language:[/] not sent yet")
    out.print("[bold]Subscribers, by language:[/] " + _counts(found.by_language))
    out.print("[bold]Language chosen via:[/] " + _counts(found.by_source))
    out.print("[bold]Web pages:[/]")
    for page in found.pages:
        state = "" if page.available else " (not published yet)"
        out.print(f"  {page.language}  {page.name:<12} {escape(page.url)}{state}")
    if html is not None:
        out.print(f"wrote {escape(str(html))}")
    if found.errors:
        raise typer.Exit(1)


def _unknown(found: Compliance) -> str:
    if found.delivery != "each":
        return "every language, in one email (like everyone)"
    return ("every language, in one email" if found.unknown == "bilingual"
            else f"the first language's edition ({found.languages[0]})")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{escape(name)} {count:,}" for name, count in counts.items()) or "none"


def _write(path: Path, text: str) -> None:
    from ..errors import OutputError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"--html {path}: cannot write it: {exc.strerror}") from None


def as_html(found: Compliance) -> str:
    """The report as one self-contained HTML page."""
    from html import escape as e

    from ..store.timing import skew

    def table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
        cells = "".join(f"<th scope=\"col\">{e(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                       for row in rows)
        return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"

    gap = skew(found.timing)
    parts = [
        f"<h1>Welsh Language Standards: {e(found.issue)}</h1>",
        f"<p>Languages: {e(', '.join(found.languages))}. Read first: "
        f"<strong>{e(found.languages[0])}</strong>. Delivery: {e(found.delivery)}.</p>",
        f"<p>A subscriber with no recorded language gets: {e(_unknown(found))}.</p>",
        f"<h2>Parity: {found.errors} error(s), {len(found.findings) - found.errors} "
        "warning(s)</h2>",
        table(("Level", "Where", "Finding"),
              [(f.level, f.where, f.message) for f in found.findings]) if found.findings
        else "<p>Every language has the same sections, links, images and fields.</p>",
        "<h2>Timing of the last send</h2>",
        table(("Language", "Sent", "First (UTC)", "Last (UTC)"),
              [(t.language or NONE_RECORDED, t.sent, f"{t.first:%Y-%m-%d %H:%M:%S}",
                f"{t.last:%Y-%m-%d %H:%M:%S}") for t in found.timing])
        if found.timing else "<p>Not sent yet.</p>",
        f"<p>Skew: {gap.total_seconds():.1f} s</p>" if gap is not None else "",
        "<h2>Subscribers</h2>",
        table(("Language", "Subscribers"), list(found.by_language.items())),
        table(("Language chosen via", "Subscribers"), list(found.by_source.items())),
        "<h2>Web pages</h2>",
        table(("Language", "Page", "Address", "Available"),
              [(p.language, p.name, p.url, "yes" if p.available else "not published yet")
               for p in found.pages]),
    ]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Welsh Language Standards: {e(found.issue)}</title><style>"
            "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
            "padding:0 1rem}table{border-collapse:collapse;margin:1rem 0}"
            "th,td{border:1px solid #888;padding:.25rem .5rem;text-align:left}"
            "</style></head><body>" + "\n".join(parts) + "</body></html>\n")


NONE_RECORDED = "none recorded"
