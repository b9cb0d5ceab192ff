"""Seeing the id of every message the bot creates in a private chat, whichever code sent it.

"Delete this chat" needs the ids of the bot's own messages, and the Bot API cannot list a chat's
messages. Every request passes through the rate limiter, so a thin wrapper around it sees each
successful send (its result or, for copies, the target chat) and reports ``(chat_id, message_id)``.
Only ids: texts are never looked at. Private chats are the ones with a positive id.

The same wrapper also drops, from the answers to sends and edits, what the bot never reads back
(its own keyboard, the text's entities, the link preview options): python-telegram-bot would build
an object for each button of every keyboard it just sent, a good part of the bot's time per reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final

from telegram.ext import BaseRateLimiter

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
OnSent = Callable[[int, int], None]

# Methods whose result is the new Message (or, for copyMessage, its MessageId).
_SENDING: Final = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "sendvoice",
        "sendaudio",
        "sendvideo",
        "sendanimation",
        "sendsticker",
        "sendlocation",
        "sendcontact",
        "copymessage",
        "forwardmessage",
    }
)
# Parts of a sent or edited message that echo what the bot itself sent: never read back.
_ECHOED: Final = ("reply_markup", "entities", "link_preview_options")
_TRIMMED: Final = frozenset({"sendmessage", "editmessagetext"})


class MessageIdRecorder(BaseRateLimiter[Any]):
    """Delegates to ``inner`` and reports the ids of messages created in private chats."""

    def __init__(self, inner: BaseRateLimiter[Any]) -> None:
        self.inner = inner
        self.on_sent: OnSent | None = None  # set once the services exist (post_init)

    async def initialize(self) -> None:
        """Initialize the wrapped limiter."""
        await self.inner.initialize()

    async def shutdown(self) -> None:
        """Shut down the wrapped limiter."""
        await self.inner.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | JSONDict | list[JSONDict]:
        """Run the request through the wrapped limiter, then note the new message's id."""
        result = await self.inner.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        if isinstance(result, dict) and endpoint.lower() in _TRIMMED:
            for key in _ECHOED:
                result.pop(key, None)
        if self.on_sent is not None and endpoint.lower() in _SENDING and isinstance(result, dict):
            chat_id, message_id = _private_chat_id(data.get("chat_id")), result.get("message_id")
            if chat_id is not None and isinstance(message_id, int):
                try:
                    self.on_sent(chat_id, message_id)
                except Exception:  # never lose a sent message's delivery over the log
                    logger.exception("Could not record a sent message id")
        return result


def _private_chat_id(value: object) -> int | None:
    try:
        chat_id = int(str(value))
    except ValueError:
        return None  # a @channelusername
    return chat_id if chat_id > 0 else None
