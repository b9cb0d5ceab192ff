"""What a city is, as data: ``responses/<city>/city.yml`` (names, languages, time zone, offices,
emergency numbers, intents disabled or added), the opening-hours status and the office card.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from yaml.nodes import Node, SequenceNode

from bot import messages as m
from bot.catalogue import Catalogue
from bot.facts import Fact, FactRegistry, WeeklyHours, format_clock, render
from bot.i18n import Translations, is_rtl
from bot.yamldoc import Problem, compose, mapping, node_line, scalar_text

OSM_SEARCH = "https://www.openstreetmap.org/search?query="
_Report = Callable[[Node | None, str], None]  # error(node, message)
_OFFICE_FACTS = {"address": "address", "phone": "phone", "website": "url", "hours": "hours"}


@dataclass(frozen=True)
class Office:
    """A reception office card; its details are fact keys of the city's registry."""

    id: str
    name: str
    address: str | None = None
    phone: str | None = None
    website: str | None = None
    hours: str | None = None
    handoff: bool = False


@dataclass(frozen=True)
class DisabledIntent:
    """A catalogue intent that does not apply in the city, and what to read instead."""

    instead: tuple[str, ...] = ()


@dataclass(frozen=True)
class City:
    """One city's settings from ``city.yml``."""

    key: str
    names: dict[str, str]
    country: str
    time_zone: str
    languages: tuple[str, ...]
    default_language: str
    original_language: str
    offices: tuple[Office, ...] = ()
    emergency_numbers: tuple[str, ...] = ()
    disabled: dict[str, DisabledIntent] = field(default_factory=dict)
    added: dict[str, str] = field(default_factory=dict)  # intent -> topic

    def name(self, language: str) -> str:
        """The city's display name in ``language`` (the default language's when not given)."""
        return self.names.get(language) or self.names.get(self.default_language) or self.key

    @property
    def zone(self) -> ZoneInfo:
        """The city's time zone."""
        return ZoneInfo(self.time_zone)

    @property
    def handoff_office(self) -> Office | None:
        """The office whose counsellors answer the live hand-off."""
        return next((office for office in self.offices if office.handoff), None)

    def intents(self, catalogue: Catalogue) -> tuple[str, ...]:
        """Every intent the city's model and answers know: the catalogue's plus the city's own."""
        return catalogue.intents + tuple(intent for intent in self.added if intent not in catalogue.intents)

    def topic_of(self, intent: str, catalogue: Catalogue) -> str | None:
        """The menu topic of an intent, the city's added intents included."""
        return self.added.get(intent) or catalogue.topic_of(intent)


def default_city(key: str, catalogue: Catalogue) -> City:
    """What a folder without ``city.yml`` gets, so it can still be checked and served."""
    return City(
        key=key,
        names={},
        country="",
        time_zone="UTC",
        languages=catalogue.languages,
        default_language=catalogue.languages[0],
        original_language=catalogue.languages[0],
    )


def load_city(city_dir: Path, catalogue: Catalogue, facts: FactRegistry) -> tuple[City, list[Problem]]:
    """Read and validate ``city.yml``; problems come with file:line, never as exceptions."""
    path = city_dir / "city.yml"
    fallback = default_city(city_dir.name, catalogue)
    if not path.is_file():
        return fallback, [Problem(path, 1, "no city.yml: copy one from another city and edit it", blocking=False)]
    root, problems = compose(path)
    fields = mapping(root)
    if fields is None:
        if root is not None:
            problems.append(Problem(path, node_line(root), "expected fields such as 'name:' and 'languages:'"))
        return fallback, problems

    def error(at: Node | None, message: str) -> None:
        problems.append(Problem(path, node_line(at) if at is not None else 1, message))

    def node(name: str) -> Node | None:
        entry = fields.get(name)
        return entry[1] if entry else None

    languages = _codes(node("languages"), error) or catalogue.languages
    for language in languages:
        if language not in catalogue.languages:
            error(node("languages"), f"languages: {language!r} is not a language of the catalogue")
    defaults = {}
    for name in ("default_language", "original_language"):
        value = scalar_text(node(name)) or languages[0]
        if value not in languages:
            error(node(name), f"{name}: {value!r} is not in 'languages'")
        defaults[name] = value
    time_zone = scalar_text(node("time_zone")) or ""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        error(node("time_zone"), f"time_zone: {time_zone!r} is not an IANA time zone such as Europe/Paris")
        time_zone = "UTC"
    names = {key: scalar_text(value) or "" for key, (_k, value) in (mapping(node("name")) or {}).items()}
    if not names:
        error(node("name") or root, "name: give the city's name per language (fr: …, en: …)")
    added = _added(node("intents"), catalogue, error)
    city = City(
        key=city_dir.name,
        names=names,
        country=scalar_text(node("country")) or "",
        time_zone=time_zone,
        languages=languages,
        default_language=defaults["default_language"],
        original_language=defaults["original_language"],
        offices=_offices(node("offices"), facts, error),
        emergency_numbers=_emergency_numbers(node("emergency_numbers"), facts, error),
        disabled=_disabled(node("intents"), catalogue, set(added), error),
        added=added,
    )
    return city, problems


def _codes(node: Node | None, error: _Report) -> tuple[str, ...]:
    if node is None:
        return ()
    if not isinstance(node, SequenceNode):
        error(node, "languages: a list such as [fr, en, ar]")
        return ()
    return tuple(text for item in node.value if (text := scalar_text(item)))


def _fact_key(node: Node | None, facts: FactRegistry, fact_type: str, what: str, error: _Report) -> str | None:
    key = scalar_text(node)
    if key is None:
        return None
    fact = facts.get(key)
    if fact is None:
        error(node, f"{what}: {key!r} is not a fact of facts.yml")
        return None
    if fact.type != fact_type:
        error(node, f"{what}: {key!r} is a {fact.type} fact, expected a {fact_type}")
        return None
    return key


def _offices(node: Node | None, facts: FactRegistry, error: _Report) -> tuple[Office, ...]:
    if node is None:
        return ()
    if not isinstance(node, SequenceNode):
        error(node, "offices: a list of '- id: … name: …' entries")
        return ()
    offices = []
    for entry in node.value:
        fields = {name: value for name, (_key, value) in (mapping(entry) or {}).items()}
        office_id, name = scalar_text(fields.get("id")), scalar_text(fields.get("name"))
        if not office_id or not name:
            error(entry, "offices: each office needs an 'id' and a 'name'")
            continue
        details = {
            detail: _fact_key(fields.get(detail), facts, fact_type, f"offices.{office_id}.{detail}", error)
            for detail, fact_type in _OFFICE_FACTS.items()
        }
        handoff = (scalar_text(fields.get("handoff")) or "false").lower() == "true"
        offices.append(Office(id=office_id, name=name, handoff=handoff, **details))
    return tuple(offices)


def _emergency_numbers(node: Node | None, facts: FactRegistry, error: _Report) -> tuple[str, ...]:
    if node is None:
        return ()
    if not isinstance(node, SequenceNode):
        error(node, "emergency_numbers: a list of phone fact keys")
        return ()
    keys = (_fact_key(item, facts, "phone", "emergency_numbers", error) for item in node.value)
    return tuple(key for key in keys if key)


def _intents_section(node: Node | None, section: str) -> dict[str, tuple[Node, Node]]:
    entry = (mapping(node) or {}).get(section)
    return mapping(entry[1]) or {} if entry else {}


def _added(node: Node | None, catalogue: Catalogue, error: _Report) -> dict[str, str]:
    added = {}
    for intent, (key_node, value) in _intents_section(node, "added").items():
        topic_entry = (mapping(value) or {}).get("topic")
        topic = scalar_text(topic_entry[1]) if topic_entry else None
        if intent in catalogue.intents:
            error(key_node, f"intents.added: {intent!r} is already an intent of the shared catalogue")
        elif topic not in catalogue.menu_topics:
            error(value, f"intents.added.{intent}: topic must be one of {', '.join(catalogue.menu_topics)}")
        else:
            added[intent] = topic
    return added


def _disabled(node: Node | None, catalogue: Catalogue, added: set[str], error: _Report) -> dict[str, DisabledIntent]:
    disabled = {}
    for intent, (key_node, value) in _intents_section(node, "disabled").items():
        if intent not in catalogue.intents:
            error(key_node, f"intents.disabled: {intent!r} is not an intent of the catalogue")
            continue
        instead_entry = (mapping(value) or {}).get("instead")
        instead_node = instead_entry[1] if instead_entry else None
        items = instead_node.value if isinstance(instead_node, SequenceNode) else []
        instead = tuple(text for item in items if (text := scalar_text(item)))
        for name in instead:
            if name not in catalogue.intents and name not in added:
                error(instead_node, f"intents.disabled.{intent}: instead {name!r} is not an intent")
        disabled[intent] = DisabledIntent(tuple(n for n in instead if n in catalogue.intents or n in added))
    return disabled


# ----- opening hours and the office card -------------------------------------------------------


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening hours in a city's time zone, able to say whether the office is open now."""

    week: WeeklyHours
    zone: ZoneInfo
    translations: Translations

    def is_open(self, now: dt.datetime) -> bool:
        """True while ``now`` falls in one of the day's opening periods (city time)."""
        local = now.astimezone(self.zone)
        return any(period.contains(local.time()) for period in self.week[local.weekday()])

    def status(self, now: dt.datetime, language: str) -> str:
        """ "Open now, until 17:00" or "Closed. Opens Monday at 09:00", in ``language``."""
        _ = self.translations.translator(language)
        locale = Locale.parse(language)
        local = now.astimezone(self.zone)
        for period in self.week[local.weekday()]:
            if period.contains(local.time()):
                return _("Open now, until {time}").format(time=format_clock(period.end, locale))
        for days_ahead in range(8):
            day = local.date() + dt.timedelta(days=days_ahead)
            for period in self.week[day.weekday()]:
                if days_ahead == 0 and period.start <= local.time():
                    continue
                time = format_clock(period.start, locale)
                if days_ahead == 0:
                    return _("Closed. Opens today at {time}").format(time=time)
                if days_ahead == 1:
                    return _("Closed. Opens tomorrow at {time}").format(time=time)
                weekday = locale.days["format"]["wide"][day.weekday()]
                return _("Closed. Opens {day} at {time}").format(day=weekday, time=time)
        return _("No verified opening hours; see the website.")


def office_hours(
    office: Office | None, city: City, facts: FactRegistry, translations: Translations
) -> OpeningHours | None:
    """The office's verified opening hours, or None when the registry has none."""
    hours = facts.get(office.hours) if office is not None and office.hours else None
    return OpeningHours(hours.weekly_hours, city.zone, translations) if hours is not None else None


def map_url(address: str) -> str:
    """An OpenStreetMap search for the address text: derived from the registry, not invented."""
    return OSM_SEARCH + quote_plus(address)


def office_card(
    office: Office,
    city: City,
    facts: FactRegistry,
    translations: Translations,
    language: str,
    now: dt.datetime,
) -> m.OutgoingMessage:
    """The office's name, address, phone, website and whether it is open now, with its buttons."""
    _ = translations.translator(language)

    def fact(key: str | None) -> Fact | None:
        return facts.get(key) if key else None

    lines = [f"**{office.name}**"]
    rows: list[m.ButtonRow] = []
    address = fact(office.address)
    if address is not None:
        lines.append(render(address, language))
        rows.append((m.LinkButton(_("Map"), map_url(str(address.value))),))
    phone = fact(office.phone)
    if phone is not None:
        lines.append(_("Phone: {number}").format(number=render(phone, language)))
    website = fact(office.website)
    if website is not None:
        lines.append(render(website, language))
    hours = fact(office.hours)
    opening = office_hours(office, city, facts, translations)
    if hours is not None and opening is not None:
        lines.append(opening.status(now, language))
        lines.append(render(hours, language))
    else:
        lines.append(_("No verified opening hours; see the website."))
    if office.handoff:
        rows.append((m.Button(_("Write to a counsellor here"), m.ACTION_COUNSELLOR),))
    return m.OutgoingMessage("\n".join(lines), language, tuple(rows), is_rtl(language))
