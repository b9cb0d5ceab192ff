"""The fact registry of a city: ``responses/<city>/facts.yml``, loaded into typed, validated facts.

Every phone number, web address, postal address, opening hours, amount, duration and date exists
once, with the page it comes from. Answers refer to a fact as ``{{key}}``; :func:`fill` puts in the
value formatted for the reader's language with Babel.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency
from babel.units import format_unit
from yaml.nodes import Node, SequenceNode

from bot.yamldoc import Problem, compose, mapping, node_line, scalar_text

logger = logging.getLogger(__name__)

FACT_TYPES = ("phone", "url", "email", "address", "hours", "amount", "duration", "date", "text")
DURATION_UNITS = ("hour", "day", "week", "month", "year")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_PHONE_FLAGS = ("free", "always_open", "emergency")
_FIELDS = ("type", "value", "label", "currency", "unit", "source", "checked", *_PHONE_FLAGS)

_Error = Callable[[Node, str], None]  # reports a problem at a node
_Fields = Mapping[str, tuple[Node, Node]]


@dataclass(frozen=True)
class TimeRange:
    """An opening period within one day, local time."""

    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        """True when ``moment`` falls in ``[start, end)``."""
        return self.start <= moment < self.end


# Opening periods per weekday, Monday first; an empty tuple is a closed day.
WeeklyHours = tuple[tuple[TimeRange, ...], ...]
FactValue = str | Decimal | dt.date | WeeklyHours


@dataclass(frozen=True)
class Fact:
    """One checked fact: its typed value, where it comes from and when a person last checked it."""

    key: str
    type: str
    value: FactValue
    source: str = ""
    checked: dt.date | None = None
    label: str = ""
    currency: str = ""
    unit: str = ""
    free: bool = False
    always_open: bool = False
    emergency: bool = False
    location: str = ""  # "path:line"

    @property
    def canonical(self) -> str:
        """The value as a stable text: what answer versions hash and hand-written text is compared with."""
        if isinstance(self.value, tuple):
            return ";".join(
                f"{day}=" + ",".join(f"{r.start:%H:%M}-{r.end:%H:%M}" for r in ranges)
                for day, ranges in zip(DAYS, self.value, strict=True)
                if ranges
            )
        suffix = self.currency or self.unit
        return f"{self.value} {suffix}".strip()

    @property
    def weekly_hours(self) -> WeeklyHours:
        """The opening periods of an ``hours`` fact (all days closed for any other type)."""
        return self.value if isinstance(self.value, tuple) else ((),) * 7


@dataclass
class FactRegistry:
    """The facts of one city by key, and what loading them found."""

    facts: dict[str, Fact] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    path: Path | None = None

    def get(self, key: str) -> Fact | None:
        """The fact called ``key``, if the city has it."""
        return self.facts.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.facts

    def of_type(self, fact_type: str) -> list[Fact]:
        """Every fact of one type, in file order."""
        return [fact for fact in self.facts.values() if fact.type == fact_type]


def load_facts(path: Path, today: dt.date, max_age_days: int = 365) -> FactRegistry:
    """Read ``facts.yml``; a broken entry is reported (file:line) and left out, never raised."""
    registry = FactRegistry(path=path)
    if not path.is_file():
        registry.problems.append(
            Problem(path, 1, "no fact registry (facts.yml): answers cannot use {{facts}}", blocking=False)
        )
        return registry
    root, problems = compose(path)
    registry.problems.extend(problems)
    if root is None:
        return registry
    entries = mapping(root)
    if entries is None:
        registry.problems.append(Problem(path, node_line(root), "expected fact keys followed by their fields"))
        return registry
    for key, (key_node, value_node) in entries.items():
        fact = _parse_fact(path, key, key_node, value_node, registry.problems)
        if fact is not None:
            registry.facts[key] = fact
            registry.problems.extend(_freshness(path, fact, node_line(key_node), today, max_age_days))
    return registry


def _parse_fact(path: Path, key: str, key_node: Node, node: Node, problems: list[Problem]) -> Fact | None:
    def error(at: Node, message: str) -> None:
        problems.append(Problem(path, node_line(at), f"{key}: {message}"))

    errors_before = len(problems)
    if not _KEY.match(key):
        error(key_node, "a fact key is lower_snake_case (letters, digits, '_')")
    fields = mapping(node)
    if fields is None:
        error(node, "expected fields such as 'type:', 'value:', 'source:' under the key")
        return None
    for name, (field_key, _value) in fields.items():
        if name not in _FIELDS:
            error(field_key, f"{name!r} is not a fact field ({', '.join(_FIELDS)})")
    fact_type = scalar_text(_field(fields, "type"))
    if fact_type not in FACT_TYPES:
        error(_field(fields, "type") or node, f"type must be one of {', '.join(FACT_TYPES)}")
        return None
    value_entry = fields.get("value")
    if value_entry is None:
        error(node, "'value' is missing")
        return None
    extras = {name: scalar_text(entry[1]) or "" for name, entry in fields.items() if name in ("label", "source")}
    value = _parse_value(fact_type, value_entry[1], fields, error)
    flags = {name: _flag(fields, name, error) for name in _PHONE_FLAGS}
    if fact_type != "phone" and any(flags.values()):
        error(node, f"{', '.join(n for n, v in flags.items() if v)}: only for a phone")
    checked = _checked(fields, error)
    if value is None or len(problems) > errors_before:
        return None
    return Fact(
        key=key,
        type=fact_type,
        value=value,
        source=extras.get("source", ""),
        checked=checked,
        label=extras.get("label", ""),
        currency=(scalar_text(_field(fields, "currency")) or "").upper(),
        unit=scalar_text(_field(fields, "unit")) or "",
        location=f"{path}:{node_line(key_node)}",
        **flags,
    )


def _parse_value(fact_type: str, node: Node, fields: _Fields, error: _Error) -> FactValue | None:
    if fact_type == "hours":
        return _parse_hours(node, error)
    text = scalar_text(node)
    if text is None:
        error(node, "'value' must be a non-empty text")
        return None
    if fact_type == "url" and not text.startswith("https://"):
        error(node, f"a web address starts with https:// (found {text!r})")
    elif fact_type == "phone" and not re.fullmatch(r"\+?[\d ./-]+", text):
        error(node, f"a phone number has only digits, spaces and + . / - (found {text!r})")
    elif fact_type == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", text):
        error(node, f"not an e-mail address: {text!r}")
    elif fact_type == "amount":
        return _parse_amount(text, node, fields, error)
    elif fact_type == "duration":
        return _parse_duration(text, node, fields, error)
    elif fact_type == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            error(node, f"a date is written YYYY-MM-DD (found {text!r})")
            return None
    return text


def _parse_amount(text: str, node: Node, fields: _Fields, error: _Error) -> Decimal | None:
    currency = scalar_text(_field(fields, "currency"))
    if not currency or not re.fullmatch(r"[A-Za-z]{3}", currency):
        error(node, "an amount needs 'currency:' (a 3-letter code such as EUR)")
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        error(node, f"an amount is a number such as 200 or 12.50 (found {text!r})")
        return None


def _parse_duration(text: str, node: Node, fields: _Fields, error: _Error) -> Decimal | None:
    unit = scalar_text(_field(fields, "unit"))
    if unit not in DURATION_UNITS:
        error(node, f"a duration needs 'unit:' ({' | '.join(DURATION_UNITS)})")
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        error(node, f"a duration is a number (found {text!r})")
        return None


def _parse_hours(node: Node, error: _Error) -> WeeklyHours | None:
    days = mapping(node)
    if days is None:
        error(node, 'opening hours are days (mon … sun) with lists of ranges such as ["09:00-12:30"]')
        return None
    week: list[tuple[TimeRange, ...]] = [() for _ in DAYS]
    for day, (day_node, ranges_node) in days.items():
        if day not in DAYS:
            error(day_node, f"{day!r} is not a day ({', '.join(DAYS)})")
            continue
        items = ranges_node.value if isinstance(ranges_node, SequenceNode) else [ranges_node]
        ranges = []
        for item in items:
            parsed = _parse_range(scalar_text(item) or "")
            if parsed is None:
                error(item, f'{day}: write a range as "09:00-12:30" (found {scalar_text(item)!r})')
                return None
            ranges.append(parsed)
        week[DAYS.index(day)] = tuple(sorted(ranges, key=lambda r: r.start))
    return tuple(week)


def _parse_range(text: str) -> TimeRange | None:
    match = _RANGE.match(text)
    if match is None:
        return None
    try:
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        start, end = dt.time(h1, m1), dt.time(23, 59, 59) if (h2, m2) == (24, 0) else dt.time(h2, m2)
    except ValueError:
        return None
    return TimeRange(start, end) if start < end else None


def _field(fields: _Fields, name: str) -> Node | None:
    entry = fields.get(name)
    return entry[1] if entry else None


def _flag(fields: _Fields, name: str, error: _Error) -> bool:
    entry = fields.get(name)
    if entry is None:
        return False
    text = (scalar_text(entry[1]) or "").lower()
    if text not in {"true", "false"}:
        error(entry[1], f"{name} is true or false")
    return text == "true"


def _checked(fields: _Fields, error: _Error) -> dt.date | None:
    entry = fields.get("checked")
    text = scalar_text(entry[1]) if entry else None
    if entry is None or text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        error(entry[1], f"'checked' is a date written YYYY-MM-DD (found {text!r})")
        return None


def _freshness(path: Path, fact: Fact, line: int, today: dt.date, max_age_days: int) -> list[Problem]:
    """Warnings that tell staff which facts to verify again."""
    warnings = []
    if not fact.source:
        warnings.append(Problem(path, line, f"{fact.key}: no source (the page this fact comes from)", "warning"))
    if fact.checked is None:
        warnings.append(Problem(path, line, f"{fact.key}: no 'checked' date", "warning"))
    elif (today - fact.checked).days > max_age_days:
        age = (today - fact.checked).days
        message = f"{fact.key}: checked {age} days ago (more than {max_age_days}): verify it on its source page"
        warnings.append(Problem(path, line, message, "warning"))
    return warnings


# ----- rendering --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def render(fact: Fact, language: str) -> str:
    """The fact's value as a reader of ``language`` should see it (answer markup).

    Cached: Babel's formatting is the costly part of an answer, and a fact is an immutable value
    (a changed fact after a reload is another key).
    """
    locale = Locale.parse(language)
    if fact.type == "url":
        shown = str(fact.value).removeprefix("https://").removesuffix("/")
        return f"[{shown}]({fact.value})"
    if fact.type == "amount" and isinstance(fact.value, Decimal):
        return str(format_currency(fact.value, fact.currency, locale=locale))
    if fact.type == "duration" and isinstance(fact.value, Decimal):
        return str(format_unit(fact.value, f"duration-{fact.unit}", length="long", locale=locale))
    if fact.type == "date" and isinstance(fact.value, dt.date):
        return str(format_date(fact.value, "long", locale=locale))
    if fact.type == "hours":
        return render_hours(fact.weekly_hours, locale)
    return str(fact.value)


def render_hours(week: WeeklyHours, locale: Locale) -> str:
    """One line per open day: localized short day name and its ranges."""
    lines = []
    for weekday, ranges in enumerate(week):
        if ranges:
            day = locale.days["format"]["abbreviated"][weekday]
            lines.append(f"{day} " + ", ".join(format_range(r, locale) for r in ranges))
    return "\n".join(lines)


def format_range(period: TimeRange, locale: Locale) -> str:
    """``09:00–12:30`` in the locale's short time format."""
    return f"{format_clock(period.start, locale)}–{format_clock(period.end, locale)}"


def format_clock(moment: dt.time, locale: Locale) -> str:
    """A time of day in the locale's short format (``09:00``, ``9:00 AM``)."""
    return str(format_time(moment, "short", locale=locale))


def fact_keys(text: str) -> list[str]:
    """The ``{{key}}`` references in ``text``, in order, without repeats."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def fill(text: str, registry: FactRegistry, language: str) -> str:
    """``text`` with each ``{{key}}`` replaced by the rendered fact; unknown keys stay visible."""

    def value(match: re.Match[str]) -> str:
        fact = registry.get(match.group(1))
        if fact is None:
            # Answers with unknown keys are refused at load time; this only guards a racing reload.
            logger.warning("Unknown fact key %s left in an answer", match.group(1))
            return match.group(0)
        return render(fact, language)

    return PLACEHOLDER.sub(value, text)
