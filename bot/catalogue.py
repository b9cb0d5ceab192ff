"""The intent catalogue: intent names, their topics and labels, their roles, the supported languages.

``nlu/catalogue.yml`` holds the intents of the shared specification (a test keeps them equal), plus
the menu labels of the topics per language and the role of the intents the engine treats specially.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CONVERSATION_TOPIC = "conversation"
ROLES = (
    "greeting",
    "help",
    "handoff",
    "office",
    "emergency",
    "out_of_scope",
    "abuse",
    "medical_question",
    "change_language",
    "safety",
    "medical",
)
# Roles whose reply is a UI string of the engine, not a curated answer: no answer file needs them.
UI_REPLY_ROLES = ("abuse", "medical_question")


@dataclass(frozen=True)
class Catalogue:
    """Topics with their intents, in the catalogue's order, and the core/extended languages."""

    topics: dict[str, tuple[str, ...]]
    core_languages: tuple[str, ...]
    extended_languages: tuple[str, ...]
    topic_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # topic -> language -> label
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> intents

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

    def has_role(self, intent: str, role: str) -> bool:
        """True when the engine treats ``intent`` as ``role`` (see ``ROLES``)."""
        return intent in self.roles.get(role, ())

    def intent_for(self, role: str) -> str:
        """The (first) intent that plays ``role``, e.g. the hand-off intent."""
        return self.roles[role][0]

    @property
    def ui_reply_intents(self) -> frozenset[str]:
        """Intents answered with a UI string (insults, medical questions), never with an answer file."""
        return frozenset(intent for role in UI_REPLY_ROLES for intent in self.roles.get(role, ()))

    def topic_label(self, topic: str, language: str) -> str:
        """The menu label of ``topic`` in ``language`` (English, then the topic name, when missing)."""
        labels = self.topic_labels.get(topic, {})
        return labels.get(language) or labels.get("en") or topic

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
            topic_labels={
                str(topic): {str(code): str(label) for code, label in labels.items()}
                for topic, labels in (raw.get("topic_labels") or {}).items()
            },
            roles={str(role): tuple(str(name) for name in names) for role, names in (raw.get("roles") or {}).items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not an intent catalogue ({exc!r})") from exc
    if len(set(catalogue.intents)) != len(catalogue.intents):
        raise ValueError(f"{path}: an intent is listed twice")
    for role, names in catalogue.roles.items():
        if role not in ROLES or not names or not set(names) <= set(catalogue.intents):
            raise ValueError(f"{path}: roles.{role}: a role of {ROLES} played by intents of the catalogue")
    missing_roles = set(ROLES) - set(catalogue.roles)
    if missing_roles:
        raise ValueError(f"{path}: roles: no intent plays {', '.join(sorted(missing_roles))}")
    return catalogue
