"""Answers in a city pack: facts by key, hand-written values refused with file:line and the key to
use, versions of originals, stale translations served as drafts, drift between languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalogue import Catalogue
from bot.checks import coverage
from bot.content import ContentStore
from bot.stamp import stamp_translations
from tests.conftest import TODAY


def edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` once; returns the 1-based line where the new text starts."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def reloaded(store: ContentStore) -> list[str]:
    return [str(problem) for problem in store.reload().problems]


def test_the_fixture_city_loads_clean(riverton: ContentStore, catalogue: Catalogue) -> None:
    errors = [p for p in riverton.last_report.problems if p.severity == "error"]
    assert errors == []
    assert riverton.get("fr", "domiciliation") is not None  # an added intent of this city
    assert riverton.intents == (*catalogue.intents, "domiciliation")
    permit = riverton.get("fr", "residence_permit")
    assert permit is not None and permit.fact_keys == ["doc_line", "register_deadline"]
    assert permit.link_facts == ["welcome_site"] and permit.links[0].url == "https://example.org/welcome"
    assert permit.filled_text(riverton.facts).startswith("Carte perdue : bloquez-la avec 00800 1111 2222")
    assert "8\xa0jours" in permit.filled_text(riverton.facts)


@pytest.mark.parametrize(
    ("written", "kind", "hint"),
    [
        ("Appelez le 00800 1111 2222.", "phone number", "write {{doc_line}} instead"),
        ("Appelez le 02 555 66 77.", "phone number", "add it to facts.yml"),
        ("En danger : faites le 112.", "phone number", "write {{emergency_112}} instead"),
        ("Voir https://example.org/welcome/ ici.", "web address", "write {{welcome_site}} instead"),
        ("Voir www.example.org/welcome.", "web address", "write {{welcome_site}} instead"),
        ("Voir service-public.fr.", "web address", "add it to facts.yml"),
        ("Allez au 1 rue de l'Exemple.", "postal address", "write {{welcome_address}} instead"),
        ("Adresse : 99999 Riverton.", "postal address", "write {{welcome_address}} instead"),
    ],
)
def test_a_value_written_by_hand_is_an_error_with_file_line_and_key(
    riverton: ContentStore, written: str, kind: str, hint: str
) -> None:
    path = riverton.city_dir / "fr" / "answers.yml"
    line = edit(path, "text: Answer about legal_aid.", f'text: "{written}"')
    problems = reloaded(riverton)
    expected = f"{path}:{line}: error: legal_aid: {kind} written by hand"
    assert any(p.startswith(expected) and hint in p for p in problems), problems
    assert riverton.get("fr", "legal_aid") is not None  # still served; check fails on it


def test_ordinary_numbers_are_not_phone_numbers(riverton: ContentStore) -> None:
    path = riverton.city_dir / "fr" / "answers.yml"
    edit(path, "text: Answer about legal_aid.", "text: En 2026, 15 % des 200 places, p.ex. 3 mois.")
    problems = reloaded(riverton)
    assert not [p for p in problems if "written by hand" in p]


def test_unknown_fact_key_and_literal_link_url(riverton: ContentStore) -> None:
    path = riverton.city_dir / "fr" / "answers.yml"
    line = edit(path, "text: Answer about legal_aid.", "text: Appelez {{doc_lin}}.")
    problems = reloaded(riverton)
    assert any(f"{path}:{line}:" in p and "{{doc_lin}} is not a fact" in p and "'doc_line'" in p for p in problems)
    kept = riverton.get("fr", "legal_aid")  # an unknown key would show "{{doc_lin}}": the last good file stays
    assert kept is not None and kept.text == "Answer about legal_aid."
    edit(
        path, "text: Appelez {{doc_lin}}.", "text: ok\n  links:\n  - label: Site\n    url: https://example.org/welcome"
    )
    problems = reloaded(riverton)
    assert any("link with a literal url" in p and "write 'fact: welcome_site'" in p for p in problems), problems


def test_versions_stale_translations_and_drift(riverton: ContentStore) -> None:
    assert stamp_translations(riverton)  # every translation now records the original's version
    reloaded(riverton)
    version = riverton.version("residence_permit")
    assert version is not None and len(version) == 8
    english = riverton.get("en", "residence_permit")
    assert english is not None and english.translated_from == version and not english.stale
    # Drift: the Arabic translation lacks the deadline fact and the link (line of the intent).
    drift = [p for p in riverton.last_report.problems if "drift" in p.message and "residence_permit" in p.message]
    assert {(p.path.parent.name, p.message.split("drift: ")[1]) for p in drift} == {
        ("ar", "the original has fact 'register_deadline', this translation does not"),
        ("ar", "the original has link 'welcome_site', this translation does not"),
    }
    # Changing a fact the original uses changes its version: the translations become stale drafts.
    edit(riverton.city_dir / "facts.yml", '"00800 1111 2222"', '"00800 1111 3333"')
    problems = reloaded(riverton)
    assert riverton.version("residence_permit") != version
    english = riverton.get("en", "residence_permit")
    assert english is not None and english.stale and english.is_draft and english.review_state == "stale"
    assert any("en/answers.yml" in p and "stale translation" in p and version in p for p in problems)
    assert coverage(riverton)["residence_permit", "en"] == "stale"
    assert coverage(riverton)["legal_aid", "en"] == "draft"


def test_a_reviewed_stale_translation_is_not_presented_as_checked(riverton: ContentStore) -> None:
    stamp_translations(riverton)
    path = riverton.city_dir / "en" / "answers.yml"
    edit(
        path,
        "status: draft\n  translated_from",
        "status: reviewed\n  reviewed_by: A. Staff\n  reviewed_on: 2026-11-20\n  translated_from",
    )
    reloaded(riverton)
    reviewed = [a for a in riverton.answers() if a.language == "en" and a.status == "reviewed"]
    assert len(reviewed) == 1 and not reviewed[0].is_draft
    original = riverton.city_dir / "fr" / "answers.yml"
    edit(original, f"text: Answer about {reviewed[0].intent}.", f"text: Changed answer about {reviewed[0].intent}.")
    reloaded(riverton)
    now = riverton.get("en", reviewed[0].intent)
    assert now is not None and now.status == "reviewed" and now.stale and now.is_draft


def test_coverage_marks_disabled_and_missing(riverton: ContentStore) -> None:
    (riverton.city_dir / "ar" / "answers.yml").write_text(
        "greet:\n  title: مرحبا\n  text: مرحبا.\n  source: Fixture\n  status: draft\n", encoding="utf-8"
    )
    reloaded(riverton)
    table = coverage(riverton)
    assert table["dutch_course", "fr"] == "disabled"
    assert table["domiciliation", "fr"] == "draft"
    assert table["find_job", "ar"] == "missing"
    assert table["greet", "ar"] == "stale"  # no translated_from yet: served as a draft
    assert {language for _intent, language in table} == {"fr", "en", "ar"}


def test_stamp_keeps_comments_and_order(riverton: ContentStore) -> None:
    path = riverton.city_dir / "en" / "answers.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text("# Reviewed by the office, do not remove this comment\n" + text, encoding="utf-8")
    reloaded(riverton)
    stamped = stamp_translations(riverton)
    assert path in stamped and "fr" not in {p.parent.name for p in stamped}
    after = path.read_text(encoding="utf-8")
    assert after.startswith("# Reviewed by the office, do not remove this comment\n")
    without_stamps = "\n".join(line for line in after.splitlines() if "translated_from" not in line)
    assert without_stamps + "\n" == "# Reviewed by the office, do not remove this comment\n" + text
    reloaded(riverton)
    assert stamp_translations(riverton) == {}  # nothing left to stamp


def test_fact_freshness_uses_the_injected_today(cities_dir: Path, catalogue: Catalogue) -> None:
    later = ContentStore(
        cities_dir / "riverton", catalogue, fact_max_age_days=30, today=lambda: TODAY.replace(year=2027)
    )
    problems = [str(p) for p in later.reload().problems]
    assert any("facts.yml" in p and "doc_line: checked" in p and "(more than 30)" in p for p in problems)
