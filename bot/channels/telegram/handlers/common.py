"""What every handler needs: the services, the user's stored state, and sending a reply."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Update
from telegram.ext import ContextTypes, filters

from bot import messages as m
from bot.channels.telegram.render import send_reply
from bot.dialogue import DialogueCore
from bot.services import Services
from bot.storage import UserState

SERVICES_KEY = "services"  # application.bot_data[SERVICES_KEY]: the Services made in post_init

# What a user can send besides text: answered "I can only read text" by the bot, relayed as-is to a
# counsellor during a hand-off (copyMessage copies all of these).
USER_MEDIA = (
    filters.PHOTO
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Sticker.ALL
    | filters.Document.ALL
    | filters.LOCATION
    | filters.CONTACT
)


def get_services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The services created at start-up."""
    services = context.bot_data.get(SERVICES_KEY)
    if not isinstance(services, Services):
        raise RuntimeError("the services are not created yet (post_init has not run)")
    return services


def load_state(services: Services, update: Update, use_hint: bool = True) -> UserState | None:
    """The sender's stored state (key: the Telegram user id); None for updates without a user.

    Until the user chooses a language, their Telegram app's language (when supported) stands in,
    so commands, buttons and notes speak it too, as /start does. It is stored only if the core
    saves the state (a language or an answer chosen). Free text passes ``use_hint=False``: there
    the core detects the language of the message itself.
    """
    user = update.effective_user
    if user is None:
        return None
    state = services.store.load(str(user.id))
    if use_hint and state.language is None and user.language_code:
        hinted = services.core.resolve_language(state, user.language_code)
        if hinted != services.core.options.default_language:
            state.language = hinted
    return state


def language_hint(update: Update) -> str | None:
    """The language of the user's Telegram app, a hint for first contact."""
    user = update.effective_user
    return user.language_code if user is not None else None


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE, reply: m.Reply) -> None:
    """Send ``reply`` to the chat the update came from."""
    chat = update.effective_chat
    if chat is not None:
        await send_reply(context.bot, chat.id, reply)


async def answer_notice(update: Update, context: ContextTypes.DEFAULT_TYPE, message: str, metric: str) -> None:
    """Answer with ``message`` (an English msgid) translated, above the topic menu; count ``metric``."""
    services = get_services(context)
    state = load_state(services, update)
    if state is None:
        return
    language = services.core.resolve_language(state, language_hint(update))
    services.store.count(metric, language)
    notice = services.translations.gettext(language, message)
    menu = services.core.menu(language)
    reply = m.Reply([m.OutgoingMessage(notice + "\n\n" + menu.text, language, menu.buttons, menu.rtl)])
    await answer(update, context, reply)


async def answer_with(
    update: Update, context: ContextTypes.DEFAULT_TYPE, build: Callable[[DialogueCore, UserState], m.Reply]
) -> None:
    """Load the user's state, let the dialogue core ``build`` the reply, send it."""
    services = get_services(context)
    state = load_state(services, update)
    if state is not None:
        await answer(update, context, build(services.core, state))
