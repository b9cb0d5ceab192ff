"""The console's one door into the bot's content code (``bot.content``, ``bot.checks``, facts).

Everything the console needs to know about answers, coverage, facts and validation goes through
these functions, so a change of the content API is absorbed here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap

from bot import content as bot_content
from bot.catalogue import Catalogue
from bot.content import Answer, ContentStore
from bot.i18n import is_rtl
from bot.staff_console import yaml_edit

__all__ = ["Answer", "ContentStore", "is_rtl"]

COVERAGE_STATES = ("reviewed", "draft", "stale", "missing", "disabled")
DEFAULT_ORIGINAL_LANGUAGE = "fr"
_FACT_REFERENCE = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
# The city-pack format records the review as status/reviewed_by/reviewed_on; the content parser
# of this branch still knows only "reviewed: DATE". Asking the parser keeps both working.
CITY_PACK_REVIEW_FIELDS = "reviewed_by" in getattr(bot_content, "_FIELDS", ())
_REVIEW_KEYS = ("status", "reviewed", "reviewed_by", "reviewed_on")


@dataclass(frozen=True)
class ContentProblem:
    """A validation message for the editor: where (file, line) and what."""

    path: Path
    line: int
    message: str
    severity: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Validation:
    """What the content parser says about a candidate file, and the answer it would serve."""

    problems: list[ContentProblem]
    answer: Answer | None

    @property
    def errors(self) -> list[ContentProblem]:
        """Problems that block saving."""
        return [p for p in self.problems if p.severity == "error"]


def cities(content_dir: Path) -> list[str]:
    """City packs: folders of ``content_dir`` holding at least one language folder of answers."""
    if not content_dir.is_dir():
        return []
    return sorted(
        path.name
        for path in content_dir.iterdir()
        if path.is_dir() and any(child.is_dir() and any(child.glob("*.yml")) for child in path.iterdir())
    )


def open_store(city_dir: Path, catalogue: Catalogue) -> ContentStore:
    """A content store for one city, loaded."""
    store = ContentStore(city_dir, catalogue)
    store.reload()
    return store


def refresh(store: ContentStore) -> None:
    """Reload when a file changed on disk (the console's own saves, or someone's text editor)."""
    if store.changed_files():
        store.reload()


def coverage(store: ContentStore, catalogue: Catalogue) -> dict[tuple[str, str], str]:
    """The state of every (intent, language) cell, with the values of ``check``'s table."""
    cells = {}
    for intent in catalogue.intents:
        for language in catalogue.languages:
            answer = store.get(language, intent)
            cells[(intent, language)] = "missing" if answer is None else "draft" if answer.is_draft else "reviewed"
    return cells


def original_language(city_dir: Path) -> str:
    """The language the city's originals are written in (``original_language`` of city.yml)."""
    city = _read_yaml(city_dir / "city.yml")
    value = city.get("original_language") if isinstance(city, dict) else None
    return str(value) if value else DEFAULT_ORIGINAL_LANGUAGE


def facts(city_dir: Path) -> dict[str, str]:
    """Fact key → value as written in ``facts.yml`` (for showing next to the text)."""
    registry = _read_yaml(city_dir / "facts.yml")
    if not isinstance(registry, dict):
        return {}
    shown = {}
    for key, fact in registry.items():
        value = fact.get("value") if isinstance(fact, dict) else fact
        if isinstance(value, dict):  # opening hours: one "day ranges" group per open day
            value = "; ".join(f"{day} {', '.join(map(str, ranges))}" for day, ranges in value.items())
        shown[str(key)] = str(value)
    return shown


def fact_keys(text: str) -> list[str]:
    """The ``{{fact_key}}`` references of a text, in order, without repeats."""
    return list(dict.fromkeys(_FACT_REFERENCE.findall(text)))


def validate(city_dir: Path, catalogue: Catalogue, path: Path, candidate: str, intent: str) -> Validation:
    """Run the bot's own parser on ``candidate`` as if it were ``path``; the real file is not touched.

    The candidate goes into a scratch copy of the city's shared files (city.yml, facts.yml) so the
    rules are exactly those of ``newcomer-bot check`` and of the running bot.
    """
    language = path.parent.name
    with tempfile.TemporaryDirectory(prefix="staff-console-") as scratch:
        scratch_city = Path(scratch) / city_dir.name
        (scratch_city / language).mkdir(parents=True)
        for shared in ("city.yml", "facts.yml"):
            if (city_dir / shared).is_file():
                shutil.copy2(city_dir / shared, scratch_city / shared)
        scratch_file = scratch_city / language / path.name
        scratch_file.write_text(candidate, encoding="utf-8")
        store = ContentStore(scratch_city, catalogue)
        report = store.reload()
        problems = [
            ContentProblem(path if Path(p.path) == scratch_file else Path(p.path), p.line, p.message, p.severity)
            for p in report.problems
        ]
        return Validation(problems, store.get(language, intent))


def mark_draft(answer: CommentedMap) -> None:
    """An edited text needs a new review: drop the review marks, set ``status: draft``."""
    with yaml_edit.trailing_comment_kept(answer):
        position = _remove_review_marks(answer)
        answer.insert(position, "status", "draft")


def mark_reviewed(answer: CommentedMap, reviewer: str, day: dt.date) -> None:
    """Record the review in the answer, in the format the content parser accepts."""
    with yaml_edit.trailing_comment_kept(answer):
        position = _remove_review_marks(answer)
        if CITY_PACK_REVIEW_FIELDS:
            marks: tuple[tuple[str, object], ...] = (
                ("status", "reviewed"),
                ("reviewed_by", reviewer),
                ("reviewed_on", day),
            )
        else:
            marks = (("reviewed", day),)
        for offset, (key, value) in enumerate(marks):
            answer.insert(position + offset, key, value)


def _remove_review_marks(answer: CommentedMap) -> int:
    """Remove the review fields; returns where they were (the end when there were none)."""
    keys = list(answer)
    position = next((keys.index(key) for key in _REVIEW_KEYS if key in answer), len(keys))
    for key in _REVIEW_KEYS:
        answer.pop(key, None)
    return min(position, len(answer))


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return None  # check reports it; the console just shows nothing
