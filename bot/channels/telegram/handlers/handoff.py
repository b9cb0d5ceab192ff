"""The live hand-off on Telegram: one forum topic per conversation in the staff group.

``HandoffService`` (the core) decides; these handlers carry out with the Bot API: the consent
buttons, ``createForumTopic``, ``copyMessage`` both ways (the counsellor's name never reaches the
user, the user's never reaches the topic unless she chose to show it), ``closeForumTopic``, and
clear messages to the other side when Telegram refuses (deleted topic, blocked bot, flood limit).

They run in handler group -1, before the core's handlers (group 0): a message that belongs to a
conversation is relayed and stops there; anything else goes on to the core. The staff group's
messages never reach the core. After the core confirmed /forget (group 0), group 1 offers to
delete the chat.
"""

from __future__ import annotations

import contextlib
import html
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from telegram import Bot, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import handoff as ho
from bot import messages as m
from bot.channels.telegram.handlers import erase as erase_handlers
from bot.channels.telegram.handlers.commands import command_name
from bot.channels.telegram.handlers.common import USER_MEDIA, get_services, language_hint, load_state
from bot.channels.telegram.message_log import MessageIdRecorder
from bot.channels.telegram.render import remove_buttons, send_reply
from bot.city import office_hours
from bot.erase import ACTION_ERASE_CONFIRM, EraseService
from bot.handoff_store import Conversation, HandoffStore
from bot.services import Services
from bot.settings import Settings

logger = logging.getLogger(__name__)

HANDOFF_KEY: Final = "handoff"  # application.bot_data[HANDOFF_KEY]: the HandoffChannel
PURGE_INTERVAL_SECONDS: Final = 3600.0
_FORGET_LANGUAGE: Final = "forget_language"  # chat_data: the language /forget was confirmed in
# chat_data (memory only, never on disk): (message id, Unix time) of the user's last typed question.
_LAST_QUESTION: Final = "last_question"
_BUTTONS: Final = rf"^({m.ACTION_COUNSELLOR}|{m.ACTION_ERASE_CHAT}|{ACTION_ERASE_CONFIRM}|ho:.*)$"
_TOPIC_GONE: Final = ("thread not found", "topic_deleted", "topic_closed", "topic not found")
# What a user may send a counsellor (copyMessage copies all of these).
RELAYABLE: Final = filters.TEXT | USER_MEDIA


@dataclass
class HandoffChannel:
    """The hand-off's Telegram wiring: injectables set at build time, services made in ``start``."""

    settings: Settings
    recorder: MessageIdRecorder | None = None
    clock: ho.Clock = ho.utc_now
    is_open: ho.IsOpen = ho.always_open
    opens_at_text: ho.OpensAtText = ho.no_opening_text
    store: HandoffStore | None = None
    handoff: ho.HandoffService | None = None
    erase: EraseService | None = None

    async def start(self, bot: Bot, services: Services) -> None:
        """Open the tables (in the state database file); the purge runs on the JobQueue (app.py)."""
        try:
            self.store = HandoffStore(self.settings.state_db_path)
        except (OSError, sqlite3.Error) as exc:
            # The bot must keep answering: conversations then live in memory until the next start.
            logger.error(
                "Hand-off tables cannot be opened at %s (%s): kept in memory", self.settings.state_db_path, exc
            )
            self.store = HandoffStore(":memory:")
        options = ho.HandoffOptions(
            staff_user_ids=self.settings.staff_user_ids,
            female_counsellor_ids=self.settings.female_counsellor_ids,
            retention_hours=self.settings.handoff_retention_hours,
        )
        # Out of hours follows the hand-off office's verified hours; without any, counsellors may
        # answer at any time (the card already says no hours are known).
        opening = office_hours(
            services.city.handoff_office, services.city, services.content.facts, services.translations
        )
        if opening is not None and self.is_open is ho.always_open:
            self.is_open, self.opens_at_text = opening.is_open, opening.status
        self.handoff = ho.HandoffService(
            self.store,
            services.translations,
            options,
            clock=self.clock,
            is_open=self.is_open,
            opens_at_text=self.opens_at_text,
        )
        self.erase = EraseService(
            self.store, services.translations, clock=self.clock, count_retention_days=self.settings.state_retention_days
        )
        if self.recorder is not None:
            self.recorder.on_sent = self.erase.record
        self.purge()

    async def stop(self) -> None:
        """Close the tables."""
        if self.recorder is not None:
            self.recorder.on_sent = None
        if self.store is not None:
            self.store.close()

    def purge(self) -> None:
        """Delete ended conversations past retention and message ids past 48 hours."""
        if self.handoff is None or self.erase is None:
            return
        conversations, ids = self.handoff.purge(), self.erase.expire()
        logger.debug("Purged %d ended conversation(s) and %d message id(s)", conversations, ids)

    async def close_idle(self, bot: Bot, services: Services) -> None:
        """Close silent conversations: a note and the topic closed for the office, a word to the user."""
        if self.handoff is None:
            return
        for closing in self.handoff.close_idle(lambda key: services.core.resolve_language(services.store.load(key))):
            await close_topic(bot, self.settings, closing)
            with contextlib.suppress(TelegramError):  # blocked or gone: nothing more to tell
                await send_reply(bot, int(closing.conversation.user_key), closing.user_reply)

    async def maintain(self, bot: Bot, services: Services) -> None:
        """The periodic job: close silent conversations, then purge what retention allows."""
        await self.close_idle(bot, services)
        self.purge()


def register(application: Application[Any, Any, Any, Any, Any, Any], channel: HandoffChannel) -> None:
    """The hand-off and erase handlers; the groups keep them around the core's (group 0)."""
    application.bot_data[HANDOFF_KEY] = channel
    # -2: every private message's id, for "Delete this chat"; never stops the update.
    application.add_handler(TypeHandler(Update, record_incoming), group=-2)
    staff_chat = channel.settings.staff_chat_id
    if staff_chat is not None:
        application.add_handler(MessageHandler(filters.Chat(chat_id=staff_chat), staff_message), group=-1)
    application.add_handler(CommandHandler("end", end_command, filters=filters.ChatType.PRIVATE), group=-1)
    application.add_handler(CommandHandler("close", staff_command_elsewhere), group=-1)
    application.add_handler(CallbackQueryHandler(before_forget, pattern=f"^{m.ACTION_FORGET_CONFIRM}$"), group=-1)
    application.add_handler(CallbackQueryHandler(button, pattern=_BUTTONS), group=-1)
    relayed = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND & RELAYABLE
    application.add_handler(MessageHandler(relayed, user_message), group=-1)
    application.add_handler(CallbackQueryHandler(after_forget, pattern=f"^{m.ACTION_FORGET_CONFIRM}$"), group=1)


def get_channel(context: ContextTypes.DEFAULT_TYPE) -> HandoffChannel:
    """The hand-off wiring registered with the application."""
    channel = context.bot_data.get(HANDOFF_KEY)
    if not isinstance(channel, HandoffChannel):
        raise RuntimeError("the hand-off is not registered")
    return channel


def _services(context: ContextTypes.DEFAULT_TYPE) -> tuple[HandoffChannel, ho.HandoffService, EraseService]:
    channel = get_channel(context)
    if channel.handoff is None or channel.erase is None:
        raise RuntimeError("the hand-off is not started yet (post_init has not run)")
    return channel, channel.handoff, channel.erase


def _user_language(services: Services, update: Update) -> tuple[str, str] | None:
    state = load_state(services, update)
    if state is None:
        return None
    return state.user_key, services.core.resolve_language(state, language_hint(update))


# ----- the user's side -------------------------------------------------------------------------


async def record_incoming(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Note the id of a user's message in a private chat (never its text), for "Delete this chat",
    and, in memory, which one was her last typed question, for the counsellor."""
    channel = get_channel(context)
    message, erase = update.message, channel.erase
    if message is None or erase is None or message.chat.type != ChatType.PRIVATE:
        return
    erase.record(message.chat.id, message.message_id)
    if message.text and command_name(message.text) is None and context.chat_data is not None:
        context.chat_data[_LAST_QUESTION] = (message.message_id, channel.clock().timestamp())


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Counsellor, consent, end and erase buttons: always on the presser's own conversation and chat."""
    query = update.callback_query
    if query is None:
        return
    with contextlib.suppress(TelegramError):
        await query.answer()
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or query.from_user is None or chat.id != query.from_user.id:
        logger.info("Hand-off button outside the user's private chat ignored")
        raise ApplicationHandlerStop
    services = get_services(context)
    channel, handoff, erase = _services(context)
    state = load_state(services, update)
    if state is None:
        raise ApplicationHandlerStop
    user_key, language = state.user_key, services.core.resolve_language(state, language_hint(update))
    action = str(query.data or "")
    pressed = query.message if isinstance(query.message, Message) else None
    if action == m.ACTION_ERASE_CHAT:
        await send_reply(context.bot, chat.id, erase.offer(language))
    elif action == ACTION_ERASE_CONFIRM:
        await erase_handlers.erase_chat(context.bot, erase, chat.id, language)
    elif channel.settings.staff_chat_id is None:
        await send_reply(context.bot, chat.id, handoff.unavailable(language))
    elif action == m.ACTION_COUNSELLOR:
        await send_reply(context.bot, chat.id, handoff.offer(user_key, language))
    elif action.startswith(ho.END_PREFIX):
        await _end(update, context, user_key, language, action.removeprefix(ho.END_PREFIX))
    elif action in {ho.ACTION_CONSENT, ho.ACTION_CONSENT_WOMAN, ho.ACTION_CONSENT_NAME, ho.ACTION_DECLINE}:
        if pressed is not None:
            await remove_buttons(pressed)  # the choice is made
        await _open(update, context, user_key, language, action)
    else:
        await send_reply(context.bot, chat.id, services.core.handle_action(state, action))  # forged or stale
    raise ApplicationHandlerStop


async def _open(update: Update, context: ContextTypes.DEFAULT_TYPE, user_key: str, language: str, action: str) -> None:
    services = get_services(context)
    channel, handoff, _erase = _services(context)
    staff_chat, chat_id = channel.settings.staff_chat_id, int(user_key)
    assert staff_chat is not None
    state = services.store.load(user_key)
    user = update.effective_user
    first_name = user.first_name if user is not None else None
    result = handoff.consent(user_key, language, action, state.last_intent, first_name)
    if not isinstance(result, ho.Opening):
        await send_reply(context.bot, chat_id, result)
        return
    try:
        topic = await context.bot.create_forum_topic(staff_chat, result.topic_name)
        await _post_in_topic(context, topic.message_thread_id, result.staff_intro, result.suggested_counsellors)
    except TelegramError as exc:
        logger.error("Could not open a forum topic in the staff group: %s", exc.message)
        await send_reply(context.bot, chat_id, handoff.abort(user_key, language))
        return
    handoff.attach_topic(user_key, topic.message_thread_id)
    await _post_last_question(context, handoff, chat_id, topic.message_thread_id)
    await send_reply(context.bot, chat_id, result.user_reply)


async def _post_last_question(
    context: ContextTypes.DEFAULT_TYPE, handoff: ho.HandoffService, chat_id: int, topic_id: int
) -> None:
    """Copy the question that led here into the new topic, if it is recent (the consent says so)."""
    last = context.chat_data.pop(_LAST_QUESTION, None) if context.chat_data is not None else None
    if not isinstance(last, tuple) or not handoff.shares_last_question(last[1]):
        return
    staff_chat = get_channel(context).settings.staff_chat_id
    assert staff_chat is not None
    try:
        await context.bot.copy_message(staff_chat, chat_id, last[0], message_thread_id=topic_id)
    except TelegramError as exc:  # deleted by the user meanwhile: the counsellor will ask
        logger.info("Could not post the last question in the new topic: %s", exc.message)


async def _end(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user_key: str, language: str, case_code: str | None
) -> None:
    services = get_services(context)
    _channel, handoff, _erase = _services(context)
    closing = handoff.end_by_user(user_key, language, case_code)
    if closing is None:
        not_open = handoff.not_in_conversation(language)
        await send_reply(context.bot, int(user_key), m.Reply([*not_open.messages, services.core.menu(language)]))
        return
    await _close_topic(context, closing)
    await send_reply(context.bot, int(user_key), closing.user_reply)


async def end_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/end: the user ends her conversation with the counsellor."""
    found = _user_language(get_services(context), update)
    if found is not None:
        await _end(update, context, found[0], found[1], None)
    raise ApplicationHandlerStop


async def user_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """While a conversation is open, the user's message goes to the topic instead of the core."""
    message = update.effective_message
    channel, handoff, _erase = _services(context)
    staff_chat = channel.settings.staff_chat_id
    if message is None or staff_chat is None:
        return  # no hand-off without a staff group: no state to read
    found = _user_language(get_services(context), update)
    if found is None:
        return
    user_key, language = found
    route = handoff.route_user_message(user_key, language)
    if route is None:
        return  # no conversation: the core answers (group 0)
    chat_id = message.chat.id
    try:
        await context.bot.copy_message(
            staff_chat, chat_id, message.message_id, message_thread_id=route.conversation.topic_id
        )
    except RetryAfter as exc:
        await send_reply(context.bot, chat_id, handoff.not_delivered(language, _seconds(exc)))
    except BadRequest as exc:
        if not _is_topic_gone(exc):
            raise
        closing = handoff.topic_gone(route.conversation, language)
        logger.warning("Case %s: its topic is gone; closed", closing.conversation.case_code)
        await send_reply(context.bot, chat_id, closing.user_reply)
    else:
        if route.notice is not None:
            await send_reply(context.bot, chat_id, route.notice)
    raise ApplicationHandlerStop


async def before_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget confirmed: end any open conversation and delete its mapping (the core then forgets the rest)."""
    found = _user_language(get_services(context), update)
    if found is None or context.chat_data is None:
        return
    user_key, language = found
    context.chat_data.pop(_LAST_QUESTION, None)
    context.chat_data[_FORGET_LANGUAGE] = language
    closing = _services(context)[1].forget(user_key)
    if closing is not None:
        await _close_topic(context, closing)


async def after_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """After the core's "Done": the messages are still on the phone; offer to delete them."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or context.chat_data is None:
        return
    language = context.chat_data.pop(_FORGET_LANGUAGE, None)
    if isinstance(language, str):
        erase = _services(context)[2]
        await send_reply(context.bot, chat.id, erase.offer_after_forget(language))


# ----- the counsellors' side -------------------------------------------------------------------


async def staff_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message in the staff group: /close, or a counsellor's reply to relay to the user."""
    message, sender = update.effective_message, update.effective_user
    if message is None or sender is None or sender.is_bot:
        raise ApplicationHandlerStop
    topic_id = message.message_thread_id if message.is_topic_message else None
    name = command_name(message.text or "")
    if name is not None and name != "close":
        return  # /reload, /stats: the staff commands of group 0
    if topic_id is None:
        raise ApplicationHandlerStop  # the General topic: the counsellors' own talk
    if update.edited_message is not None:
        await _post_in_topic(context, topic_id, "Edits are not passed on to the user: send a new message.")
        raise ApplicationHandlerStop
    services = get_services(context)
    _channel, handoff, _erase = _services(context)
    if name == "close":
        conversation = handoff.store.by_topic(topic_id)
        user_key = conversation.user_key if conversation is not None else ""
        language = services.core.resolve_language(services.store.load(user_key))
        closing = handoff.close_by_staff(topic_id, sender.id, True, language)
        if closing is not None:
            await _close_topic(context, closing)
            await _send_to_user(context, closing.conversation, closing.user_reply)
        raise ApplicationHandlerStop
    relayed_to = handoff.route_staff_message(topic_id, sender.id, in_staff_chat=True)
    if relayed_to is not None:
        await _relay_to_user(context, message, relayed_to)
    raise ApplicationHandlerStop


async def staff_command_elsewhere(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/close outside the staff group: ignored and logged without content; the user sees an unknown command."""
    chat = update.effective_chat
    logger.warning("Staff command /close ignored: sent outside the staff group (%s chat)", chat.type if chat else "no")


async def _relay_to_user(context: ContextTypes.DEFAULT_TYPE, message: Message, conversation: Conversation) -> None:
    topic_id = conversation.topic_id
    assert topic_id is not None
    try:
        await context.bot.copy_message(int(conversation.user_key), message.chat.id, message.message_id)
    except Forbidden:
        closing = _services(context)[1].user_unreachable(conversation)
        await _close_topic(context, closing)
    except RetryAfter as exc:
        await _post_in_topic(
            context, topic_id, f"Not delivered: Telegram's flood limit. Send it again in {_seconds(exc)} seconds."
        )
    except BadRequest as exc:
        await _post_in_topic(context, topic_id, f"Not delivered: Telegram refused it ({exc.message}).")


async def _send_to_user(context: ContextTypes.DEFAULT_TYPE, conversation: Conversation, reply: m.Reply) -> None:
    try:
        await send_reply(context.bot, int(conversation.user_key), reply)
    except Forbidden:
        logger.info("Case %s: the user has blocked the bot", conversation.case_code)


async def _close_topic(context: ContextTypes.DEFAULT_TYPE, closing: ho.Closing) -> None:
    await close_topic(context.bot, get_channel(context).settings, closing)


async def close_topic(bot: Bot, settings: Settings, closing: ho.Closing) -> None:
    """Tell the counsellors in the topic, then close it; a topic already gone is fine."""
    topic_id, staff_chat = closing.conversation.topic_id, settings.staff_chat_id
    if topic_id is None or staff_chat is None:
        return
    try:
        if closing.staff_text:
            await post_in_topic(bot, staff_chat, topic_id, closing.staff_text)
        await bot.close_forum_topic(staff_chat, topic_id)
    except TelegramError as exc:
        logger.info("Could not close the forum topic of case %s: %s", closing.conversation.case_code, exc.message)


async def _post_in_topic(
    context: ContextTypes.DEFAULT_TYPE, topic_id: int, text: str, mention_ids: tuple[int, ...] = ()
) -> None:
    staff_chat = get_channel(context).settings.staff_chat_id
    assert staff_chat is not None
    await post_in_topic(context.bot, staff_chat, topic_id, text, mention_ids)


async def post_in_topic(bot: Bot, staff_chat: int, topic_id: int, text: str, mention_ids: tuple[int, ...] = ()) -> None:
    """A plain staff note in a topic; ``mention_ids`` are tagged so they get a notification."""
    body = html.escape(text)
    if mention_ids:
        tags = ", ".join(f'<a href="tg://user?id={user_id}">counsellor {user_id}</a>' for user_id in mention_ids)
        body += "\nSuggested (women counsellors): " + tags
    await bot.send_message(staff_chat, body, parse_mode=ParseMode.HTML, message_thread_id=topic_id)


def _is_topic_gone(exc: BadRequest) -> bool:
    return any(marker in exc.message.lower() for marker in _TOPIC_GONE)


def _seconds(exc: RetryAfter) -> int:
    retry = exc.retry_after
    return int(retry if isinstance(retry, int | float) else retry.total_seconds())
