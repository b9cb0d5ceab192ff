"""'Delete this chat' on Telegram: ``deleteMessages`` on the ids recorded in the last 48 hours.

The ids come from ``handoff.record_incoming`` (the user's messages) and
``message_log.MessageIdRecorder`` (the bot's own).
"""

from __future__ import annotations

import logging
from typing import Final

from telegram import Bot
from telegram.error import TelegramError

from bot.channels.telegram.render import send_reply
from bot.erase import EraseService

logger = logging.getLogger(__name__)

DELETE_BATCH: Final = 100  # deleteMessages takes at most 100 ids


async def erase_chat(bot: Bot, erase: EraseService, chat_id: int, language: str) -> None:
    """Delete what can be deleted, then tell the user what was not and how to delete the rest."""
    plan = erase.plan(chat_id)
    failed = 0
    ids = list(plan.message_ids)
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        try:
            await bot.delete_messages(chat_id, batch)
        except TelegramError as exc:
            logger.warning("Could not delete %d message(s): %s", len(batch), exc.message)
            failed += len(batch)
    await send_reply(bot, chat_id, erase.finish(plan, failed, language))
