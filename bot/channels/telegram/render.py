"""The core's channel-neutral replies drawn on Telegram: HTML, inline keyboards, long texts split.

Text goes through ``bot.markup.render_html`` (everything escaped except the answers' bold and
links; right-to-left lines get a right-to-left mark) and is cut at line ends into messages of at
most 4096 characters; the keyboard goes under the last part. Should Telegram still refuse the
HTML, the message is sent again as plain text rather than lost.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MaybeInaccessibleMessage,
    Message,
)
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit, ParseMode
from telegram.error import BadRequest, TelegramError

from bot import markup
from bot import messages as m

logger = logging.getLogger(__name__)

TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096
CALLBACK_DATA_LIMIT = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64 bytes
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # previews cost data on cheap phones
_EMPTY = "…"  # Telegram refuses empty texts and empty button labels

# Actions that only move around the menus: pressed on a menu screen, the screen is redrawn in place.
_NAVIGATION_KINDS = frozenset({m.ACTION_MENU, m.ACTION_LANGUAGES, "topic"})
_TAG = re.compile(r"<(/?)([a-z]+)(?:\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#x27|#\d+);")
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>')


class SerializedKeyboard(InlineKeyboardMarkup):
    """An inline keyboard put in its Bot API form once, not again for every message carrying it.

    python-telegram-bot calls ``to_dict`` on each send and only serialises the result to JSON.
    """

    __slots__ = ("_bot_api_form",)

    def __init__(self, inline_keyboard: Sequence[Sequence[InlineKeyboardButton]]) -> None:
        super().__init__(inline_keyboard)
        with self._unfrozen():
            self._bot_api_form = super().to_dict()

    def to_dict(self, recursive: bool = True) -> dict[str, Any]:
        """The Bot API form (a new outer dict: a caller changing it leaves the cached one intact)."""
        return dict(self._bot_api_form) if recursive else super().to_dict(recursive=False)


@dataclass(frozen=True)
class RenderedMessage:
    """One outgoing message as Telegram sends it: one or more texts, the keyboard under the last."""

    texts: tuple[str, ...]
    parse_mode: str | None
    keyboard: InlineKeyboardMarkup | None


@functools.lru_cache(maxsize=2048)
def render(message: m.OutgoingMessage) -> RenderedMessage:
    """HTML texts within Telegram's limit; plain text if the HTML could not be cut cleanly.

    Cached: menus, pickers and answers repeat, and messages and keyboards are immutable.
    """
    rendered = markup.render_html(message.text, rtl=message.rtl) or _EMPTY
    limit = TEXT_LIMIT
    while limit >= TEXT_LIMIT // 4:
        chunks = [chunk for chunk in markup.split_for_limit(rendered, limit) if chunk.strip()]
        if not all(_well_formed(chunk) for chunk in chunks):
            break  # a line longer than the limit was cut inside a tag: send plain text instead
        if all(_visible_length(chunk) <= TEXT_LIMIT for chunk in chunks):
            texts = tuple(chunks) or (_EMPTY,)
            return RenderedMessage(texts, ParseMode.HTML, keyboard(message.buttons))
        limit -= TEXT_LIMIT // 8  # characters outside the Basic Multilingual Plane count twice
    return render_plain(message)


def render_plain(message: m.OutgoingMessage) -> RenderedMessage:
    """The same message without parse mode: links show their address, nothing can be misparsed."""
    plain = markup.render_plain(message.text, rtl=message.rtl) or _EMPTY
    limit = TEXT_LIMIT
    chunks = markup.split_for_limit(plain, limit)
    while any(_utf16_length(chunk) > TEXT_LIMIT for chunk in chunks) and limit > TEXT_LIMIT // 4:
        limit -= TEXT_LIMIT // 8
        chunks = markup.split_for_limit(plain, limit)
    texts = tuple(chunk for chunk in chunks if chunk.strip()) or (_EMPTY,)
    return RenderedMessage(texts, None, keyboard(message.buttons))


@functools.lru_cache(maxsize=512)
def keyboard(rows: tuple[m.ButtonRow, ...]) -> InlineKeyboardMarkup | None:
    """Callback buttons and URL buttons; ``None`` when there are none.

    Cached: the same menus and answer buttons come under many messages.
    """
    keyboard_rows: list[list[InlineKeyboardButton]] = []
    for row in rows:
        buttons = []
        for button in row:
            label = button.label.strip() or _EMPTY
            if isinstance(button, m.LinkButton):
                buttons.append(InlineKeyboardButton(label, url=button.url))
            elif len(button.action.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                buttons.append(InlineKeyboardButton(label, callback_data=button.action))
            else:  # cannot happen with bot.messages' actions; never send what Telegram refuses
                logger.warning("Dropped a button whose action is over 64 bytes")
        if buttons:
            keyboard_rows.append(buttons)
    return SerializedKeyboard(keyboard_rows) if keyboard_rows else None


def combine(messages: Sequence[m.OutgoingMessage]) -> list[m.OutgoingMessage]:
    """Fold a message without buttons into the next one in the same language.

    "Welcome" + the language picker, "From now on I answer in Dutch" + the menu, "I read text" +
    the menu: one message each instead of two, with the buttons under the whole text. Fewer
    messages mean fewer notifications, less data and less scrolling on small phones.
    """
    combined: list[m.OutgoingMessage] = []
    for message in messages:
        previous = combined[-1] if combined else None
        if (
            previous is not None
            and not previous.buttons
            and (previous.language, previous.rtl) == (message.language, message.rtl)
        ):
            combined[-1] = m.OutgoingMessage(
                f"{previous.text}\n\n{message.text}", message.language, message.buttons, message.rtl
            )
        else:
            combined.append(message)
    return combined


async def send_reply(bot: Bot, chat_id: int, reply: m.Reply) -> list[Message]:
    """Send the reply's messages in order (combined where that saves a message)."""
    sent: list[Message] = []
    for message in combine(reply.messages):
        sent.extend(await send_message(bot, chat_id, message))
    return sent


async def send_message(bot: Bot, chat_id: int, message: m.OutgoingMessage) -> list[Message]:
    """Send one message (several if it is long); falls back to plain text if the HTML is refused."""
    rendered = render(message)
    parse_mode = rendered.parse_mode
    sent: list[Message] = []
    for index, text in enumerate(rendered.texts):
        buttons = rendered.keyboard if index == len(rendered.texts) - 1 else None
        if parse_mode is not None:
            try:
                sent.append(await _send_text(bot, chat_id, text, parse_mode, buttons))
                continue
            except BadRequest as exc:
                if not _is_parse_error(exc):
                    raise
                logger.warning("Telegram refused our HTML (%s); sending plain text", exc.message)
                parse_mode = None
        plain = _plain(text) if rendered.parse_mode else text
        sent.append(await _send_text(bot, chat_id, plain, None, buttons))
    return sent


async def edit_message(target: Message, message: m.OutgoingMessage) -> bool:
    """Redraw ``target`` as ``message``; False when it cannot be edited (then send instead)."""
    rendered = render(message)
    if len(rendered.texts) != 1:
        return False
    try:
        await target.edit_text(
            rendered.texts[0],
            parse_mode=rendered.parse_mode,
            reply_markup=rendered.keyboard,
            link_preview_options=NO_PREVIEW,
        )
    except TelegramError as exc:  # too old, deleted, or a Bot API server without edits
        if "not modified" in exc.message.lower():
            return True  # pressed twice: the screen already shows this
        logger.debug("Could not edit the message (%s); sending a new one", exc.message)
        return False
    return True


async def remove_buttons(target: Message, keep: InlineKeyboardMarkup | None = None) -> None:
    """Replace the buttons under ``target`` by ``keep`` (default: none); failure is harmless."""
    try:
        await target.edit_reply_markup(reply_markup=keep)
    except TelegramError as exc:
        logger.debug("Could not change the buttons of a message (%s)", exc.message)


def is_navigation(action: str) -> bool:
    """True for the menu, topic and language-list buttons."""
    return action.partition(":")[0] in _NAVIGATION_KINDS


def is_menu_screen(message: MaybeInaccessibleMessage | None) -> bool:
    """True when ``message`` is a menu the bot drew (topics, a topic's questions, the languages).

    Answers are never redrawn: they always carry a "talk to a person" or a link button, so the
    user keeps the answer on screen when they press "Menu" under it.
    """
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    actions: list[str] = []
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            if button.url is not None:
                return False
            if isinstance(button.callback_data, str):
                actions.append(button.callback_data)
    kinds = {action.partition(":")[0] for action in actions}
    if "topic" in kinds:
        return True  # the topic menu
    if m.ACTION_HUMAN in kinds or "fb" in kinds or "orig" in kinds:
        return False
    return bool(kinds & {"intent", "lang"})  # a topic's questions, or the language list


def without_actions(markup_: InlineKeyboardMarkup | None, kind: str) -> InlineKeyboardMarkup | None:
    """The keyboard without the buttons whose action starts with ``kind:`` (e.g. feedback)."""
    if markup_ is None:
        return None
    rows = []
    for row in markup_.inline_keyboard:
        kept = [b for b in row if not str(b.callback_data or "").startswith(f"{kind}:")]
        if kept:
            rows.append(kept)
    return InlineKeyboardMarkup(rows) if rows else None


async def _send_text(
    bot: Bot,
    chat_id: int,
    text: str,
    parse_mode: str | None,
    reply_markup: InlineKeyboardMarkup | None,
) -> Message:
    return await bot.send_message(
        chat_id,
        text,
        parse_mode=parse_mode,
        reply_markup=reply_markup,
        link_preview_options=NO_PREVIEW,
    )


def _is_parse_error(exc: BadRequest) -> bool:
    return "parse entities" in exc.message.lower()


def _plain(chunk: str) -> str:
    """A rendered HTML part as plain text: links keep their address; never longer than the HTML."""
    with_addresses = _LINK.sub(lambda match: f"{match.group(2)} ({match.group(1)})", chunk)
    return html.unescape(_TAG.sub("", with_addresses)) or _EMPTY


def _well_formed(chunk: str) -> bool:
    """Every ``<`` starts a whole, balanced tag and every ``&`` an entity (as render_html makes)."""
    stack: list[str] = []
    for match in _TAG.finditer(chunk):
        closing, name = match.group(1), match.group(2)
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    if stack:
        return False
    bare = _TAG.sub("", chunk)
    return "<" not in bare and ">" not in bare and bare.count("&") == len(_ENTITY.findall(bare))


def _visible_length(chunk: str) -> int:
    return _utf16_length(html.unescape(_TAG.sub("", chunk)))


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
