"""Messages: free text goes to the dialogue core; photos, voice, stickers, edits get a note."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram.handlers import commands, staff
from bot.channels.telegram.handlers.common import answer, answer_notice, answer_with, get_services, load_state
from bot.dialogue import N_, DialogueCore

logger = logging.getLogger(__name__)


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a typed question through the dialogue core."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    name = commands.command_name(message.text)
    if name is not None:
        # Telegram marks commands with an entity and CommandHandler takes those; this catches a
        # command sent without one (some clients and local test servers), so it is never "parsed".
        await _command_without_entity(name, update, context)
        return
    services = get_services(context)
    state = load_state(services, update, use_hint=False)
    if state is None:
        return
    reply = await services.core.handle_text(state, message.text)
    await answer(update, context, reply)


async def non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo, voice message, sticker, location or file: say the bot reads text; the menu."""
    await answer_with(update, context, DialogueCore.non_text)


async def edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: ask for the question again as a new message, show the menu."""
    note = N_("I only read new messages, not changes to old ones. Please send your question again.")
    await answer_notice(update, context, note, "edited")


async def _command_without_entity(name: str, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    for command in commands.USER_COMMANDS:
        if command.name == name:
            await command.callback(update, context)
            return
    user = update.effective_user
    is_staff = user is not None and user.id in get_services(context).settings.staff_user_ids
    if is_staff and name == "reload":
        await staff.reload(update, context)
    elif is_staff and name == "stats":
        await staff.stats(update, context)
    else:
        await commands.unknown(update, context)
