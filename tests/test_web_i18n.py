"""The service's pages and confirmation email in Welsh: the catalogue covers every word,
pages take the subscriber's language (or the newsletter's first, or ?lang=), and say so in
`lang` attributes."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import jinja2
from babel.messages.pofile import read_po
from jinja2 import nodes

from tests.conftest import ROOT
from tests.web_helpers import Web, csrf_of

pytest_plugins = ["tests.web_fixtures"]

WEB = ROOT / "templates" / "web"
CATALOGUE = WEB / "locale" / "cy.po"
# Words translated through a variable rather than a literal _("..."): the footer links
# (links.py) and the neutral recipient of archived copies (public_copy.py).
INDIRECT = {"Privacy Policy", "Cookie Statement", "Help", "your email address"}


def _python_messages(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            if name == "_" and isinstance(node.args[0].value, str):
                yield node.args[0].value
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
                isinstance(t, ast.Name) and t.id == "DONE" for t in node.targets):
            yield from (v.value for v in node.value.values if isinstance(v, ast.Constant))


def _template_messages(path: Path) -> Iterator[str]:
    for call in jinja2.Environment().parse(path.read_text()).find_all(nodes.Call):
        func = call.node
        name = func.name if isinstance(func, nodes.Name) else \
            func.attr if isinstance(func, nodes.Getattr) else None
        if name == "_" and call.args and isinstance(call.args[0], nodes.Const):
            yield call.args[0].value


def used_messages() -> set[str]:
    found = set(INDIRECT)
    for path in [*(ROOT / "bulletin" / "web" / "service").rglob("*.py"),
                 ROOT / "bulletin" / "public_copy.py"]:
        found.update(_python_messages(path))
    for path in WEB.rglob("*.j2"):
        if path.name != "preview.html.j2":
            found.update(_template_messages(path))
    return found


def test_the_welsh_catalogue_translates_every_word_and_awaits_review() -> None:
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po, locale="cy")
    translated = {m.id: m.string for m in catalogue if m.id}
    used = used_messages()
    assert len(used) > 60  # the extraction found the words
    missing = sorted(m for m in used if not translated.get(m))
    assert missing == []
    assert sorted(set(translated) - used) == []  # nothing stale
    for msgid, msgstr in translated.items():  # placeholders kept
        assert re.findall(r"%\(\w+\)s", msgid) == re.findall(r"%\(\w+\)s", msgstr), msgid
    assert "to be reviewed by a Welsh-language translator" in CATALOGUE.read_text()


def test_pages_in_the_subscribers_language(web: Web) -> None:
    cy = web.add("cy@example.org", "cohes3ion-bilingual", language="cy")
    en = web.add("en@example.org", "cohes3ion-bilingual", language="en")
    page = unescape(web.http.get(web.unsubscribe_url(cy)).text)
    assert '<html lang="cy">' in page
    assert "Dad-danysgrifio" in page and "Neidio i'r prif gynnwys" in page
    assert "Newyddion a rhybuddion" in page  # the brand's banner, in Welsh
    page = web.http.get(web.unsubscribe_url(en)).text
    assert '<html lang="en">' in page and "Unsubscribe" in page
    page = web.http.get(web.preferences_url(cy)).text
    assert '<html lang="cy">' in page and "Eich tanysgrifiad" in page
    page = web.http.get(web.preferences_url(cy) + "?lang=en").text
    assert '<html lang="en">' in page and "Your subscription" in page
    # the language switcher names each language in itself, marked as such
    assert '<a href="?lang=cy" lang="cy" hreflang="cy">Cymraeg</a>' in page


def test_the_newsletters_first_language_and_lang(web: Web) -> None:
    page = web.http.get("/subscribe/cohes3ion-bilingual").text
    assert '<html lang="cy">' in page and "Tanysgrifio i Cylchlythyr Cohes3ion" in page
    page = web.http.get("/subscribe/cohes3ion-bilingual?lang=en").text
    assert '<html lang="en">' in page and "Subscribe to Cohes3ion Newsletter" in page
    page = web.http.get("/subscribe/cohes3ion-bilingual?lang=fr").text  # not one of its own
    assert '<html lang="cy">' in page
    page = web.http.get("/unsubscribe/broken?lang=cy")
    assert page.status_code == 400
    assert '<html lang="cy">' in page.text
    assert "Nid yw'r ddolen hon yn gweithio" in unescape(page.text)


def test_the_confirmation_email_in_welsh(web: Web) -> None:
    form = web.http.get("/subscribe/cohes3ion-bilingual").text
    response = web.http.post("/subscribe/cohes3ion-bilingual", data={
        "email": "cymraeg@example.org", "language": "cy", "csrf": csrf_of(form)})
    assert response.status_code == 200 and "Gwiriwch eich e-bost" in response.text
    assert web.store.subscriber("cymraeg@example.org").language == "cy"
    [message] = web.received(1)
    assert message["Subject"].startswith("Cadarnhewch eich tanysgrifiad i Cylchlythyr")
    assert message["Content-Language"] == "cy, en"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("Mae rhywun, chi mae'n debyg") < text.index("Someone, probably you")
    link = re.search(r"http://\S+/confirm/\S+", text)
    assert link
    page = web.http.get(link[0])
    assert '<html lang="cy">' in page.text and "Cadarnhau fy nhanysgrifiad" in page.text
