"""Channel-neutral replies: what to say and which buttons to offer, not how to draw them."""

from __future__ import annotations

from dataclasses import dataclass, field

# Button actions: short ASCII strings, so Telegram's 64-byte callback_data limit always holds.
ACTION_MENU = "menu"
ACTION_HUMAN = "human"
ACTION_LANGUAGES = "langs"
ACTION_FORGET_CONFIRM = "forget:yes"
ACTION_COUNSELLOR = "counsellor"  # open the hand-off consent (office card)
ACTION_ERASE_CHAT = "erase"  # "Delete this chat" (safety and privacy answers, after /forget)


def language_action(language: str) -> str:
    """Choose ``language``."""
    return f"lang:{language}"


def topic_action(topic: str) -> str:
    """Show the intents of a topic."""
    return f"topic:{topic}"


def intent_action(intent: str) -> str:
    """Show the answer of an intent."""
    return f"intent:{intent}"


def feedback_action(helpful: bool, intent: str) -> str:
    """Was the answer to ``intent`` helpful?"""
    return f"fb:{'up' if helpful else 'down'}:{intent}"


def original_action(intent: str, language: str) -> str:
    """Show the reviewed original of a draft translation."""
    return f"orig:{language}:{intent}"


@dataclass(frozen=True)
class Button:
    """A button that sends ``action`` back to the bot."""

    label: str
    action: str


@dataclass(frozen=True)
class LinkButton:
    """A button that opens ``url``."""

    label: str
    url: str


ButtonRow = tuple[Button | LinkButton, ...]


@dataclass(frozen=True)
class OutgoingMessage:
    """One message: text in the answer markup (``bot.markup``), buttons in rows."""

    text: str
    language: str
    buttons: tuple[ButtonRow, ...] = ()
    rtl: bool = False


@dataclass
class Reply:
    """What the bot answers to one input, plus facts for channels and statistics."""

    messages: list[OutgoingMessage] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    source: str | None = None  # the answer's source, kept for channels and staff tools
