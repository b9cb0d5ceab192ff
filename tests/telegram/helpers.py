"""Builders for Telegram updates: the Bot API's JSON, and python-telegram-bot objects made from it.

The JSON mirrors what Telegram sends (field names, a ``bot_command`` entity on commands, file
objects with ids and sizes), so the same payloads feed the fake Bot API server and unit tests.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

from telegram import Bot, CallbackQuery, Message, Update

from bot.markup import RTL_MARK

if TYPE_CHECKING:
    from tests.telegram.fake_bot_api import FakeBotApi

JSONDict = dict[str, Any]

TOKEN = "123456789:AAFakeTokenForTestsOnly-abcdefghijklm"
BOT_ID = 123456789
BOT_USERNAME = "newcomer_test_bot"

_file_ids = itertools.count(1)


def user(user_id: int, language_code: str | None = "fr", first_name: str = "Amina") -> JSONDict:
    """A Telegram user (a person, not a bot)."""
    data: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code is not None:
        data["language_code"] = language_code
    return data


def bot_user() -> JSONDict:
    """The bot itself, as ``getMe`` and the ``from`` of its messages show it."""
    return {"id": BOT_ID, "is_bot": True, "first_name": "Newcomer Bot", "username": BOT_USERNAME}


def private_chat(sender: JSONDict) -> JSONDict:
    """The private chat with ``sender`` (its id is the user's id)."""
    chat: JSONDict = {"id": sender["id"], "type": "private", "first_name": sender["first_name"]}
    return chat


def message(sender: JSONDict, message_id: int, date: int | None = None, **content: Any) -> JSONDict:
    """A message from ``sender`` in their private chat; ``content`` is text=…, photo=…, …"""
    data: JSONDict = {
        "message_id": message_id,
        "from": sender,
        "chat": private_chat(sender),
        "date": date if date is not None else int(time.time()),
    }
    data.update(content)
    return data


def text_message(sender: JSONDict, text: str, message_id: int) -> JSONDict:
    """A text message; a leading ``/command`` gets its ``bot_command`` entity, as Telegram does."""
    data = message(sender, message_id, text=text)
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        data["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16(text[:length])}]
    return data


def _file(prefix: str) -> JSONDict:
    number = next(_file_ids)
    return {
        "file_id": f"{prefix}-{number}-AgACAgQAAxkBAAIB",
        "file_unique_id": f"{prefix}{number}U",
    }


def photo() -> JSONDict:
    """``photo=`` content: the sizes Telegram generates."""
    return {
        "photo": [
            {**_file("photo-s"), "width": 90, "height": 67, "file_size": 1204},
            {**_file("photo-m"), "width": 320, "height": 240, "file_size": 15873},
        ]
    }


def voice() -> JSONDict:
    """``voice=`` content."""
    return {"voice": {**_file("voice"), "duration": 4, "mime_type": "audio/ogg", "file_size": 9876}}


def sticker() -> JSONDict:
    """``sticker=`` content."""
    return {
        "sticker": {
            **_file("sticker"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
            "set_name": "HotCherry",
            "file_size": 21014,
        }
    }


def location() -> JSONDict:
    """``location=`` content (Brussels-Central)."""
    return {"location": {"latitude": 50.845, "longitude": 4.357}}


def document() -> JSONDict:
    """``document=`` content: a PDF."""
    return {
        "document": {
            **_file("document"),
            "file_name": "attestation.pdf",
            "mime_type": "application/pdf",
            "file_size": 48213,
        }
    }


def callback_query(sender: JSONDict, query_id: str, data: str, on_message: JSONDict | None) -> JSONDict:
    """A button press on ``on_message`` (a message the bot sent)."""
    query: JSONDict = {
        "id": query_id,
        "from": sender,
        "chat_instance": f"-{sender['id']}77",
        "data": data,
    }
    if on_message is not None:
        query["message"] = on_message
    return query


def update(update_id: int, **payload: JSONDict) -> JSONDict:
    """``{"update_id": …, "message": …}`` and the like."""
    return {"update_id": update_id, **payload}


# ----- python-telegram-bot objects, for unit tests -----------------------------------------------


def make_update(payload: JSONDict, bot: Bot) -> Update:
    """An ``Update`` as the application receives it, bound to ``bot``."""
    parsed = Update.de_json(payload, bot)
    assert parsed is not None
    return parsed


def text_update(bot: Bot, sender: JSONDict, text: str, update_id: int = 1, message_id: int = 1) -> Update:
    """An update carrying a text message (or a command)."""
    return make_update(update(update_id, message=text_message(sender, text, message_id)), bot)


def content_update(bot: Bot, sender: JSONDict, content: JSONDict, update_id: int = 1) -> Update:
    """An update carrying a photo, voice message, sticker, location or document."""
    return make_update(update(update_id, message=message(sender, 1, **content)), bot)


def edited_update(bot: Bot, sender: JSONDict, text: str, update_id: int = 1) -> Update:
    """An update with an edited text message."""
    edited = text_message(sender, text, 1)
    edited["edit_date"] = edited["date"] + 30
    return make_update(update(update_id, edited_message=edited), bot)


def button_update(
    bot: Bot, sender: JSONDict, data: str, on_message: JSONDict | None = None, update_id: int = 1
) -> Update:
    """An update with a button press (callback query)."""
    query = callback_query(sender, f"q{update_id}", data, on_message)
    return make_update(update(update_id, callback_query=query), bot)


def bot_message(chat_id: int, text: str, message_id: int = 10, keyboard: JSONDict | None = None) -> JSONDict:
    """A message the bot sent earlier (e.g. the one a button was pressed on)."""
    data: JSONDict = {
        "message_id": message_id,
        "from": bot_user(),
        "chat": {"id": chat_id, "type": "private", "first_name": "Amina"},
        "date": int(time.time()) - 5,
        "text": text,
    }
    if keyboard is not None:
        data["reply_markup"] = keyboard
    return data


def as_message(payload: JSONDict, bot: Bot) -> Message:
    """A ``Message`` object from JSON."""
    parsed = Message.de_json(payload, bot)
    assert parsed is not None
    return parsed


def as_callback_query(payload: JSONDict, bot: Bot) -> CallbackQuery:
    """A ``CallbackQuery`` object from JSON."""
    parsed = CallbackQuery.de_json(payload, bot)
    assert parsed is not None
    return parsed


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible(message: JSONDict) -> str:
    """The text as the user reads it, without the right-to-left marks."""
    return str(message.get("text", "")).replace(RTL_MARK, "")


async def choose_language(fake_api: FakeBotApi, user: JSONDict, language: str) -> None:
    """/start (welcome with the language picker), then a language (confirmation with the menu)."""
    before = len(fake_api.sent(user["id"]))
    fake_api.send_text(user, "/start")
    sent = await fake_api.wait_for_sent(user["id"], before + 1)
    fake_api.press(user, sent[-1], f"lang:{language}")
    await fake_api.wait_for_sent(user["id"], before + 2)
