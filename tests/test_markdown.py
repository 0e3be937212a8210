"""Markdown to plain text: wrapped, no markup, links written out; to HTML: safe."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from bulletin.markdown import refused_scheme, to_html, to_text

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzåŵŷ", min_size=1, max_size=15)
sentences = st.lists(words, min_size=1, max_size=40).map(" ".join)
urls = st.builds(lambda path: f"https://example.org/{path}",
                 st.text(alphabet="abcdefghij0123456789-/", max_size=90))


@given(st.lists(sentences, min_size=1, max_size=5))
def test_paragraphs_wrap_at_78_and_keep_every_word(paragraphs: list[str]) -> None:
    text = to_text("\n\n".join(paragraphs))
    assert all(len(line) <= 78 for line in text.split("\n"))
    assert text.split() == " ".join(paragraphs).split()
    assert text.count("\n\n") == len(paragraphs) - 1


@given(sentences, words, urls)
def test_links_are_written_out_whole(before: str, label: str, url: str) -> None:
    text = to_text(f"{before} [{label}]({url}) end")
    assert f"{label} <{url}>" in " ".join(text.split("\n"))
    assert url in text.split()[-2].strip("<>") or f"<{url}>" in text
    for line in text.split("\n"):
        assert len(line) <= 78 or url in line


@given(st.lists(sentences, min_size=1, max_size=6))
def test_lists_become_bullets_with_hanging_indent(items: list[str]) -> None:
    text = to_text("\n".join(f"- {item}" for item in items))
    bullets = [line for line in text.split("\n") if line.startswith("- ")]
    assert len(bullets) == len(items)
    assert all(line.startswith(("- ", "  ")) for line in text.split("\n"))
    assert all(len(line) <= 78 for line in text.split("\n"))


@given(st.text(max_size=200))
def test_text_has_no_markup_or_entities(source: str) -> None:
    text = to_text(source)
    assert not re.search(r"&(amp|lt|gt|quot|#\d+);", text) or re.search(
        r"&(amp|lt|gt|quot|#\d+);", source)
    assert "<p>" not in text or "<p>" in source


@given(st.text(max_size=200))
def test_html_never_contains_raw_tags_from_the_source(source: str) -> None:
    html = to_html(source + " <script>x</script><iframe src=x>")
    assert "<script" not in html and "<iframe" not in html


def test_emphasis_and_ordered_lists() -> None:
    text = to_text("Some *stress* and **strong** `code`.\n\n3. three\n4. four")
    assert text == "Some stress and strong code.\n\n3. three\n4. four"


def test_link_whose_text_is_its_url_is_written_once() -> None:
    assert to_text("<https://example.org/a>") == "https://example.org/a"


schemes = st.one_of(
    st.sampled_from(["javascript", "JavaScript", "VBSCRIPT", "file", "data", "Data",
                     "https", "http", "mailto", "tel", "ftp", "sms"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz+.-", min_size=1, max_size=10))


@given(schemes, st.text(alphabet="abcdefghij0123456789/=;,.%:", max_size=30), st.booleans())
@example("data", "image/png;base64,iVBORw0KGgo=", False)
@example("javascript", "alert(1", False)
def test_a_link_is_refused_exactly_when_the_parser_leaves_it_out(
        scheme: str, rest: str, angled: bool) -> None:
    """refused_scheme names the scheme of each link the email leaves out (javascript:, say),
    which `bulletin check` then reports by its scheme, and of no other."""
    url = f"{scheme}:{rest}"
    source = f"[x](<{url}>)" if angled else f"[x]({url})"
    linked = "<a " in str(to_html(source))
    assert refused_scheme(f"<{url}" if angled else url) == (None if linked else scheme.lower())
    assert refused_scheme(rest.replace(":", "")) is None
