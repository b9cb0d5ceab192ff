"""``newcomer-bot check``: everything staff and translators can break, reported with file and line.

Every city under ``responses/`` is checked: its facts, its ``city.yml``, its answers (with a
coverage table: reviewed, draft, stale, missing or disabled per intent and language, and the
version of each original) and its own training examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.catalogue import Catalogue
from bot.content import CITY_NLU_FOLDER, ContentStore
from bot.i18n import LOCALE_DIR, Translations
from nlu.loading import DataError, TrainingData, load_training_data

COVERAGE_MARKS = {"reviewed": "R", "draft": "d", "stale": "s", "missing": "-", "disabled": "x"}

# Folders under nlu/ that must share no message with the training data: the held-out split, the
# out-of-scope dev split and the blind dev/test splits (a shared message would flatter their figures).
NEVER_TRAINED_SPLITS = ("heldout", "dev", "blind")

MIN_EXAMPLES_CORE = 30
MIN_EXAMPLES_EXTENDED = 12


@dataclass
class CheckResult:
    """Errors block (exit 1); warnings are advice."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    table: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks."""
        return not self.errors


def run_checks(
    catalogue: Catalogue, cities: list[ContentStore], data_dir: Path, unseen_dirs: Sequence[Path] = ()
) -> CheckResult:
    """Check training data, the never-trained splits, every city's facts, city.yml, answers, UI catalogs."""
    result = CheckResult()
    training = _check_training_data(catalogue, data_dir, result)
    if training is not None:
        for unseen_dir in unseen_dirs:
            if unseen_dir.is_dir():
                _check_unseen(catalogue, training, unseen_dir, result)
    for content in cities:
        _check_answers(catalogue, content, result)
        _check_city_training_data(content, result)
    _check_catalogs(catalogue, result)
    return result


def coverage(store: ContentStore) -> dict[tuple[str, str], str]:
    """(intent, language) -> reviewed | draft | stale | missing | disabled, for a loaded city."""
    city = store.city
    table = {}
    for intent in store.answered_intents:
        for language in city.languages:
            answer = store.get(language, intent)
            if intent in city.disabled:
                table[intent, language] = "disabled"
            else:
                table[intent, language] = answer.review_state if answer is not None else "missing"
    return table


def _check_training_data(catalogue: Catalogue, data_dir: Path, result: CheckResult) -> TrainingData | None:
    try:
        data = load_training_data(data_dir)
    except DataError as exc:
        result.errors.append(str(exc))
        return None
    counts = Counter((example.language, example.intent) for example in data.examples)
    for example in data.examples:
        if example.intent not in catalogue.intents:
            result.errors.append(f"{example.source}: intent {example.intent!r} is not in the catalogue")
            break
    for language in catalogue.languages:
        minimum = MIN_EXAMPLES_CORE if language in catalogue.core_languages else MIN_EXAMPLES_EXTENDED
        for intent in catalogue.intents:
            found = counts.get((language, intent), 0)
            if found == 0:
                result.errors.append(f"{data_dir}/{language}: intent {intent!r} has no training examples")
            elif found < minimum:
                result.warnings.append(
                    f"{data_dir}/{language}: intent {intent!r} has {found} examples (aim for {minimum})"
                )
    result.errors.extend(data.conflicts())
    for note in data.unused_by_embedded_model():
        result.warnings.append(f"{data_dir}: {note}")
    return data


def _check_unseen(catalogue: Catalogue, training: TrainingData, unseen_dir: Path, result: CheckResult) -> None:
    """Every message of a dev or test split is a catalogue intent and not training data."""
    try:
        unseen = load_training_data(unseen_dir)
    except DataError as exc:
        result.errors.append(str(exc))
        return
    seen = {(e.language, _key(e.text)): e for e in training.examples}
    for example in unseen.examples:
        if example.intent not in catalogue.intents:
            result.errors.append(f"{example.source}: intent {example.intent!r} is not in the catalogue")
        twin = seen.get((example.language, _key(example.text)))
        if twin is not None:
            result.errors.append(f"{example.source}: never-trained example is also training data ({twin.source})")


def _check_answers(catalogue: Catalogue, content: ContentStore, result: CheckResult) -> None:
    report = content.reload()
    for problem in report.problems:
        (result.errors if problem.severity == "error" else result.warnings).append(str(problem))
    city = content.city
    table = coverage(content)
    languages = city.languages
    width = max(len(intent) for intent in content.answered_intents)
    result.table.append(f"{city.name('en')} ({content.city_dir}), original language {city.original_language}:")
    result.table.append(" " * width + "  " + " ".join(f"{code:>2}" for code in languages) + "  version")
    for intent in content.answered_intents:
        cells = " ".join(f"{COVERAGE_MARKS[table[intent, language]]:>2}" for language in languages)
        result.table.append(f"{intent:<{width}}  {cells}  {content.version(intent) or '-'}")
    totals = Counter(table.values())
    result.table.append(
        "   ".join(f"{mark} {state}: {totals[state]}" for state, mark in COVERAGE_MARKS.items())
        + f"   ({len(content.answered_intents)} intents x {len(languages)} languages)"
    )
    result.table.append("")
    missing_core = [
        f"{language}/{intent}"
        for (intent, language), state in table.items()
        if state == "missing" and language in catalogue.core_languages
    ]
    if missing_core:
        result.errors.append(f"{content.city_dir}: answers missing in a core language: {', '.join(missing_core)}")
    for path in report.kept_last_good:
        result.errors.append(f"{path}: has errors (a running bot keeps its last good version)")


def _check_city_training_data(content: ContentStore, result: CheckResult) -> None:
    """A city's own examples: only its intents, and every added intent trained in each of its languages."""
    folder = content.city_dir / CITY_NLU_FOLDER
    added = content.city.added
    if not folder.is_dir():
        if added:
            result.errors.append(f"{folder}: no training examples for the added intents {', '.join(added)}")
        return
    try:
        data = load_training_data(folder)
    except DataError as exc:
        result.errors.append(str(exc))
        return
    known = set(content.intents)
    for example in data.examples:
        if example.intent not in known:
            result.errors.append(
                f"{example.source}: intent {example.intent!r} is not in the catalogue or intents.added"
            )
    counts = Counter((example.language, example.intent) for example in data.examples)
    for intent in added:
        for language in content.city.languages:
            if counts[language, intent] == 0:
                result.errors.append(f"{folder}/{language}: added intent {intent!r} has no training examples")


def _check_catalogs(catalogue: Catalogue, result: CheckResult) -> None:
    translations = Translations.load(catalogue.languages)
    result.errors.extend(str(problem) for problem in translations.problems)
    for language in catalogue.languages:
        if language != "en" and not (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").is_file():
            result.errors.append(f"{LOCALE_DIR}/{language}: no UI catalog (messages.po)")


def _key(text: str) -> str:
    return " ".join(text.casefold().split())
