"""Answer files: validation with file and line, coverage, and last-good reloads."""

from __future__ import annotations

from pathlib import Path

from bot.catalogue import Catalogue
from bot.content import ContentStore


def test_every_intent_is_answered_in_every_language(content: ContentStore, catalogue: Catalogue) -> None:
    answered = [
        intent for intent in catalogue.intents if intent not in catalogue.ui_reply_intents
    ]  # UI strings instead
    missing = [(lang, i) for lang in catalogue.languages for i in answered if content.get(lang, i) is None]
    assert missing == []
    assert content.last_report.errors == []


def test_answers_carry_source_review_state_and_valid_follow_ups(content: ContentStore, catalogue: Catalogue) -> None:
    for answer in content.answers():
        assert answer.source, answer.location
        assert answer.is_draft or answer.reviewed_on is not None
        assert all(name in catalogue.intents for name in answer.follow_up)
        assert all(link.url.startswith("https://") for link in answer.links)
        assert len(answer.text) <= 4096


def test_emergency_and_violence_answers_put_112_first(content: ContentStore, catalogue: Catalogue) -> None:
    for language in catalogue.languages:
        for intent in ("emergency", "domestic_violence"):
            text = content.get(language, intent).filled_text(content.facts)  # type: ignore[union-attr]
            first_number = next(word.strip("*:.,()") for word in text.split() if any(c.isdigit() for c in word))
            assert first_number.startswith("112"), (language, intent, text[:80])


def break_file(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_broken_edit_keeps_the_last_good_version_and_names_file_and_line(content: ContentStore) -> None:
    path = content.city_dir / "en" / "housing.yml"
    before = content.get("en", "find_housing")
    assert before is not None
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "  text: [unclosed")  # a staff member's typo, on line 4
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert content.changed_files()
    report = content.reload()
    assert report.kept_last_good == [path]
    assert any(p.path == path and p.line >= 4 and "YAML" in p.message for p in report.errors)
    assert content.get("en", "find_housing") == before  # nothing goes blank
    assert not content.changed_files()  # the broken version is not re-read on every poll


def test_field_mistakes_are_reported_with_a_suggestion(content: ContentStore) -> None:
    path = content.city_dir / "en" / "housing.yml"
    break_file(path, "follow_up:", "folow_up:")
    report = content.reload()
    messages = [str(p) for p in report.errors]
    assert any("'folow_up' is not a known field (did you mean 'follow_up'?)" in m for m in messages)
    assert all(str(path) in m for m in messages)


def test_first_load_of_a_broken_file_keeps_its_good_answers(tmp_path: Path, catalogue: Catalogue) -> None:
    folder = tmp_path / "city" / "en"
    folder.mkdir(parents=True)
    (folder / "a.yml").write_text(
        "find_housing:\n  title: Housing\n  text: Find a flat.\n  source: Brussels\n  status: draft\n"
        "social_housing:\n  title: Social housing\n  text: '**unclosed'\n  source: SLRB\n  status: draft\n"
        "rental_deposit:\n  title: Deposit\n  text: Deposit.\n  source: Fonds\n  status: reviewed\n"
        "tenant_rights:\n  title: Rights\n  text: Rights.\n  source: Brussels\n  status: reviewed\n"
        "  reviewed_by: A. Staff\n  reviewed_on: 2026-11-20\n"
        "  follow_up: [find_housing, no_such_intent]\n",
        encoding="utf-8",
    )
    store = ContentStore(tmp_path / "city", catalogue)
    report = store.reload()
    by_line = {p.line: p.message for p in report.problems}
    assert "'**' opens bold text" in by_line[8]
    assert "needs 'reviewed_by:'" in by_line[15]  # reviewed, but by whom?
    assert "no_such_intent" in by_line[23]  # a warning: the file still loads
    assert store.get("en", "find_housing") is not None
    assert store.get("en", "social_housing") is None
    rights = store.get("en", "tenant_rights")
    assert rights is not None and not rights.is_draft and rights.follow_up == ("find_housing",)
