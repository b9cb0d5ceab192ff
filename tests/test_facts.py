"""The fact registry: typed loading with file:line, Babel rendering per type, freshness warnings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.facts import FactRegistry, fill, load_facts, render

FACTS = """\
doc_line:
  type: phone
  value: "00800 1111 2222"
  free: true
  source: https://example.org/doc
  checked: 2026-11-20
site:
  type: url
  value: https://example.org/guarantee/
  source: https://example.org/guarantee/
  checked: 2024-01-01
fee:
  type: amount
  value: 200
  currency: EUR
  checked: 2026-11-20
deadline:
  type: duration
  value: 8
  unit: day
  source: https://example.org/register
  checked: 2026-11-20
since:
  type: date
  value: 2022-06-01
  source: https://example.org/law
  checked: 2026-11-20
hours:
  type: hours
  value:
    mon: ["09:00-12:30", "13:30-17:00"]
    tue: ["09:00-12:30"]
  source: https://example.org/hours
  checked: 2026-11-20
"""
TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def registry(tmp_path: Path) -> FactRegistry:
    path = tmp_path / "facts.yml"
    path.write_text(FACTS, encoding="utf-8")
    return load_facts(path, TODAY, max_age_days=365)


def test_every_type_loads_and_freshness_is_warned(registry: FactRegistry) -> None:
    assert set(registry.facts) == {"doc_line", "site", "fee", "deadline", "since", "hours"}
    assert registry.facts["doc_line"].free and not registry.facts["doc_line"].emergency
    warnings = {(p.line, p.message.split(":")[0]) for p in registry.problems if p.severity == "warning"}
    assert warnings == {(7, "site"), (12, "fee")}  # checked too long ago; no source
    assert [p for p in registry.problems if p.severity == "error"] == []
    assert "checked 1065 days ago" in next(str(p) for p in registry.problems if p.line == 7)


@pytest.mark.parametrize(
    ("key", "french", "arabic"),
    [
        ("doc_line", "00800 1111 2222", "00800 1111 2222"),
        ("fee", "200,00\xa0€", "\u200f200.00\xa0€"),
        ("deadline", "8\xa0jours", "8 أيام"),
        ("since", "1 juin 2022", "1 يونيو 2022"),
        (
            "hours",
            "lun. 09:00–12:30, 13:30–17:00\nmar. 09:00–12:30",
            "الاثنين 9:00 ص–12:30 م, 1:30 م–5:00 م\nالثلاثاء 9:00 ص–12:30 م",
        ),
    ],
)
def test_babel_renders_each_type_in_french_and_arabic(
    registry: FactRegistry, key: str, french: str, arabic: str
) -> None:
    assert render(registry.facts[key], "fr") == french
    assert render(registry.facts[key], "ar") == arabic


def test_a_url_becomes_a_link_and_fill_puts_facts_in(registry: FactRegistry) -> None:
    assert render(registry.facts["site"], "fr") == "[example.org/guarantee](https://example.org/guarantee/)"
    text = "Appelez le {{doc_line}} ; frais {{ fee }} ; {{nope}}."
    assert fill(text, registry, "fr") == "Appelez le 00800 1111 2222 ; frais 200,00\xa0€ ; {{nope}}."


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("x:\n  type: phon\n  value: 1\n", "type must be one of"),
        ("x:\n  type: phone\n  source: s\n", "'value' is missing"),
        ("x:\n  type: url\n  value: http://example.org\n", "starts with https://"),
        ("x:\n  type: amount\n  value: 200\n", "needs 'currency:'"),
        ("x:\n  type: duration\n  value: 8\n  unit: fortnight\n", "needs 'unit:'"),
        ('x:\n  type: hours\n  value:\n    mon: ["9-12"]\n', "write a range as"),
        ("x:\n  type: date\n  value: 1 June\n", "YYYY-MM-DD"),
        ("x:\n  type: url\n  value: https://example.org\n  free: true\n", "only for a phone"),
        ("Bad-Key:\n  type: text\n  value: a\n", "lower_snake_case"),
    ],
)
def test_broken_entries_are_errors_at_their_line(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "facts.yml"
    path.write_text("ok:\n  type: text\n  value: fine\n  source: s\n  checked: 2026-11-20\n" + entry, encoding="utf-8")
    registry = load_facts(path, TODAY)
    errors = [p for p in registry.problems if p.severity == "error"]
    assert len(errors) == 1 and message in errors[0].message, registry.problems
    assert errors[0].line >= 6 and errors[0].path == path
    assert "ok" in registry.facts and len(registry.facts) == 1
