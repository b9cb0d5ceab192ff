"""User commands: /start, /language, /menu, /help, /privacy, /forget, and unknown commands."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot import messages as m
from bot.channels.telegram.handlers.common import (
    answer,
    answer_notice,
    answer_with,
    get_services,
    language_hint,
    load_state,
)
from bot.dialogue import N_, DialogueCore

logger = logging.getLogger(__name__)

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s|$)")

Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet and show the language picker, the Telegram app's language pre-selected."""
    services = get_services(context)
    state = load_state(services, update)
    if state is not None:
        await answer(update, context, services.core.start(state, language_hint(update)))


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the language picker."""
    services = get_services(context)
    state = load_state(services, update)
    if state is not None:
        await answer(update, context, services.core.handle_action(state, m.ACTION_LANGUAGES))


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the topic menu."""
    services = get_services(context)
    state = load_state(services, update)
    if state is not None:
        chosen = services.core.resolve_language(state, language_hint(update))
        await answer(update, context, m.Reply([services.core.menu(chosen)]))


async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot can do, with the menu."""
    await answer_with(update, context, DialogueCore.help)


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what is stored about the user and for how long."""
    await answer_with(update, context, DialogueCore.privacy)


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask to confirm before deleting what is stored about the user."""
    await answer_with(update, context, DialogueCore.confirm_forget)


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not have (staff commands for others too): say so, show the menu."""
    await answer_notice(update, context, N_("Sorry, I do not know this command."), "unknown_command")


@dataclass(frozen=True)
class Command:
    """A command, its description (an English msgid, translated per language) and its callback."""

    name: str
    description: str
    callback: Callback


# In the order Telegram shows them in the command menu.
USER_COMMANDS: tuple[Command, ...] = (
    Command("start", N_("Start and choose your language"), start),
    Command("menu", N_("Topics and questions"), menu),
    Command("language", N_("Change the language"), language),
    Command("help", N_("What I can do"), help_),
    Command("privacy", N_("What I keep about you"), privacy),
    Command("forget", N_("Delete what I keep about you"), forget),
)


def command_name(text: str) -> str | None:
    """``"/start@my_bot hello"`` -> ``"start"``; None when the text is not a command."""
    match = _COMMAND.match(text)
    return match.group(1).lower() if match else None
