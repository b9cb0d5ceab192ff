"""The console's one door into the bot's content code (``bot.content``, ``bot.checks``, ``bot.facts``).

Everything the console needs to know about answers, coverage, facts and validation goes through
these functions, so a change of the content API is absorbed here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from bot import checks
from bot.catalogue import Catalogue
from bot.content import Answer, ContentStore
from bot.facts import fact_keys, render
from bot.i18n import is_rtl
from bot.settings import city_folders
from bot.staff_console import yaml_edit

__all__ = ["Answer", "ContentStore", "fact_keys", "is_rtl"]

COVERAGE_STATES = tuple(checks.COVERAGE_MARKS)
COVERAGE_MARKS = checks.COVERAGE_MARKS
_REVIEW_KEYS = ("status", "reviewed_by", "reviewed_on")


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
    """The city packs: the same folders the bot and ``newcomer-bot check`` serve."""
    return [folder.name for folder in city_folders(content_dir)]


def open_store(city_dir: Path, catalogue: Catalogue) -> ContentStore:
    """A content store for one city, loaded."""
    store = ContentStore(city_dir, catalogue)
    store.reload()
    return store


def refresh(store: ContentStore) -> None:
    """Reload when a file changed on disk (the console's own saves, or someone's text editor)."""
    if store.changed_files():
        store.reload()


def coverage(store: ContentStore) -> dict[tuple[str, str], str]:
    """The state of every (intent, language) cell: ``newcomer-bot check``'s own table."""
    return checks.coverage(store)


def topics(store: ContentStore) -> dict[str, list[str]]:
    """The city's intents (the catalogue's and its own added ones) grouped by topic, in menu order."""
    grouped: dict[str, list[str]] = {}
    for intent in store.answered_intents:
        topic = store.city.topic_of(intent, store.catalogue) or "other"
        grouped.setdefault(topic, []).append(intent)
    return grouped


def shown_facts(store: ContentStore, keys: list[str], language: str) -> list[tuple[str, str | None]]:
    """Each key with its value as a reader of ``language`` sees it (None: not a fact of the city)."""
    shown = []
    for key in dict.fromkeys(keys):
        fact = store.facts.get(key)
        shown.append((key, render(fact, language) if fact is not None else None))
    return shown


def validate(store: ContentStore, path: Path, candidate: str, intent: str) -> Validation:
    """Run the bot's own parser on ``candidate`` as if it were ``path``; the real file is not touched.

    The candidate goes into a scratch copy of the city's shared files (city.yml, facts.yml) and of
    its originals, so the rules (stale translations and drift included) are exactly those of
    ``newcomer-bot check`` and of the running bot. Returned: the candidate file's errors, and the
    warnings about this answer (the other answers' advice is not this edit's business).
    """
    city_dir, language = store.city_dir, path.parent.name
    original_language = store.city.original_language
    with tempfile.TemporaryDirectory(prefix="staff-console-") as scratch:
        scratch_city = Path(scratch) / city_dir.name
        scratch_city.mkdir()
        for shared in ("city.yml", "facts.yml"):
            if (city_dir / shared).is_file():
                shutil.copy2(city_dir / shared, scratch_city / shared)
        if language != original_language and (city_dir / original_language).is_dir():
            shutil.copytree(city_dir / original_language, scratch_city / original_language)
        (scratch_city / language).mkdir(exist_ok=True)
        scratch_file = scratch_city / language / path.name
        scratch_file.write_text(candidate, encoding="utf-8")
        scratch_store = ContentStore(scratch_city, store.catalogue, store.fact_max_age_days, store.today)
        report = scratch_store.reload()
        problems = [
            ContentProblem(path, p.line, p.message, p.severity)
            for p in report.problems
            if Path(p.path) == scratch_file and (p.severity == "error" or p.message.startswith(f"{intent}:"))
        ]
        return Validation(problems, scratch_store.get(language, intent))


def mark_draft(answer: CommentedMap) -> None:
    """An edited text needs a new review: drop the review marks, set ``status: draft``."""
    with yaml_edit.trailing_comment_kept(answer):
        position = _remove_review_marks(answer)
        answer.insert(position, "status", "draft")


def mark_reviewed(answer: CommentedMap, reviewer: str, day: dt.date) -> None:
    """Record the review as the city-pack format says: ``status``, ``reviewed_by``, ``reviewed_on``."""
    with yaml_edit.trailing_comment_kept(answer):
        position = _remove_review_marks(answer)
        marks = (("status", "reviewed"), ("reviewed_by", reviewer), ("reviewed_on", day))
        for offset, (key, value) in enumerate(marks):
            answer.insert(position + offset, key, value)


def mark_translated_from(answer: CommentedMap, original_version: str | None) -> None:
    """Record which version of the original this translation follows (so it is no longer stale)."""
    with yaml_edit.trailing_comment_kept(answer):
        if original_version is None:
            answer.pop("translated_from", None)
        else:
            yaml_edit.set_field(answer, "translated_from", original_version)


def _remove_review_marks(answer: CommentedMap) -> int:
    """Remove the review fields; returns where they were (the end when there were none)."""
    keys = list(answer)
    position = next((keys.index(key) for key in _REVIEW_KEYS if key in answer), len(keys))
    for key in _REVIEW_KEYS:
        answer.pop(key, None)
    return min(position, len(answer))
