"""The channel-agnostic dialogue core: ``(user state, text or button)`` in, channel-neutral replies out.

It asks the NLU backend for the intent and the language detector for the language, picks the
curated answer from the content store and the UI strings from the catalogs. It never imports a
channel, and every reply offers a way on (menu, suggestions, a person): no dead ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot import messages as m
from bot.catalogue import Catalogue
from bot.city import office_card
from bot.content import Answer, ContentStore
from bot.facts import render
from bot.i18n import Translations, Translator, endonym, is_rtl
from bot.storage import StateStore, UserState
from bot.understanding import Kind, Understanding, kinds_of_intents, split_questions, understand
from nlu.langid import LanguageDetector
from nlu.types import NluBackend, ParseResult

logger = logging.getLogger(__name__)

MAX_INPUT_CHARS = 2000  # a question is never longer; the rest of a pasted wall of text is ignored
SUGGESTION_MIN_CONFIDENCE = 0.08
MENU_ROLES = ("greeting", "help", "out_of_scope")  # answers followed by the topic menu


# Marks a string for extraction by pybabel without translating it at import time.
def N_(message: str) -> str:
    """Mark ``message`` for translation later."""
    return message


def utc_now() -> dt.datetime:
    """The current time (the default clock; tests inject their own)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class CoreOptions:
    """Behaviour settings of the dialogue core."""

    default_language: str = "fr"
    serve_drafts: bool = True
    female_counsellor_available: bool = False
    retention_days: int = 180
    store_message_texts: bool = False


class QuestionLog(Protocol):
    """Told about each parsed question and each 👎 (the staff console's insights)."""

    def parsed(self, user_key: str, text: str, language: str, parse: ParseResult) -> None:
        """A typed question and the model's verdict."""
        ...

    def feedback_down(self, user_key: str, language: str, intent: str) -> None:
        """A 👎 under the answer to ``intent``."""
        ...


class DialogueCore:
    """Turns user input into replies; shared by the Telegram and terminal channels."""

    def __init__(
        self,
        catalogue: Catalogue,
        nlu: NluBackend,
        detector: LanguageDetector,
        content: ContentStore,
        translations: Translations,
        store: StateStore,
        options: CoreOptions | None = None,
        question_log: QuestionLog | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.catalogue = catalogue
        self.nlu = nlu
        self.detector = detector
        self.content = content
        self.translations = translations
        self.store = store
        self.options = options or CoreOptions()
        self.question_log = question_log
        self.clock = clock
        # The catalogue is fixed for the process: which intents are out-of-scope kinds is known once.
        self._out_of_scope_kinds = kinds_of_intents(catalogue.roles)
        self._answerable_of: tuple[tuple[str, ...] | None, tuple[str, ...]] = (None, ())

    @property
    def intents(self) -> tuple[str, ...]:
        """The intents of this core's city: the shared catalogue's and the city's own."""
        return self.content.intents

    # ----- entry points used by channels -------------------------------------------------------

    def resolve_language(self, state: UserState, suggested: str | None = None) -> str:
        """The user's language: chosen, else the channel's hint when supported, else the default."""
        if state.language in self.catalogue.languages:
            return state.language
        if suggested:
            base = suggested.lower().replace("_", "-").split("-")[0]
            if base in self.catalogue.languages:
                return base
        return self.options.default_language

    def start(self, state: UserState, suggested_language: str | None = None) -> m.Reply:
        """First contact: a welcome and the language picker, the likely language marked."""
        language = self.resolve_language(state, suggested_language)
        _ = self._t(language)
        text = _(
            "Welcome! I answer questions about life in {city} for newcomers: papers, housing, "
            "courses, health, work and help."
        ).format(city=self.content.city.name(language))
        return m.Reply(
            [
                self._message(language, text),
                self._language_picker(language, selected=language),
            ]
        )

    async def handle_text(self, state: UserState, text: str) -> m.Reply:
        """Answer a free-text message."""
        cleaned = clean_text(text)
        detection = self.detector.detect(cleaned) if cleaned else None
        first_contact = state.language not in self.catalogue.languages
        if first_contact and detection is not None and detection.language:
            state.language = detection.language
        language = self.resolve_language(state)
        if not _has_words(cleaned):
            self.store.count("no_words", language)
            return self._with_language_hint(first_contact, language, self._please_type(language))
        parse = await self.nlu.parse(cleaned)
        _ = self._t(language)
        intent, confidence = parse["intent"]["name"], float(parse["intent"]["confidence"])
        self.store.log_message(cleaned, language, intent, confidence)
        if self.question_log is not None:
            self.question_log.parsed(state.user_key, cleaned, language, parse)
        logger.debug("Parsed message: intent=%s confidence=%.2f language=%s", intent, confidence, language)
        parts = [await self.nlu.parse(part) for part in split_questions(cleaned)]
        decision = understand(parse, self._answerable(), self._out_of_scope_kinds, parts)
        if decision.kind is Kind.ANSWER and decision.intent in self.intents:
            intent = decision.intent
            self.store.count("question", language, intent)
            state.last_intent = intent
            reply = self._answer_intent(language, intent, with_feedback=not self.catalogue.is_conversation(intent))
            if decision.options:
                reply.messages.append(self._topic_choice(language, _("You also asked about:"), decision.options))
        elif decision.kind in {Kind.ANSWER, Kind.FALLBACK}:
            self.store.count("fallback", language)
            reply = self._fallback(language, parse)
        else:
            self.store.count(decision.kind.value, language)
            reply = self._not_answered(language, decision)
        reply.intent, reply.confidence = intent, confidence
        if detection is not None and detection.language and detection.language != language:
            reply.messages.append(self._switch_offer(detection.language))
        self.store.save(state)
        return self._with_language_hint(
            first_contact and detection is not None and not detection.language, language, reply
        )

    def handle_action(self, state: UserState, action: str) -> m.Reply:
        """Answer a button press; unknown or stale actions get a polite menu, never an error."""
        language = self.resolve_language(state)
        kind, _sep, rest = action.partition(":")
        if kind == "lang" and rest in self.catalogue.languages:
            state.language = rest
            self.store.save(state)
            _ = self._t(rest)
            confirmation = _("From now on I answer in {language}.").format(language=endonym(rest))
            return m.Reply([self._message(rest, confirmation), self.menu(rest)])
        if action == m.ACTION_LANGUAGES:
            return m.Reply([self._language_picker(language, selected=language)])
        if action == m.ACTION_MENU:
            return m.Reply([self.menu(language)])
        if kind == "topic" and rest in self.catalogue.menu_topics:
            return m.Reply([self._topic_menu(language, rest)])
        if kind == "intent" and rest in self.intents:
            self.store.count("button", language, rest)
            state.last_intent = rest
            self.store.save(state)
            reply = self._answer_intent(language, rest, with_feedback=not self.catalogue.is_conversation(rest))
            reply.intent = rest
            return reply
        if action == m.ACTION_HUMAN:
            return self._answer_intent(language, self.catalogue.intent_for("handoff"), with_feedback=False)
        if kind == "fb":
            verdict, _sep, intent = rest.partition(":")
            if verdict in {"up", "down"} and intent in self.intents:
                if verdict == "down" and self.question_log is not None:
                    self.question_log.feedback_down(state.user_key, language, intent)
                return self._feedback(language, intent, verdict == "up")
        if kind == "orig":
            original_language, _sep, intent = rest.partition(":")
            original = self.content.get(original_language, intent)
            if original is not None and original_language in self.catalogue.languages:
                return m.Reply([self._answer_message(original, original_language, with_feedback=False)])
        if action == m.ACTION_FORGET_CONFIRM:
            return self.forget(state)
        _ = self._t(language)
        self.store.count("stale_button", language)
        return m.Reply(
            [self._message(language, _("This button is no longer valid. Here is the menu.")), self.menu(language)]
        )

    def menu(self, language: str) -> m.OutgoingMessage:
        """The topic menu."""
        _ = self._t(language)
        rows: list[m.ButtonRow] = [
            (m.Button(self.catalogue.topic_label(topic, language), m.topic_action(topic)),)
            for topic in self.catalogue.menu_topics
        ]
        rows.append((m.Button(_("Talk to a person"), m.ACTION_HUMAN), m.Button(_("Language"), m.ACTION_LANGUAGES)))
        return self._message(language, _("Choose a topic, or type your question in your own words."), tuple(rows))

    def help(self, state: UserState) -> m.Reply:
        """What the bot can do, and the menu."""
        return self._answer_intent(self.resolve_language(state), self.catalogue.intent_for("help"), with_feedback=False)

    def non_text(self, state: UserState) -> m.Reply:
        """A photo, voice message, sticker or file: we only read text."""
        language = self.resolve_language(state)
        _ = self._t(language)
        self.store.count("non_text", language)
        text = _("I can only read text messages. Please type your question, or choose a topic.")
        return m.Reply([self._message(language, text), self.menu(language)])

    def privacy(self, state: UserState) -> m.Reply:
        """What is stored and for how long."""
        language = self.resolve_language(state)
        _ = self._t(language)
        lines = [
            _("What I keep about you: only your chosen language and the topic of your last question."),
            _("It is deleted after {days} days without use.").format(days=self.options.retention_days),
            _("I count questions per topic and language, without knowing who asked."),
        ]
        if self.options.store_message_texts:
            lines.append(_("Message texts are kept without your name, to improve the answers."))
        else:
            lines.append(_("I do not keep the texts of your messages."))
        lines.append(_("To delete what I keep about you now, use /forget. You can also delete this chat."))
        erase = ((m.Button(_("Delete this chat"), m.ACTION_ERASE_CHAT),),)
        return m.Reply([self._message(language, "\n".join(lines), erase)])

    def confirm_forget(self, state: UserState) -> m.Reply:
        """Ask before deleting the user's data."""
        language = self.resolve_language(state)
        _ = self._t(language)
        buttons = ((m.Button(_("Yes, delete"), m.ACTION_FORGET_CONFIRM), m.Button(_("No"), m.ACTION_MENU)),)
        return m.Reply([self._message(language, _("Delete everything I keep about you?"), buttons)])

    def forget(self, state: UserState) -> m.Reply:
        """Delete the user's stored data and confirm (in the language they were using)."""
        language = self.resolve_language(state)
        existed = self.store.forget(state.user_key)
        state.language, state.last_intent = None, None
        _ = self._t(language)
        text = _("Done: everything I kept about you is deleted.") if existed else _("I had nothing stored about you.")
        return m.Reply([self._message(language, text)])

    def error_reply(self, language: str | None) -> m.Reply:
        """What the user sees when something broke on our side."""
        language = language if language in self.catalogue.languages else self.options.default_language
        _ = self._t(language)
        text = _("Sorry, something went wrong on my side. Please try again, or choose a topic.")
        return m.Reply([self._message(language, text), self.menu(language)])

    # ----- building replies --------------------------------------------------------------------

    def _answer_intent(self, language: str, intent: str, with_feedback: bool) -> m.Reply:
        if intent in self.content.city.disabled:
            return self._not_here(language, intent)
        answer, answer_language = self._find_answer(language, intent)
        _ = self._t(language)
        if answer is None:
            text = _("I do not have an answer for this yet. Please ask the reception office.")
            return m.Reply([self._message(language, text), self.menu(language)])
        messages = []
        if answer_language != language:
            notice = _("This answer is not yet available in your language. Here it is in {language}.")
            messages.append(self._message(language, notice.format(language=endonym(answer_language))))
        if self.catalogue.has_role(intent, "change_language"):
            messages.append(self._language_picker(language, selected=language, prompt=self._filled(answer)))
            return m.Reply(messages, source=answer.source)
        messages.append(self._answer_message(answer, language, with_feedback))
        messages.extend(self._office_cards(intent, language))
        if any(self.catalogue.has_role(intent, role) for role in MENU_ROLES):
            messages.append(self.menu(language))
        return m.Reply(messages, source=answer.source)

    def _office_cards(self, intent: str, language: str) -> list[m.OutgoingMessage]:
        """The office card(s) under the office answer; the hand-off office's under the hand-off answer."""
        city = self.content.city
        if self.catalogue.has_role(intent, "office"):
            offices = list(city.offices)
        elif self.catalogue.has_role(intent, "handoff") and city.handoff_office is not None:
            offices = [city.handoff_office]
        else:
            return []
        now = self.clock()
        return [office_card(office, city, self.content.facts, self.translations, language, now) for office in offices]

    def _not_here(self, language: str, intent: str) -> m.Reply:
        """A disabled intent: say honestly it does not apply in this city, and what to read instead."""
        _ = self._t(language)
        city = self.content.city
        buttons: list[m.ButtonRow] = []
        for name in city.disabled[intent].instead:
            answer = self._find_answer(language, name)[0]
            if answer is not None:
                buttons.append((m.Button(answer.title, m.intent_action(name)),))
        text = _("This does not apply in {city}.").format(city=city.name(language))
        if buttons:
            text += "\n" + _("See instead:")
        buttons.append((m.Button(_("Menu"), m.ACTION_MENU), m.Button(_("Talk to a person"), m.ACTION_HUMAN)))
        messages = [self._message(language, text, tuple(buttons))]
        own_answer = self._find_answer(language, intent)[0]
        if own_answer is not None:
            messages.append(self._answer_message(own_answer, language, with_feedback=False))
        return m.Reply(messages, source=own_answer.source if own_answer else None)

    def _filled(self, answer: Answer) -> str:
        """The answer's text with its facts put in; the emergency numbers first for the emergency role."""
        text = answer.filled_text(self.content.facts)
        if not self.catalogue.has_role(answer.intent, "emergency"):
            return text
        lines = []
        for key in self.content.city.emergency_numbers:
            fact = self.content.facts.get(key)
            if fact is not None:
                lines.append(f"**{render(fact, answer.language)}** {fact.label}".rstrip())
        return "\n".join(lines) + "\n\n" + text if lines else text

    def _answer_message(self, answer: Answer, ui_language: str, with_feedback: bool) -> m.OutgoingMessage:
        _ = self._t(ui_language)
        parts = [self._filled(answer)]
        if self.catalogue.has_role(answer.intent, "handoff") and self.options.female_counsellor_available:
            parts.append(_("You can ask to speak with a woman counsellor."))
        if not self.catalogue.is_conversation(answer.intent):
            parts.append(_("Source: {source}").format(source=answer.source))
        if answer.is_draft:
            parts.append(_("Draft: this text has not yet been checked by the office staff."))
        rows: list[m.ButtonRow] = [(m.LinkButton(link.label, link.url),) for link in answer.links]
        follow_ups = [self._find_answer(ui_language, name)[0] for name in answer.follow_up]
        follow_row = tuple(m.Button(f.title, m.intent_action(f.intent)) for f in follow_ups if f is not None)
        rows.extend(follow_row[i : i + 2] for i in range(0, len(follow_row), 2))
        original = self._reviewed_original(answer)
        if original is not None:
            label = _("Checked original ({language})").format(language=endonym(original.language))
            rows.append((m.Button(label, m.original_action(answer.intent, original.language)),))
        if with_feedback:
            rows.append(
                (
                    m.Button("👍 " + _("Helpful"), m.feedback_action(True, answer.intent)),
                    m.Button("👎 " + _("Not helpful"), m.feedback_action(False, answer.intent)),
                )
            )
        if self.catalogue.has_role(answer.intent, "safety"):
            # On her phone the chat itself can be a danger: one tap removes what the bot can delete.
            rows.append((m.Button(_("Delete this chat"), m.ACTION_ERASE_CHAT),))
        rows.append((m.Button(_("Menu"), m.ACTION_MENU), m.Button(_("Talk to a person"), m.ACTION_HUMAN)))
        return self._message(answer.language, "\n\n".join(parts), tuple(rows))

    def _find_answer(self, language: str, intent: str) -> tuple[Answer | None, str]:
        """The answer in ``language``; else in the city's original or default language; drafts as configured."""
        city = self.content.city
        for candidate in dict.fromkeys((language, city.original_language, city.default_language)):
            answer = self.content.get(candidate, intent)
            if answer is not None and (self.options.serve_drafts or not answer.is_draft):
                return answer, candidate
        return None, language

    def _reviewed_original(self, answer: Answer) -> Answer | None:
        if not answer.is_draft or answer.language == self.content.city.original_language:
            return None
        original = self.content.original(answer.intent)
        return original if original is not None and not original.is_draft else None

    def _fallback(self, language: str, parse: ParseResult) -> m.Reply:
        _ = self._t(language)
        suggestions = []
        for ranked in parse["intent_ranking"]:
            name = ranked["name"]
            if (
                name in self.intents
                and not self.catalogue.is_conversation(name)
                and ranked["confidence"] >= SUGGESTION_MIN_CONFIDENCE
            ):
                answer = self._find_answer(language, name)[0]
                if answer is not None:
                    suggestions.append(m.Button(answer.title, m.intent_action(name)))
            if len(suggestions) == 3:
                break
        text = _(
            "Sorry, I did not understand. Try a few simple words, for example "
            "“housing” or “French course”, or choose a topic."
        )
        messages = []
        if suggestions:
            rows = tuple((button,) for button in suggestions)
            messages.append(self._message(language, text + "\n\n" + _("Did you mean:"), rows))
            messages.append(self.menu(language))
        else:
            messages.append(self.menu(language))
            messages[0] = self._message(language, text + "\n\n" + messages[0].text, messages[0].buttons)
        return m.Reply(messages)

    def _answerable(self) -> tuple[str, ...]:
        """Intents with a topic answer: what "Do you mean…?" and "You also asked" may offer."""
        intents = self.intents
        if self._answerable_of[0] != intents:  # computed again only when the city's intents change
            self._answerable_of = (intents, tuple(i for i in intents if not self.catalogue.is_conversation(i)))
        return self._answerable_of[1]

    def _not_answered(self, language: str, decision: Understanding) -> m.Reply:
        """Clarify between close topics, or the honest reply to an out-of-scope kind."""
        _ = self._t(language)
        if decision.kind is Kind.CLARIFY:
            return m.Reply([self._topic_choice(language, _("Do you mean:"), decision.options, none_of_these=True)])
        if decision.kind is Kind.INSULT:
            text = _(
                "I understand that this is frustrating. I am only a bot: I answer questions about life "
                "as a newcomer. Choose a topic, or talk to a person."
            )
            return m.Reply([self._message(language, text), self.menu(language)])
        if decision.kind is Kind.MEDICAL_ADVICE:
            text = _(
                "I cannot give medical advice, and I cannot say which medicine or dose to take. "
                "Please ask a doctor or a pharmacist."
            )
            doctor = self.catalogue.intent_for("medical")
            return m.Reply([self._topic_choice(language, text, (doctor,)), self.menu(language)])
        return self._answer_intent(language, self.catalogue.intent_for("out_of_scope"), with_feedback=False)

    def _topic_choice(
        self, language: str, text: str, intents: tuple[str, ...], none_of_these: bool = False
    ) -> m.OutgoingMessage:
        """``text`` with one button per intent (its answer's title in the user's language)."""
        _ = self._t(language)
        rows: list[m.ButtonRow] = []
        for intent in intents:
            answer = self._find_answer(language, intent)[0]
            if answer is not None:
                rows.append((m.Button(answer.title, m.intent_action(intent)),))
        if none_of_these:
            rows.append((m.Button(_("None of these"), m.ACTION_MENU), m.Button(_("Talk to a person"), m.ACTION_HUMAN)))
        return self._message(language, text, tuple(rows))

    def _feedback(self, language: str, intent: str, helpful: bool) -> m.Reply:
        _ = self._t(language)
        self.store.count("feedback_up" if helpful else "feedback_down", language, intent)
        if helpful:
            return m.Reply([self._message(language, _("Thank you for your feedback!"))])
        text = _("Thank you. Sorry this did not help. You can talk to a person, or choose another topic.")
        buttons = ((m.Button(_("Talk to a person"), m.ACTION_HUMAN), m.Button(_("Menu"), m.ACTION_MENU)),)
        return m.Reply([self._message(language, text, buttons)])

    def _topic_menu(self, language: str, topic: str) -> m.OutgoingMessage:
        _ = self._t(language)
        buttons = []
        city = self.content.city
        intents = [*self.catalogue.topics[topic], *(name for name, own in city.added.items() if own == topic)]
        for intent in (name for name in intents if name not in city.disabled):
            answer = self._find_answer(language, intent)[0]
            if answer is not None:
                buttons.append(m.Button(answer.title, m.intent_action(intent)))
        rows: list[m.ButtonRow] = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
        rows.append((m.Button(_("Back to topics"), m.ACTION_MENU),))
        title = self.catalogue.topic_label(topic, language)
        return self._message(language, f"**{title}**\n" + _("Choose a question:"), tuple(rows))

    def _language_picker(
        self, language: str, selected: str | None = None, prompt: str | None = None
    ) -> m.OutgoingMessage:
        _ = self._t(language)
        buttons = [
            m.Button(("✓ " if code == selected else "") + endonym(code), m.language_action(code))
            for code in self.catalogue.languages
        ]
        rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))
        return self._message(language, prompt or _("Choose your language:"), rows)

    def _switch_offer(self, detected: str) -> m.OutgoingMessage:
        """Offered in the language the user wrote in, so they can read it."""
        _ = self._t(detected)
        text = _("You wrote in {language}. Do you want me to answer in {language}?").format(language=endonym(detected))
        return self._message(detected, text, ((m.Button(endonym(detected), m.language_action(detected)),),))

    def _please_type(self, language: str) -> m.Reply:
        _ = self._t(language)
        text = _("Please type your question in words, or choose a topic.")
        return m.Reply([self._message(language, text), self.menu(language)])

    def _with_language_hint(self, unsure_first_contact: bool, language: str, reply: m.Reply) -> m.Reply:
        """On a first message whose language we could not tell, also offer the language picker."""
        if unsure_first_contact:
            reply.messages.append(self._language_picker(language, selected=language))
        return reply

    def _message(self, language: str, text: str, buttons: tuple[m.ButtonRow, ...] = ()) -> m.OutgoingMessage:
        return m.OutgoingMessage(text=text, language=language, buttons=buttons, rtl=is_rtl(language))

    def _t(self, language: str) -> Translator:
        return self.translations.translator(language)


_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b\u2028\u2029\ufeff]")


def clean_text(text: str) -> str:
    """Drop control and invisible characters, cut to ``MAX_INPUT_CHARS``, trim spaces."""
    return _CONTROL.sub(" ", text[: MAX_INPUT_CHARS * 2])[:MAX_INPUT_CHARS].strip()


def _has_words(text: str) -> bool:
    """True when the text has a letter or a digit (not only emoji or punctuation)."""
    return any(unicodedata.category(char)[0] in {"L", "N"} for char in text)
