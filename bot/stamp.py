"""``newcomer-bot stamp``: write the original's current version into translations that lack one.

Run once after the ``translated_from`` field was introduced (every translation then records the
original it was made from); afterwards translators update the field themselves when they follow a
change of the original. Files are rewritten with ruamel.yaml, so comments, order and quoting stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from bot.content import ContentStore

_AFTER = ("reviewed_on", "reviewed_by", "status")  # translated_from goes after the review fields


def stamp_translations(store: ContentStore) -> dict[Path, list[str]]:
    """Add ``translated_from`` to every translation without one; returns the intents stamped per file."""
    stamped: dict[Path, list[str]] = {}
    pending: dict[Path, list[str]] = {}
    for answer in store.answers():
        translation = answer.language != store.city.original_language
        if translation and answer.translated_from is None and store.version(answer.intent) is not None:
            pending.setdefault(Path(answer.location.rpartition(":")[0]), []).append(answer.intent)
    yaml = _round_trip_yaml()
    for path, intents in sorted(pending.items()):
        document: Any = yaml.load(path.read_text(encoding="utf-8"))
        done = []
        for intent in intents:
            entry = document.get(intent) if isinstance(document, CommentedMap) else None
            version = store.version(intent)
            if isinstance(entry, CommentedMap) and "translated_from" not in entry and version:
                after = next((name for name in _AFTER if name in entry), None)
                position = list(entry).index(after) + 1 if after else len(entry)
                entry.insert(position, "translated_from", version)
                done.append(intent)
        if done:
            with path.open("w", encoding="utf-8") as stream:
                yaml.dump(document, stream)
            stamped[path] = done
    return stamped


def _round_trip_yaml() -> YAML:
    yaml = YAML()  # round-trip mode: keeps comments, key order and block scalars
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml
