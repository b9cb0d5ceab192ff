"""Shapes shared by every NLU backend: Rasa's ``/model/parse`` answer and the backend protocol."""

from __future__ import annotations

from typing import Protocol, TypedDict

# The intent name Rasa's FallbackClassifier predicts below its threshold; we use the same name.
FALLBACK_INTENT = "nlu_fallback"


class IntentScore(TypedDict):
    """One intent with its confidence in [0, 1]."""

    name: str
    confidence: float


class _ParseRequired(TypedDict):
    text: str
    intent: IntentScore
    intent_ranking: list[IntentScore]
    entities: list[dict[str, object]]


class ParseResult(_ParseRequired, total=False):
    """Rasa's ``POST /model/parse`` answer, plus the detected ``language`` when known."""

    language: str | None


class NluBackend(Protocol):
    """Anything that turns a text into Rasa's parse shape."""

    name: str

    async def parse(self, text: str) -> ParseResult:
        """Classify ``text``; never raises for odd input (empty, huge, control characters)."""
        ...

    async def close(self) -> None:
        """Release sessions, files or threads."""
        ...
