"""The one error handler: log the error with its traceback, tell the user kindly, never crash."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError, TimedOut
from telegram.ext import ContextTypes

from bot.channels.telegram.handlers.common import SERVICES_KEY
from bot.channels.telegram.render import send_reply
from bot.services import Services

logger = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error and send the user the core's apology with the menu."""
    # No update text in the log: only the kind of update and the exception.
    kind = type(update).__name__ if update is not None else "no update"
    if isinstance(context.error, TimedOut):
        # Telegram did not answer in time, but it most likely delivered the message: an apology
        # would come on top of the answer. Sends are not retried after a read timeout either.
        logger.warning("Bot API timed out while handling an update (%s): the reply may be late", kind)
        return
    logger.error("Error while handling an update (%s)", kind, exc_info=context.error)
    services = context.bot_data.get(SERVICES_KEY)
    if not isinstance(update, Update) or not isinstance(services, Services):
        return
    chat, user = update.effective_chat, update.effective_user
    chat_id = chat.id if chat is not None else user.id if user is not None else None
    if chat_id is None:
        return
    try:
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):  # already answered, or too old
                await update.callback_query.answer()
        language = None
        if user is not None:
            state = services.store.load(str(user.id))
            language = services.core.resolve_language(state, user.language_code)
        await send_reply(context.bot, chat_id, services.core.error_reply(language))
    except Exception:
        # The apology failed too (Telegram unreachable, database gone): the log has the cause.
        logger.warning("Could not send the error apology", exc_info=True)
