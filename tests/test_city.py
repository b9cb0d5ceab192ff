"""city.yml loading and validation, opening-hours status in the city's time zone, the office card."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import messages as m
from bot.catalogue import Catalogue
from bot.city import OpeningHours, map_url, office_card, office_hours
from bot.content import ContentStore
from bot.i18n import Translations
from tests.citypack import write_riverton

PARIS = ZoneInfo("Europe/Paris")


def hours(store: ContentStore, translations: Translations) -> OpeningHours:
    fact = store.facts.facts["welcome_hours"]
    return OpeningHours(fact.weekly_hours, store.city.zone, translations)


def test_city_yml_is_loaded(riverton: ContentStore) -> None:
    city = riverton.city
    assert city.name("ar") == "ريفرتون" and city.name("es") == "Riverton-sur-Loire"  # default language's
    assert city.languages == ("fr", "en", "ar") and city.original_language == "fr"
    assert city.handoff_office is not None and city.handoff_office.hours == "welcome_hours"
    assert city.emergency_numbers == ("emergency_112", "samu_15")
    assert city.disabled["dutch_course"].instead == ("french_course",)
    assert city.added == {"domiciliation": "services"}
    assert [p for p in riverton.last_report.problems if "city.yml" in str(p.path)] == []


@pytest.mark.parametrize(
    ("local_time", "language", "expected"),
    [
        (dt.datetime(2026, 11, 30, 10, 0), "en", "Open now, until 12:30 PM"),  # Monday morning
        (dt.datetime(2026, 11, 30, 12, 45), "en", "Closed. Opens today at 1:30 PM"),
        (dt.datetime(2026, 11, 30, 18, 0), "en", "Closed. Opens Wednesday at 9:00 AM"),
        (dt.datetime(2026, 12, 1, 18, 0), "en", "Closed. Opens tomorrow at 9:00 AM"),
        (dt.datetime(2026, 12, 2, 13, 0), "fr", "Fermé. Ouvre lundi à 09:00"),
    ],
)
def test_status_in_the_city_time_zone(
    riverton: ContentStore, translations: Translations, local_time: dt.datetime, language: str, expected: str
) -> None:
    now = local_time.replace(tzinfo=PARIS).astimezone(dt.UTC)  # the clock gives UTC
    assert hours(riverton, translations).status(now, language).replace("\u202f", " ") == expected


def test_open_status_is_localised(riverton: ContentStore, translations: Translations) -> None:
    now = dt.datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
    assert hours(riverton, translations).status(now, "fr") == "Ouvert maintenant, jusqu'à 17:00"


def test_office_card_has_facts_map_hours_and_the_counsellor_button(
    riverton: ContentStore, translations: Translations
) -> None:
    office = riverton.city.offices[0]
    now = dt.datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
    card = office_card(office, riverton.city, riverton.facts, translations, "en", now)
    assert card.text.splitlines()[:4] == [
        "**Welcome desk**",
        "1 rue de l'Exemple, 99999 Riverton",
        "Phone: 01 23 45 67 89",
        "[example.org/welcome](https://example.org/welcome)",
    ]
    assert "Open now, until 12:30" in card.text.replace("\u202f", " ")
    buttons = [button for row in card.buttons for button in row]
    assert m.LinkButton("Map", map_url("1 rue de l'Exemple, 99999 Riverton")) in buttons
    assert map_url("1 rue X, 99999 Y") == "https://www.openstreetmap.org/search?query=1+rue+X%2C+99999+Y"
    assert m.Button("Write to a counsellor here", m.ACTION_COUNSELLOR) in buttons


def test_office_without_hours_says_so(tmp_path: Path, catalogue: Catalogue, translations: Translations) -> None:
    city_dir = write_riverton(tmp_path, catalogue)
    city_yml = city_dir / "city.yml"
    city_yml.write_text(city_yml.read_text().replace("    hours: welcome_hours\n", ""), encoding="utf-8")
    store = ContentStore(city_dir, catalogue)
    store.reload()
    card = office_card(store.city.offices[0], store.city, store.facts, translations, "en", dt.datetime.now(dt.UTC))
    assert "No verified opening hours; see the website." in card.text


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("time_zone: Europe/Paris", "time_zone: Europe/Riverton", "not an IANA time zone"),
        ("    phone: welcome_phone", "    phone: welcome_site", "is a url fact, expected a phone"),
        ("emergency_numbers: [emergency_112, samu_15]", "emergency_numbers: [nope]", "not a fact of facts.yml"),
        ("dutch_course: {instead", "dutch_courses: {instead", "not an intent of the catalogue"),
        ("domiciliation: {topic: services}", "domiciliation: {topic: weather}", "topic must be one of"),
        ("default_language: fr", "default_language: nl", "is not in 'languages'"),
    ],
)
def test_city_yml_mistakes_have_a_line(tmp_path: Path, catalogue: Catalogue, old: str, new: str, message: str) -> None:
    city_dir = write_riverton(tmp_path, catalogue)
    path = city_dir / "city.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    store = ContentStore(city_dir, catalogue)
    store.reload()
    matching = [p for p in store.last_report.problems if message in p.message]
    assert matching and matching[0].path == path
    expected_line = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if new.strip() in line)
    assert matching[0].line == expected_line


def test_office_hours_say_whether_the_handoff_office_is_open(
    riverton: ContentStore, translations: Translations
) -> None:
    opening = office_hours(riverton.city.handoff_office, riverton.city, riverton.facts, translations)
    assert opening is not None
    paris = ZoneInfo("Europe/Paris")
    assert opening.is_open(dt.datetime(2026, 11, 30, 10, 0, tzinfo=paris))  # Monday morning
    assert not opening.is_open(dt.datetime(2026, 11, 30, 13, 0, tzinfo=paris))  # lunch break
    assert not opening.is_open(dt.datetime(2026, 12, 1, 10, 0, tzinfo=paris))  # Tuesday: closed
    assert "9:00" in opening.status(dt.datetime(2026, 12, 1, 10, 0, tzinfo=paris), "fr")  # opens Wednesday
