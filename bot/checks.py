"""``newcomer-bot check``: everything staff and translators can break, reported with file and line."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.catalogue import Catalogue
from bot.content import ContentStore
from bot.i18n import LOCALE_DIR, Translations
from bot.understanding import UI_REPLY_INTENTS
from nlu.loading import DataError, TrainingData, load_training_data

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


def run_checks(catalogue: Catalogue, content: ContentStore, data_dir: Path, heldout_dir: Path | None) -> CheckResult:
    """Check training data, held-out split, answers and UI catalogs."""
    result = CheckResult()
    training = _check_training_data(catalogue, data_dir, result)
    if training is not None and heldout_dir is not None and heldout_dir.is_dir():
        _check_heldout(catalogue, training, heldout_dir, result)
    _check_answers(catalogue, content, result)
    _check_catalogs(catalogue, result)
    return result


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


def _check_heldout(catalogue: Catalogue, training: TrainingData, heldout_dir: Path, result: CheckResult) -> None:
    try:
        heldout = load_training_data(heldout_dir)
    except DataError as exc:
        result.errors.append(str(exc))
        return
    seen = {(e.language, _key(e.text)): e for e in training.examples}
    for example in heldout.examples:
        if example.intent not in catalogue.intents:
            result.errors.append(f"{example.source}: intent {example.intent!r} is not in the catalogue")
        twin = seen.get((example.language, _key(example.text)))
        if twin is not None:
            result.errors.append(f"{example.source}: held-out example is also training data ({twin.source})")


def _check_answers(catalogue: Catalogue, content: ContentStore, result: CheckResult) -> None:
    report = content.reload()
    for problem in report.problems:
        (result.errors if problem.severity == "error" else result.warnings).append(str(problem))
    languages = catalogue.languages
    width = max(len(intent) for intent in catalogue.intents)
    result.table.append(" " * width + "  " + " ".join(f"{code:>2}" for code in languages))
    missing_core = []
    totals: Counter[str] = Counter()
    for intent in catalogue.intents:
        if intent in UI_REPLY_INTENTS:  # answered with a UI string (bot/understanding.py)
            continue
        cells = []
        for language in languages:
            answer = content.get(language, intent)
            if answer is None:
                cells.append(" -")
                totals["missing"] += 1
                if language in catalogue.core_languages:
                    missing_core.append(f"{language}/{intent}")
            elif answer.is_draft:
                cells.append(" d")
                totals["draft"] += 1
            else:
                cells.append(" R")
                totals["reviewed"] += 1
            if answer is not None and not answer.source:
                result.errors.append(f"{answer.location}: {intent}: no source")
        result.table.append(f"{intent:<{width}}  " + " ".join(cells))
    result.table.append(
        f"R reviewed: {totals['reviewed']}   d draft: {totals['draft']}   - missing: {totals['missing']}"
        f"   ({len(set(catalogue.intents) - UI_REPLY_INTENTS)} intents x {len(languages)} languages)"
    )
    if missing_core:
        result.errors.append(f"answers missing in a core language: {', '.join(missing_core)}")
    for path in report.kept_last_good:
        result.errors.append(f"{path}: has errors (a running bot keeps its last good version)")


def _check_catalogs(catalogue: Catalogue, result: CheckResult) -> None:
    translations = Translations.load(catalogue.languages)
    result.errors.extend(str(problem) for problem in translations.problems)
    for language in catalogue.languages:
        if language != "en" and not (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").is_file():
            result.errors.append(f"{LOCALE_DIR}/{language}: no UI catalog (messages.po)")


def _key(text: str) -> str:
    return " ".join(text.casefold().split())
