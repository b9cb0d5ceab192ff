"""The live hand-off to the office's counsellors, as a service of the core (no channel imported).

A user asks for a counsellor, reads what is shared and for how long, and agrees; a conversation
then opens under a pseudonymous case code, and the channel relays messages both ways (on
Telegram: one forum topic per conversation in the staff group). This module decides; channels
carry out: who may act, what each side is told, what is stored (only the user <-> topic
mapping, its state and timestamps, deleted ``retention`` after the end or at once by /forget).

Button actions never name another user: they act on the presser's own conversation, and the
end button carries its case code, so a forged or stale one matches nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from bot import messages as m
from bot.handoff_store import Conversation, HandoffStore
from bot.i18n import Translations, Translator, is_rtl

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
IsOpen = Callable[[dt.datetime], bool]
OpensAtText = Callable[[dt.datetime, str], str]

# Consent buttons: the choice travels in the action; the user is the one who pressed.
ACTION_CONSENT: Final = "ho:yes"
ACTION_CONSENT_WOMAN: Final = "ho:woman"
ACTION_CONSENT_NAME: Final = "ho:name"
ACTION_DECLINE: Final = "ho:no"
END_PREFIX: Final = "ho:end:"  # + case code

CASE_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone
CASE_CODE_LENGTH: Final = 6
TOPIC_NAME_LIMIT: Final = 128  # Telegram's limit for a forum topic name
# The question that led to the hand-off is posted in the topic only if it is this recent: an old
# message is not "the last question" any more, and may be something the user no longer means to share.
LAST_QUESTION_MAX_AGE: Final = dt.timedelta(minutes=30)
WOMAN_MARK: Final = "♀"


def utc_now() -> dt.datetime:
    """The real clock."""
    return dt.datetime.now(dt.UTC)


def always_open(now: dt.datetime) -> bool:
    """Default opening hours until the city's are wired: counsellors may answer any time."""
    return True


def no_opening_text(now: dt.datetime, language: str) -> str:
    """Default: nothing known about when the office opens."""
    return ""


def end_action(case_code: str) -> str:
    """The "End the conversation" button of one conversation."""
    return END_PREFIX + case_code


@dataclass(frozen=True)
class HandoffOptions:
    """Who the counsellors are and how long a finished conversation's mapping is kept."""

    staff_user_ids: frozenset[int] = frozenset()
    female_counsellor_ids: frozenset[int] = frozenset()
    retention_hours: int = 72
    idle_days: int = 30  # an open conversation nobody wrote in for this long is closed


@dataclass(frozen=True)
class Opening:
    """A conversation just opened: the channel creates the topic, posts ``staff_intro``, tells the user."""

    conversation: Conversation
    topic_name: str
    staff_intro: str  # in the office's working language (English, like the other staff texts)
    user_reply: m.Reply
    suggested_counsellors: tuple[int, ...]  # for a woman counsellor request: the ones listed as women


@dataclass(frozen=True)
class Closing:
    """A conversation just ended: the channel tells both sides and closes the topic."""

    conversation: Conversation
    user_reply: m.Reply
    staff_text: str


@dataclass(frozen=True)
class UserRoute:
    """Where a user's message goes: the topic; ``notice`` once per conversation."""

    conversation: Conversation
    notice: m.Reply | None


class HandoffService:
    """Open, relay, close; who may act; retention. Channel-neutral and clock-injected."""

    def __init__(
        self,
        store: HandoffStore,
        translations: Translations,
        options: HandoffOptions | None = None,
        *,
        clock: Clock = utc_now,
        is_open: IsOpen = always_open,
        opens_at_text: OpensAtText = no_opening_text,
    ) -> None:
        self.store = store
        self.translations = translations
        self.options = options or HandoffOptions()
        self.clock = clock
        self.is_open = is_open
        self.opens_at_text = opens_at_text

    # ----- asking and agreeing -------------------------------------------------------------------

    def offer(self, user_key: str, language: str) -> m.Reply:
        """The consent text: what is shared, for how long, and the choices."""
        _ = self._t(language)
        current = self.store.by_user(user_key)
        if current is not None and current.is_open:
            return self._already_open(language, current)
        lines = [
            _("I can pass you to a counsellor of the reception office, here in this chat."),
            _(
                "What is shared: your last question, the messages you send from now on, your language and the topic. "
                "Not your name or username, unless you choose so."
            ),
            _(
                "The office keeps the conversation in its staff group. I keep only a link between you "
                "and the conversation, deleted {hours} hours after it ends."
            ).format(hours=self.options.retention_hours),
        ]
        closed = self._closed_note(language)
        if closed:
            lines.append(closed)
        buttons: tuple[m.ButtonRow, ...] = (
            (m.Button(_("Yes, write to a counsellor"), ACTION_CONSENT),),
            (m.Button(_("Yes, with a woman counsellor"), ACTION_CONSENT_WOMAN),),
            (m.Button(_("Yes, and show my first name"), ACTION_CONSENT_NAME),),
            (m.Button(_("No, thanks"), ACTION_DECLINE),),
        )
        return m.Reply([self._message(language, "\n\n".join(lines), buttons)])

    def consent(
        self,
        user_key: str,
        language: str,
        action: str,
        topic_label: str | None,
        first_name: str | None = None,
    ) -> Opening | m.Reply:
        """The user pressed a consent button: open a conversation, or say why not."""
        _ = self._t(language)
        if action == ACTION_DECLINE:
            return m.Reply([self._message(language, _("All right. You can ask for a counsellor at any time."))])
        current = self.store.by_user(user_key)
        if current is not None and current.is_open:
            return self._already_open(language, current)
        woman = action == ACTION_CONSENT_WOMAN
        if woman and not self.options.female_counsellor_ids:
            text = _(
                "Sorry: no woman counsellor is available for this chat service at the moment. "
                "You can write to another counsellor, or ask the office for a woman counsellor in person."
            )
            buttons = (
                (m.Button(_("Write to a counsellor"), ACTION_CONSENT),),
                (m.Button(_("No, thanks"), ACTION_DECLINE),),
            )
            return m.Reply([self._message(language, text, buttons)])
        now = self.clock()
        conversation = Conversation(
            user_key=user_key,
            case_code=self._new_case_code(),
            topic_id=None,
            state="open",
            notice_sent=False,
            opened_at=now.timestamp(),
            updated_at=now.timestamp(),
        )
        self.store.put(conversation)
        shown_name = first_name if action == ACTION_CONSENT_NAME else None
        suggested = tuple(sorted(self.options.female_counsellor_ids)) if woman else ()
        logger.info("Hand-off opened: case %s, language %s", conversation.case_code, language)
        return Opening(
            conversation=conversation,
            topic_name=topic_name(conversation.case_code, language, topic_label, woman, shown_name),
            staff_intro=self._staff_intro(conversation.case_code, language, topic_label, woman, now),
            user_reply=self._opened_reply(language, conversation, now),
            suggested_counsellors=suggested,
        )

    def shares_last_question(self, asked_at: float | None) -> bool:
        """Whether the user's last question (asked at Unix time ``asked_at``) goes into the new topic."""
        if asked_at is None:
            return False
        return self.clock() - dt.datetime.fromtimestamp(asked_at, dt.UTC) <= LAST_QUESTION_MAX_AGE

    def attach_topic(self, user_key: str, topic_id: int) -> Conversation | None:
        """Record the forum topic the channel created for the user's open conversation."""
        current = self.store.by_user(user_key)
        if current is None or not current.is_open:
            return None
        updated = replace(current, topic_id=topic_id, updated_at=self.clock().timestamp())
        self.store.put(updated)
        return updated

    def abort(self, user_key: str, language: str) -> m.Reply:
        """The channel could not open the conversation (staff group unreachable): undo, apologise."""
        self.store.delete(user_key)
        _ = self._t(language)
        text = _(
            "Sorry, I cannot reach the counsellors right now. Please try again later, or contact the office directly."
        )
        return m.Reply([self._message(language, text)])

    # ----- relaying ------------------------------------------------------------------------------

    def route_user_message(self, user_key: str, language: str) -> UserRoute | None:
        """Where the user's message goes while a conversation is open; None: the bot answers it."""
        current = self.store.by_user(user_key)
        if current is None or not current.is_open or current.topic_id is None:
            return None
        notice = None
        if not current.notice_sent:
            _ = self._t(language)
            text = _(
                "Your messages go to the counsellor; I do not answer them myself while you talk. "
                "The menu still works. To finish, use /end."
            )
            notice = m.Reply([self._message(language, text, self._end_row(language, current))])
        updated = replace(current, notice_sent=True, updated_at=self.clock().timestamp())
        self.store.put(updated)
        return UserRoute(updated, notice)

    def route_staff_message(self, topic_id: int, sender_id: int, in_staff_chat: bool) -> Conversation | None:
        """The conversation a counsellor's message in ``topic_id`` goes to; None: not relayed."""
        if not self.may_act(sender_id, in_staff_chat):
            return None
        current = self.store.by_topic(topic_id)
        if current is None or not current.is_open:
            return None
        updated = replace(current, updated_at=self.clock().timestamp())
        self.store.put(updated)
        return updated

    def may_act(self, user_id: int, in_staff_chat: bool) -> bool:
        """Staff are the ids in the settings and the members of the staff group (who can post there)."""
        return user_id in self.options.staff_user_ids or in_staff_chat

    def not_in_conversation(self, language: str) -> m.Reply:
        """/end without an open conversation."""
        return m.Reply([self._message(language, self._t(language)("You are not talking with a counsellor now."))])

    def not_delivered(self, language: str, seconds: int) -> m.Reply:
        """Telegram's flood limit held the user's message back: she must send it again."""
        _ = self._t(language)
        text = _(
            "Your message was not delivered: too many messages right now. Please send it again in {seconds} seconds."
        ).format(seconds=seconds)
        return m.Reply([self._message(language, text)])

    def unavailable(self, language: str) -> m.Reply:
        """The channel has no staff group configured: say so rather than pretend."""
        _ = self._t(language)
        text = _("Chatting with a counsellor is not available here yet. Please contact the reception office directly.")
        return m.Reply([self._message(language, text)])

    # ----- ending --------------------------------------------------------------------------------

    def end_by_user(self, user_key: str, language: str, case_code: str | None = None) -> Closing | None:
        """The user ends their own conversation (/end, or the button with its case code)."""
        current = self.store.by_user(user_key)
        if current is None or not current.is_open:
            return None
        if case_code is not None and case_code != current.case_code:
            logger.info("End button for another case ignored")
            return None
        _ = self._t(language)
        closed = self._close(current)
        reply = m.Reply([self._message(language, _("The conversation with the counsellor has ended. Thank you."))])
        return Closing(closed, reply, f"Case {closed.case_code}: the user ended the conversation.")

    def close_by_staff(self, topic_id: int, sender_id: int, in_staff_chat: bool, language_of: str) -> Closing | None:
        """A counsellor ends the conversation of ``topic_id`` (the /close command in the topic)."""
        if not self.may_act(sender_id, in_staff_chat):
            return None
        current = self.store.by_topic(topic_id)
        if current is None or not current.is_open:
            return None
        _ = self._t(language_of)
        closed = self._close(current)
        text = _("The counsellor has ended the conversation. You can ask for a counsellor again at any time.")
        reply = m.Reply([self._message(language_of, text)])
        return Closing(closed, reply, f"Case {closed.case_code}: closed.")

    def user_unreachable(self, conversation: Conversation) -> Closing:
        """The user blocked the bot: close and tell the counsellors (the user cannot be told)."""
        closed = self._close(conversation)
        text = f"Case {closed.case_code}: the user has blocked the bot; messages cannot be delivered. Closed."
        return Closing(closed, m.Reply(), text)

    def topic_gone(self, conversation: Conversation, language: str) -> Closing:
        """The topic was deleted or closed on the office's side: close and tell the user."""
        _ = self._t(language)
        closed = self._close(conversation)
        text = _(
            "Your message could not be delivered: the conversation was closed on the office's side. "
            "You can ask for a counsellor again."
        )
        buttons = ((m.Button(_("Write to a counsellor"), m.ACTION_COUNSELLOR),),)
        return Closing(closed, m.Reply([self._message(language, text, buttons)]), "")

    def forget(self, user_key: str) -> Closing | None:
        """/forget: end any open conversation and delete the mapping now; the closing, if one was open."""
        current = self.store.by_user(user_key)
        self.store.delete(user_key)
        if current is None or not current.is_open:
            return None
        logger.info("Hand-off %s ended and deleted by /forget", current.case_code)
        text = f"Case {current.case_code}: the user ended the conversation and asked to delete their data."
        return Closing(replace(current, state="closed"), m.Reply(), text)

    def close_idle(self, language_of: Callable[[str], str]) -> list[Closing]:
        """Close conversations nobody wrote in for ``idle_days``, so their mapping can expire too."""
        cutoff = self.clock() - dt.timedelta(days=self.options.idle_days)
        closings = []
        for conversation in self.store.open_idle_before(cutoff.timestamp()):
            language = language_of(conversation.user_key)
            _ = self._t(language)
            text = _("The conversation with the counsellor was closed after a long silence. You can ask again.")
            closed = self._close(conversation)
            staff_text = f"Case {closed.case_code}: closed after {self.options.idle_days} days without messages."
            closings.append(Closing(closed, m.Reply([self._message(language, text)]), staff_text))
        return closings

    def purge(self) -> int:
        """Delete mappings of conversations that ended more than ``retention_hours`` ago."""
        cutoff = self.clock() - dt.timedelta(hours=self.options.retention_hours)
        return self.store.delete_closed_before(cutoff.timestamp())

    # ----- texts ---------------------------------------------------------------------------------

    def _opened_reply(self, language: str, conversation: Conversation, now: dt.datetime) -> m.Reply:
        _ = self._t(language)
        lines = [
            _("You are now connected to the reception office. Your case code is {code}.").format(
                code=conversation.case_code
            ),
            _("Write your question here: a counsellor will answer in this chat."),
        ]
        closed = self._closed_note(language, now)
        if closed:
            lines.append(closed)
        return m.Reply([self._message(language, "\n\n".join(lines), self._end_row(language, conversation))])

    def _closed_note(self, language: str, now: dt.datetime | None = None) -> str:
        now = now or self.clock()
        if self.is_open(now):
            return ""
        _ = self._t(language)
        opens = self.opens_at_text(now, language)
        if opens:
            note = _("The office is closed now. It opens {when}.").format(when=opens)
        else:
            note = _("The office is closed now.")
        return note + " " + _("You can leave a message: the counsellors will see it when they come in.")

    def _already_open(self, language: str, current: Conversation) -> m.Reply:
        _ = self._t(language)
        text = _("You are already talking with a counsellor (case {code}). Just write your message.").format(
            code=current.case_code
        )
        return m.Reply([self._message(language, text, self._end_row(language, current))])

    def _end_row(self, language: str, conversation: Conversation) -> tuple[m.ButtonRow, ...]:
        _ = self._t(language)
        return ((m.Button(_("End the conversation"), end_action(conversation.case_code)),),)

    def _staff_intro(
        self, case_code: str, language: str, topic_label: str | None, woman: bool, now: dt.datetime
    ) -> str:
        lines = [
            f"New conversation, case {case_code}",
            f"Language: {language}",
            f"Topic: {topic_label or 'not given'}",
        ]
        if woman:
            lines.append(f"{WOMAN_MARK} The user asked for a woman counsellor.")
        if not self.is_open(now):
            lines.append("Received out of office hours: the user was told when the office opens.")
        lines.append("Reply in this topic to answer the user. /close ends the conversation.")
        return "\n".join(lines)

    def _new_case_code(self) -> str:
        while True:
            code = "".join(secrets.choice(CASE_ALPHABET) for _ in range(CASE_CODE_LENGTH))
            if self.store.by_case(code) is None:
                return code

    def _close(self, conversation: Conversation) -> Conversation:
        closed = replace(conversation, state="closed", updated_at=self.clock().timestamp())
        self.store.put(closed)
        logger.info("Hand-off closed: case %s", closed.case_code)
        return closed

    def _message(self, language: str, text: str, buttons: tuple[m.ButtonRow, ...] = ()) -> m.OutgoingMessage:
        return m.OutgoingMessage(text=text, language=language, buttons=buttons, rtl=is_rtl(language))

    def _t(self, language: str) -> Translator:
        return self.translations.translator(language)


def topic_name(case_code: str, language: str, topic_label: str | None, woman: bool, first_name: str | None) -> str:
    """``"K7P2QX · ar · Housing · ♀"``: pseudonymous unless the user chose to show a first name."""
    parts = [case_code, language]
    if topic_label:
        parts.append(topic_label)
    if woman:
        parts.append(WOMAN_MARK)
    if first_name:
        parts.append(first_name)
    return " · ".join(parts)[:TOPIC_NAME_LIMIT]
