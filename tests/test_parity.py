"""Parity of a bilingual issue in `bulletin check` (and so in `bulletin send`): same links,
images and fields in every language, no translation placeholder, lengths compared."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from tests.conftest import ROOT

BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"


def bulletin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def example(workspace: Path) -> Path:
    """The bundled bilingual example, copied into a workspace to change."""
    path = workspace / "issues" / BILINGUAL.name
    shutil.copy(BILINGUAL, path)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def change(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def check(path: Path, *more: str) -> tuple[int, str]:
    return bulletin("check", str(path), "--config", str(path.parent.parent / "bulletin.toml"),
                    *more)


def test_the_bundled_example_passes_its_own_checks(example: Path) -> None:
    for delivery in ("bilingual", "side-by-side", "each"):
        code, output = check(example, "--delivery", delivery)
        assert code == 0, output
        assert "0 errors, 0 warnings" in output
    assert "native" in BILINGUAL.read_text()  # marked for a native speaker's review


def test_a_welsh_body_with_one_link_fewer_is_an_error_naming_field_language_line(
        example: Path) -> None:
    change(example, "\n        - gwneud [fideo'r prosiect]"
           "(https://www.interregeurope.eu/cohes3ion/news#project-video)",
           "\n        - gwneud fideo'r prosiect")
    code, output = check(example)
    assert code == 1, output
    line = line_of(example, "Er gwaethaf yr heriau") - 1  # the line of its `cy: |`
    assert f"{example}:{line}: sections[2].body (cy): 2 links, the 'en' text has 3" in output, \
        output


def test_a_placeholder_left_is_an_error_with_its_own_line(example: Path) -> None:
    change(example, "        Er gwaethaf yr heriau,",
           "        [Cyfieithiad i ddilyn / Welsh translation to follow]\n"
           "        Er gwaethaf yr heriau,")
    code, output = check(example)
    assert code == 1, output
    line = line_of(example, "[Cyfieithiad i ddilyn")
    assert f"{example}:{line}: sections[2].body (cy): 'Cyfieithiad i ddilyn' marks a " \
        "translation still to come" in " ".join(output.split()), output


@pytest.mark.parametrize("placeholder", ["TODO", "[cy]"])
def test_other_placeholders_are_errors(example: Path, placeholder: str) -> None:
    change(example, "cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol",
           f"cy: \"{placeholder} Cyhoeddi Cynlluniau Gweithredu Rhanbarthol\"")
    code, output = check(example)
    assert code == 1 and "sections[0].heading (cy)" in output, output
    assert f"'{placeholder}' marks a translation" in output


def test_configured_pattern_is_an_error(example: Path) -> None:
    config = example.parent.parent / "bulletin.toml"
    config.write_text(config.read_text() + '\n[newsletters.cohes3ion-bilingual.parity]\n'
                      'placeholders = ["Rhanbarthol$"]\n')
    code, output = check(example)
    assert code == 1 and "sections[0].heading (cy): 'Rhanbarthol'" in output, output


def test_text_identical_to_the_other_language_is_untranslated(example: Path) -> None:
    change(example, "cy: Edrych yn ôl ar rai o gerrig milltir allweddol y prosiect",
           "cy: Looking back at some key project milestones")
    code, output = check(example)
    assert code == 1, output
    line = line_of(example, "en: Looking back")
    assert f"{example}:{line}: sections[2].heading (en): the same text as the 'cy' text" \
        in output, output


def test_a_link_to_another_page_is_an_error_unless_the_pair_is_listed(example: Path) -> None:
    welsh = "https://www.interregeurope.eu/cohes3ion/news#fideo-y-prosiect"
    change(example, "[fideo'r prosiect](https://www.interregeurope.eu/cohes3ion/news#project-video)",
           f"[fideo'r prosiect]({welsh})")
    code, output = check(example)
    assert code == 1 and f"links to {welsh}" in output, output
    config = example.parent.parent / "bulletin.toml"
    config.write_text(config.read_text() + '\n[newsletters.cohes3ion-bilingual.parity]\n'
                      f'urls = [{{cy = "{welsh}", en = "https://www.interregeurope.eu/'
                      'cohes3ion/news#project-video"}]\n')
    code, output = check(example)
    assert code == 0, output


def test_subject_written_once_and_no_preheader_are_errors(example: Path) -> None:
    change(example, "subject:\n  cy: Cylchlythyr Cohes3ion Rhifyn 4\n"
           "  en: Cohes3ion Newsletter Issue 4\n", "subject: Cohes3ion Newsletter Issue 4\n")
    text = example.read_text()
    start = text.index("preheader:")
    example.write_text(text[:start] + text[text.index("sections:"):])
    code, output = check(example)
    assert code == 1, output
    assert "subject: written once" in output and "preheader: missing" in output


def test_a_much_shorter_translation_is_a_warning(example: Path) -> None:
    change(example, "        Er gwaethaf yr heriau, mae Cam 1 prosiect Cohes3ion wedi bod yn "
           "llwyddiant mawr:", "        Llwyddiant:")
    change(example, "heading:\n      cy: Edrych yn ôl ar rai o gerrig milltir allweddol y "
           "prosiect", "heading:\n      cy: Cerrig milltir")
    code, output = check(example)
    assert code == 0, output
    assert "warning parity-length" in output and "sections[2].heading (en)" in output


def test_send_refuses_an_issue_with_a_placeholder(example: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULLETIN_SECRET_KEY", "k" * 32)
    change(example, "cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol",
           "cy: \"[Cyfieithiad i ddilyn] Cyhoeddi\"")
    code, output = bulletin("send", str(example), "--dry-run", "--yes", "--config",
                            str(example.parent.parent / "bulletin.toml"))
    assert code == 1, output
    assert "translation-placeholder" in output or "translation still to come" in output


@pytest.mark.parametrize("field", ["title", "heading", "body", "button"])
def test_a_heading_body_button_or_title_written_once_is_untranslated(
        example: Path, field: str) -> None:
    old = "  - heading:\n      cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol\n" \
          "      en: Regional Action Plans Published\n"
    new = {"title": old.replace("  - heading:", "title: Regional Action Plans\nsections:\n"
                                "  - heading:", 1),
           "heading": "  - heading: Regional Action Plans Published\n",
           "body": "  - body: Only in English, for everyone.\n" + old,
           "button": old + "    button:\n      text: The regional action plans\n"
                           "      url: https://www.gov.wales/plans\n"}[field]
    if field == "title":
        change(example, "sections:\n" + old, new)
    else:
        change(example, old, new)
    code, output = check(example)
    assert code == 1, output
    name = {"title": "title", "heading": "sections[0].heading", "body": "sections[0].body",
            "button": "sections[0].button.text"}[field]
    line = line_of(example, {"title": "title:", "heading": "- heading: Regional",
                             "body": "- body: Only", "button": "text: The regional"}[field])
    assert f"{example}:{line}: {name}: written once" in output, output


def test_a_placeholder_in_the_newsletters_settings_is_an_error_naming_bulletin_toml(
        example: Path) -> None:
    config = example.parent.parent / "bulletin.toml"
    text = config.read_text()
    start = text.index("[newsletters.cohes3ion-bilingual.about]")
    end = text.index("[[newsletters.cohes3ion-bilingual.social]]")
    config.write_text(text[:start] + '[newsletters.cohes3ion-bilingual.about]\n'
                      'heading = { cy = "Amdanom", en = "About" }\n'
                      'body.cy = "[Cyfieithiad i ddilyn / Welsh translation to follow]"\n'
                      'body.en = "COHES3ION will integrate local and regional priorities."\n\n'
                      + text[end:])
    line = line_of(config, "body.cy =")
    code, output = check(example)
    assert code == 1, output
    assert f"{config}:{line}: newsletters.cohes3ion-bilingual.about.body (cy): " \
        "'Cyfieithiad i ddilyn' marks a translation" in \
        " ".join(output.split()), output


@pytest.mark.parametrize("pattern", ["", "x*", "(?:)"])
def test_a_placeholder_pattern_matching_empty_text_is_a_settings_error(
        example: Path, pattern: str) -> None:
    config = example.parent.parent / "bulletin.toml"
    config.write_text(config.read_text() + '\n[newsletters.cohes3ion-bilingual.parity]\n'
                      f'placeholders = ["{pattern}"]\n')
    code, output = check(example)
    assert code != 0 and output.startswith("Error: ") and len(output.splitlines()) == 1, output
    assert "parity.placeholders" in output and "matches empty text" in output, output


def test_a_language_listed_twice_is_a_settings_error(example: Path) -> None:
    config = example.parent.parent / "bulletin.toml"
    text = config.read_text()
    config.write_text(text.replace('languages = ["cy", "en"]', 'languages = ["cy", "en", "cy"]',
                                   1))
    code, output = check(example)
    assert code != 0 and output.startswith("Error: ") and len(output.splitlines()) == 1, output
    assert "newsletters.cohes3ion-bilingual.languages: 'cy' is listed twice" in output, output


def test_an_event_to_be_confirmed_is_not_a_translation_placeholder(example: Path) -> None:
    """"TBC" is English content (a date or venue to be confirmed), translated as "i'w
    gadarnhau": not a sign of a missing translation, and no setting could turn it off."""
    change(example, "en: Regional Action Plans Published",
           "en: \"Regional Action Plans Published (launch event: date TBC)\"")
    change(example, "cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol",
           "cy: \"Cyhoeddi Cynlluniau Gweithredu Rhanbarthol (digwyddiad lansio: dyddiad i'w "
           "gadarnhau)\"")
    code, output = check(example)
    assert code == 0, output


def test_a_link_alike_in_both_languages_is_not_untranslated_text(example: Path) -> None:
    """What is compared is the words a reader reads: a long address behind a short name,
    the same in every language (a project's name), is not text left untranslated."""
    link = "[Cohes3ion](https://www.interregeurope.eu/cohes3ion/library#regional-action-plans)"
    change(example, "  - heading:\n      cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol\n",
           f"  - body:\n      cy: \"{link}\"\n      en: \"{link}\"\n"
           "  - heading:\n      cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol\n")
    code, output = check(example)
    assert code == 0, output


def test_force_does_not_send_a_translation_placeholder(example: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Other check errors can be sent past with a reason; a translation still to come never."""
    monkeypatch.setenv("BULLETIN_SECRET_KEY", "k" * 32)
    change(example, "cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol",
           "cy: \"[Cyfieithiad i ddilyn] Cyhoeddi\"")
    code, output = bulletin("send", str(example), "--dry-run", "--yes", "--force",
                            "the board said so", "--config",
                            str(example.parent.parent / "bulletin.toml"))
    assert code == 1, output
    assert "--force does not send a translation still to come" in " ".join(output.split())
    assert "translation-placeholder" in output


def test_todo_in_small_letters_is_a_word_not_a_placeholder(example: Path) -> None:
    """"todo" is Spanish and Portuguese for "all"; only TODO in capitals marks unfinished text."""
    change(example, "cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol",
           "cy: \"Cyhoeddi Cynlluniau Gweithredu Rhanbarthol (todo)\"")
    code, output = check(example)
    assert code == 0, output
    assert "translation-placeholder" not in output, output
