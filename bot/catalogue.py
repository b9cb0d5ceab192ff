"""The intent catalogue: intent names, their topics, and the supported languages.

``nlu/catalogue.yml`` is the project's copy of the shared specification; a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CONVERSATION_TOPIC = "conversation"


@dataclass(frozen=True)
class Catalogue:
    """Topics with their intents, in the catalogue's order, and the core/extended languages."""

    topics: dict[str, tuple[str, ...]]
    core_languages: tuple[str, ...]
    extended_languages: tuple[str, ...]

    @property
    def languages(self) -> tuple[str, ...]:
        """Every supported language, core first."""
        return self.core_languages + self.extended_languages

    @property
    def intents(self) -> tuple[str, ...]:
        """Every intent, in catalogue order."""
        return tuple(intent for intents in self.topics.values() for intent in intents)

    @property
    def menu_topics(self) -> tuple[str, ...]:
        """Topics offered in the menu (conversation intents are not topics to browse)."""
        return tuple(topic for topic in self.topics if topic != CONVERSATION_TOPIC)

    def topic_of(self, intent: str) -> str | None:
        """The topic an intent belongs to."""
        for topic, intents in self.topics.items():
            if intent in intents:
                return topic
        return None

    def is_conversation(self, intent: str) -> bool:
        """True for greet, thanks, help and the other conversation intents."""
        return intent in self.topics.get(CONVERSATION_TOPIC, ())


def load_catalogue(path: Path) -> Catalogue:
    """Read and check the catalogue file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        topics = {str(topic): tuple(str(name) for name in intents) for topic, intents in raw["topics"].items()}
        languages = raw["languages"]
        catalogue = Catalogue(
            topics=topics,
            core_languages=tuple(str(code) for code in languages["core"]),
            extended_languages=tuple(str(code) for code in languages["extended"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not an intent catalogue ({exc!r})") from exc
    if len(set(catalogue.intents)) != len(catalogue.intents):
        raise ValueError(f"{path}: an intent is listed twice")
    return catalogue
