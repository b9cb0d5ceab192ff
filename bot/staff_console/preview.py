"""The answer as a Telegram user sees it: the dialogue core builds the reply, the bot's renderer draws it.

Nothing here re-implements the bot: the core chooses the texts and buttons (links, follow-ups,
feedback, menu) exactly as for a button press, and ``bot.channels.telegram.render`` turns them into
the HTML Telegram receives. The console only wraps that HTML in bubbles.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from bot import messages as m
from bot.catalogue import Catalogue
from bot.channels.telegram.render import combine, render
from bot.dialogue import DialogueCore
from bot.i18n import Translations
from bot.staff_console.content_access import Answer, ContentStore, is_rtl
from bot.storage import SQLiteStore, UserState
from nlu.langid import LanguageDetector
from nlu.types import NluBackend, ParseResult


@dataclass(frozen=True)
class PreviewButton:
    """A button under a bubble: a link opens ``url``; other buttons only show their label."""

    label: str
    url: str | None


@dataclass(frozen=True)
class Bubble:
    """One Telegram message: Telegram HTML (safe: only <b> and https <a>), its keyboard, direction."""

    html: Markup
    rows: tuple[tuple[PreviewButton, ...], ...]
    rtl: bool


class _WithCandidate(ContentStore):
    """The city (its facts, its city.yml, its answers) with one answer replaced by the text being edited."""

    def __init__(self, base: ContentStore, candidate: Answer) -> None:
        super().__init__(base.city_dir, base.catalogue, base.fact_max_age_days, base.today)
        self.facts = base.facts
        self.city = base.city
        self._base = base
        self._candidate = candidate

    def get(self, language: str, intent: str) -> Answer | None:
        if (language, intent) == (self._candidate.language, self._candidate.intent):
            return self._candidate
        return self._base.get(language, intent)

    def version(self, intent: str) -> str | None:
        return self._base.version(intent)


class _NoParsing:
    """A button press never asks the NLU; the preview has no model to offer."""

    name = "preview"

    async def parse(self, text: str) -> ParseResult:
        raise RuntimeError("the preview only presses buttons")

    async def close(self) -> None:
        """Nothing to release."""


def preview(answer: Answer, content: ContentStore, catalogue: Catalogue, translations: Translations) -> list[Bubble]:
    """The bubbles the bot sends when a user in ``answer.language`` opens this answer."""
    store = SQLiteStore(":memory:")
    try:
        nlu: NluBackend = _NoParsing()
        core = DialogueCore(
            catalogue,
            nlu,
            LanguageDetector(catalogue.languages),
            _WithCandidate(content, answer),
            translations,
            store,
        )
        state = UserState("staff-preview", language=answer.language)
        reply = core.handle_action(state, m.intent_action(answer.intent))
    finally:
        store.close()
    return [_bubble(message) for message in combine(reply.messages)]


def _bubble(message: m.OutgoingMessage) -> Bubble:
    rendered = render(message)
    # render() output is Telegram HTML built by bot.markup: every character is escaped except <b>
    # and <a href="https://…">, so it is safe to embed as it is.
    html = Markup("\n".join(rendered.texts)) if rendered.parse_mode else Markup.escape("\n".join(rendered.texts))
    rows = tuple(
        tuple(PreviewButton(button.text, button.url) for button in row)
        for row in (rendered.keyboard.inline_keyboard if rendered.keyboard else ())
    )
    return Bubble(html, rows, message.rtl or is_rtl(message.language))
