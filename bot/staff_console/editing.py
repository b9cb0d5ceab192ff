"""Saving an answer from the editor: version check, validation by the bot's parser, atomic write."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from bot.catalogue import Catalogue
from bot.staff_console import content_access, yaml_edit
from bot.staff_console.content_access import ContentProblem, ContentStore
from bot.staff_console.files import write_atomically


@dataclass(frozen=True)
class AnswerEdit:
    """What the editor form sends."""

    title: str
    text: str
    source: str
    link_labels: tuple[str, ...] = ()


@dataclass
class SaveOutcome:
    """The result of a save: saved, refused for a conflict, or refused with problems."""

    path: Path
    saved: bool = False
    conflict: bool = False
    problems: list[ContentProblem] = field(default_factory=list)
    field_lines: dict[str, int] = field(default_factory=dict)
    answer: content_access.Answer | None = None  # what the bot would serve from the candidate

    @property
    def errors(self) -> list[ContentProblem]:
        """Problems that blocked the save."""
        return [p for p in self.problems if p.severity == "error"]


@dataclass(frozen=True)
class StoredAnswer:
    """Where an answer lives and what it currently says (None when it does not exist yet)."""

    path: Path
    document: CommentedMap
    answer: CommentedMap | None

    @property
    def version(self) -> str:
        """The version sent with the editor form."""
        return yaml_edit.version(self.answer)


def find(city_dir: Path, catalogue: Catalogue, language: str, intent: str, original_language: str) -> StoredAnswer:
    """The file holding ``intent`` in ``language``; for a new answer, the file the original sits in."""
    for path in sorted((city_dir / language).glob("*.yml")):
        document = yaml_edit.read(path)[1]
        if intent in document:
            return StoredAnswer(path, document, document[intent])
    for path in sorted((city_dir / original_language).glob("*.yml")):
        if intent in yaml_edit.read(path)[1]:
            return _new_in(city_dir / language / path.name)
    return _new_in(city_dir / language / f"{catalogue.topic_of(intent) or 'answers'}.yml")


def _new_in(path: Path) -> StoredAnswer:
    return StoredAnswer(path, yaml_edit.read(path)[1], None)


def save(
    store: ContentStore, language: str, intent: str, edit: AnswerEdit, base_version: str, dry_run: bool = False
) -> SaveOutcome:
    """Apply ``edit`` unless the answer changed since ``base_version`` or the result is invalid.

    A saved text is a draft again: a reviewer marks it reviewed afterwards. A saved translation
    records the current version of its original (``translated_from``): it follows that version now.
    ``dry_run`` only validates (for the preview of an unsaved text).
    """
    original_language = store.city.original_language
    stored = find(store.city_dir, store.catalogue, language, intent, original_language)
    document = stored.document
    if stored.version != base_version:
        return SaveOutcome(stored.path, conflict=True)
    if stored.answer is None:
        original = find(store.city_dir, store.catalogue, original_language, intent, original_language).answer
        document[intent] = _new_from_original(edit, original)
    else:
        _apply(stored.answer, edit)
    answer = document[intent]
    content_access.mark_draft(answer)
    if language != original_language:
        content_access.mark_translated_from(answer, store.version(intent))
    return _validate_and_write(store, stored.path, document, intent, write=not dry_run)


def review(
    store: ContentStore, language: str, intent: str, base_version: str, reviewer: str, day: dt.date
) -> SaveOutcome:
    """Mark the answer reviewed by ``reviewer`` on ``day``; refused if it changed meanwhile.

    A reviewed translation was checked against the original the editor shows, so it follows the
    original's current version from now on.
    """
    original_language = store.city.original_language
    stored = find(store.city_dir, store.catalogue, language, intent, original_language)
    if stored.answer is None or stored.version != base_version:
        return SaveOutcome(stored.path, conflict=True)
    content_access.mark_reviewed(stored.answer, reviewer, day)
    if language != original_language:
        content_access.mark_translated_from(stored.answer, store.version(intent))
    return _validate_and_write(store, stored.path, stored.document, intent)


def _validate_and_write(
    store: ContentStore, path: Path, document: CommentedMap, intent: str, write: bool = True
) -> SaveOutcome:
    candidate = yaml_edit.dump(document)
    validation = content_access.validate(store, path, candidate, intent)
    outcome = SaveOutcome(
        path,
        problems=validation.problems,
        field_lines=yaml_edit.field_lines(yaml_edit.load(candidate)[intent]),
        answer=validation.answer,
    )
    if outcome.errors or not write:
        return outcome
    write_atomically(path, candidate)
    outcome.saved = True
    return outcome


def _apply(answer: CommentedMap, edit: AnswerEdit) -> None:
    yaml_edit.set_field(answer, "title", edit.title.strip())
    yaml_edit.set_field(answer, "text", yaml_edit.literal(edit.text), after="title")
    yaml_edit.set_field(answer, "source", edit.source.strip())
    for link, label in zip(answer.get("links") or [], edit.link_labels, strict=False):
        if isinstance(link, CommentedMap) and label.strip():
            link["label"] = label.strip()


def _new_from_original(edit: AnswerEdit, original: CommentedMap | None) -> CommentedMap:
    """A new translation: the edited texts, and the original's links and follow-ups."""
    fields: dict[str, object] = {"title": edit.title.strip(), "text": yaml_edit.literal(edit.text)}
    if original is not None and original.get("links"):
        links = []
        for index, link in enumerate(original["links"]):
            copied = CommentedMap(link)
            if index < len(edit.link_labels) and edit.link_labels[index].strip():
                copied["label"] = edit.link_labels[index].strip()
            links.append(copied)
        fields["links"] = links
    if original is not None and original.get("follow_up"):
        fields["follow_up"] = [str(name) for name in original["follow_up"]]
    fields["source"] = edit.source.strip()
    return yaml_edit.new_answer(fields)
