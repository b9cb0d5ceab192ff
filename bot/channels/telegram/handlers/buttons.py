"""Button presses (callback queries): always answered, then handled by the dialogue core.

Menus are redrawn in place (one message on screen while browsing topics, cheap on small phones
and slow networks); answers and confirmations come as new messages so earlier answers stay
readable. Stale or forged callback data reaches the core, which replies politely with the menu.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import messages as m
from bot.channels.telegram.handlers.common import answer, get_services, load_state
from bot.channels.telegram.render import (
    combine,
    edit_message,
    is_menu_screen,
    is_navigation,
    remove_buttons,
    send_reply,
    without_actions,
)

logger = logging.getLogger(__name__)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handle a button press through the dialogue core."""
    query = update.callback_query
    if query is None:
        return
    await _acknowledge(query)
    services = get_services(context)
    state = load_state(services, update)
    if state is None:
        return
    action = query.data if isinstance(query.data, str) else ""
    reply = services.core.handle_action(state, action)
    pressed = query.message if isinstance(query.message, Message) else None
    if pressed is not None:
        screens = combine(reply.messages)
        if is_navigation(action) and len(screens) == 1 and is_menu_screen(pressed):
            if await edit_message(pressed, screens[0]):
                return
        elif _has_action(pressed, m.ACTION_FORGET_CONFIRM):
            await remove_buttons(pressed)  # "Yes, delete" or "No": the question is settled
        elif action.startswith("fb:"):
            kept = without_actions(pressed.reply_markup, "fb")
            if kept != pressed.reply_markup:
                await remove_buttons(pressed, kept)  # one vote per answer
    if update.effective_chat is None and query.from_user is not None:
        await answer_in_private(context, query.from_user.id, reply)
        return
    await answer(update, context, reply)


async def answer_in_private(context: ContextTypes.DEFAULT_TYPE, user_id: int, reply: m.Reply) -> None:
    """Reply in the private chat (its id is the user id) when the pressed message is unknown."""
    await send_reply(context.bot, user_id, reply)


async def _acknowledge(query: CallbackQuery) -> None:
    """Stop the button's spinner; an old query can no longer be answered, which is fine."""
    try:
        await query.answer()
    except TelegramError as exc:
        logger.debug("Could not answer a callback query: %s", exc)


def _has_action(message: Message, action: str) -> bool:
    if message.reply_markup is None:
        return False
    rows = message.reply_markup.inline_keyboard
    return any(button.callback_data == action for row in rows for button in row)
