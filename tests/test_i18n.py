"""UI catalogs: every language's catalog compiles, loads and translates; endonyms and direction."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalogue import Catalogue
from bot.i18n import LOCALE_DIR, Translations, endonym, is_rtl
from bot.settings import PROJECT_ROOT


def test_every_language_has_a_loaded_catalog(translations: Translations, catalogue: Catalogue) -> None:
    assert translations.problems == []
    for language in catalogue.languages:
        assert translations.has_catalog(language)
        translated = translations.gettext(language, "Choose your language:")
        assert translated, language
        if language != "en":
            assert translated != "Choose your language:", f"{language} catalog did not translate"


def test_every_message_is_translated_with_its_placeholders(catalogue: Catalogue) -> None:
    from babel.messages.pofile import read_po

    for language in catalogue.languages:
        if language == "en":
            continue
        path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            po = read_po(handle)
        for message in po:
            if not message.id:
                continue
            assert message.string, f"{path}: {message.id!r} is not translated"
            for placeholder in ("{language}", "{days}", "{source}"):
                if placeholder in str(message.id):
                    assert placeholder in str(message.string), f"{path}: {message.id!r}"


def test_catalogs_match_the_template() -> None:
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    for path in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"):
        with path.open("rb") as handle:
            ids = {m.id for m in read_po(handle) if m.id}
        assert template <= ids, f"{path} lacks {template - ids}; run make catalogs"


def test_broken_catalog_is_reported_and_english_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text('a stray line\nmsgid "Menu"\nmsgstr "Carte"\n', encoding="utf-8")
    translations = Translations.load(["fr"], tmp_path)
    assert len(translations.problems) == 1 and "messages.po" in str(translations.problems[0])
    assert translations.gettext("fr", "Menu") == "Menu"


def test_a_mistyped_placeholder_is_reported_with_its_line_and_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid "Menu"\nmsgstr "Le menu"\n\nmsgid "Source: {source}"\nmsgstr "Source : {sourse}"\n',
        encoding="utf-8",
    )
    translations = Translations.load(["fr"], tmp_path)
    assert [str(p) for p in translations.problems] == [
        f"{folder / 'messages.po'}: line 4: translation uses {{sourse}}, which 'Source: {{source}}' does not have"
    ]
    assert translations.gettext("fr", "Source: {source}").format(source="CPAS") == "Source: CPAS"
    assert translations.gettext("fr", "Menu") == "Le menu"


@pytest.mark.parametrize(
    ("language", "name", "rtl"),
    [
        ("fr", "Français", False),
        ("nl", "Nederlands", False),
        ("ar", "العربية", True),
        ("fa", "فارسی", True),
        ("uk", "Українська", False),
        ("tr", "Türkçe", False),
    ],
)
def test_endonyms_and_direction_come_from_babel(language: str, name: str, rtl: bool) -> None:
    assert endonym(language) == name
    assert is_rtl(language) is rtl


def test_source_strings_are_extracted(catalogue: Catalogue) -> None:
    """A marked string missing from the template would never be translated."""
    import re

    with (LOCALE_DIR / "messages.pot").open(encoding="utf-8") as handle:
        template = handle.read()
    source = (PROJECT_ROOT / "bot" / "dialogue.py").read_text(encoding="utf-8")
    for literal in re.findall(r'_\("([^"]+)"\)', source):
        assert f'"{literal}"' in template or literal[:40] in template, literal
