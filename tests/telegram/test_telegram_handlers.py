"""Handler unit tests: built ``Update`` objects through ``Application.process_update``, in memory.

The bot's requests go to the fake Bot API through ``FakeBotRequest`` (no sockets), so each test
is milliseconds and asserts on exactly what the bot would have sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update

from bot import markup
from bot.channels.telegram.app import PerChatUpdateProcessor, ServicesFactory, TelegramApp, build_application
from bot.channels.telegram.handlers import commands, errors
from bot.services import Services
from bot.settings import Settings
from bot.storage import UserState
from tests.telegram import helpers
from tests.telegram.conftest import STAFF_ID
from tests.telegram.fake_bot_api import FakeBotApi, FakeBotRequest, buttons

JSONDict = dict[str, Any]


@pytest.fixture
def offline_api() -> FakeBotApi:
    """The fake Bot API without a server: only reached in memory."""
    return FakeBotApi()


@pytest.fixture
async def app(
    offline_api: FakeBotApi, settings: Settings, fast_services: ServicesFactory
) -> AsyncIterator[TelegramApp]:
    """An initialised application (services created by post_init), not polling."""
    application = build_application(
        settings,
        services_factory=fast_services,
        request=FakeBotRequest(offline_api),
        get_updates_request=FakeBotRequest(offline_api),
    )
    await application.initialize()
    assert application.post_init is not None and application.post_shutdown is not None
    await application.post_init(application)
    yield application
    await application.shutdown()
    await application.post_shutdown(application)


def services_of(app: TelegramApp) -> Services:
    services = app.bot_data["services"]
    assert isinstance(services, Services)
    return services


async def say(app: TelegramApp, api: FakeBotApi, sender: JSONDict, text: str) -> list[JSONDict]:
    """Process a text message; returns the messages the bot sent in reply."""
    before = len(api.sent(sender["id"]))
    sent = api.user_message(sender, text=text)
    await app.process_update(helpers.make_update(helpers.update(1, message=sent), app.bot))
    return api.sent(sender["id"])[before:]


def labels(message: JSONDict) -> list[str]:
    return [label for label, _data in buttons(message)]


def test_command_names() -> None:
    assert commands.command_name("/start") == "start"
    assert commands.command_name("/Start@newcomer_test_bot payload") == "start"
    assert commands.command_name("/ hello") is None
    assert commands.command_name("/") is None
    assert commands.command_name("hello /start") is None


async def test_command_menu_is_translated(app: TelegramApp, offline_api: FakeBotApi) -> None:
    translations = services_of(app).translations
    french = offline_api.commands[('{"type": "default"}', "fr")]
    assert [c["description"] for c in french] == [
        translations.gettext("fr", c.description) for c in commands.USER_COMMANDS
    ]
    assert len(offline_api.calls_to("setMyCommands")) == 13  # 12 languages and the default


async def test_start_preselects_a_supported_telegram_language(app: TelegramApp, offline_api: FakeBotApi) -> None:
    (picker,) = await say(app, offline_api, helpers.user(11, "ar"), "/start")
    assert "✓ العربية" in labels(picker)
    assert picker["text"].startswith(markup.RTL_MARK)


async def test_start_with_an_unsupported_language_uses_the_default(app: TelegramApp, offline_api: FakeBotApi) -> None:
    (picker,) = await say(app, offline_api, helpers.user(12, "de-CH"), "/start")
    assert "✓ Français" in labels(picker)
    (picker,) = await say(app, offline_api, helpers.user(13, None), "/start")
    assert "✓ Français" in labels(picker)


async def test_a_command_without_its_entity_is_still_a_command(app: TelegramApp, offline_api: FakeBotApi) -> None:
    sender = helpers.user(14, "en")
    message = offline_api.user_message(sender, text="/help")
    message.pop("entities")
    await app.process_update(helpers.make_update(helpers.update(2, message=message), app.bot))
    help_reply = services_of(app).core.help(UserState("14", "en"))  # the app's language
    assert offline_api.sent(14)[0]["text"] == markup.strip(help_reply.messages[0].text)


async def test_unknown_commands_and_staff_commands_for_others(app: TelegramApp, offline_api: FakeBotApi) -> None:
    newcomer = helpers.user(15, "fr")
    unknown = (await say(app, offline_api, newcomer, "/foo"))[0]
    french = services_of(app).translations.translator("fr")
    assert unknown["text"].startswith(french("Sorry, I do not know this command."))
    assert "topic:housing" in [data for _, data in buttons(unknown)]
    for staff_only in ("/stats", "/reload"):
        assert (await say(app, offline_api, newcomer, staff_only))[0]["text"] == unknown["text"]
    stats = (await say(app, offline_api, helpers.user(STAFF_ID, "fr"), "/stats"))[0]
    assert stats["text"].startswith("Usage figures")


async def test_language_menu_help_and_privacy(app: TelegramApp, offline_api: FakeBotApi) -> None:
    sender = helpers.user(16, "nl")
    picker = (await say(app, offline_api, sender, "/language"))[0]
    assert len(labels(picker)) == 12
    menu = (await say(app, offline_api, sender, "/menu"))[0]
    assert menu["text"] == markup.strip(services_of(app).core.menu("nl").text)  # the hint is used
    assert await say(app, offline_api, sender, "/help")
    privacy = (await say(app, offline_api, sender, "/privacy"))[0]
    assert "180" in privacy["text"]


async def test_button_on_a_message_telegram_no_longer_shows(app: TelegramApp, offline_api: FakeBotApi) -> None:
    sender = helpers.user(17, "fr")
    offline_api.user_message(sender, text="bonjour")  # the chat exists
    update = helpers.button_update(app.bot, sender, "menu", on_message=None, update_id=3)
    await app.process_update(update)
    # Answered in the private chat; the unknown query id (answerCallbackQuery 400) is harmless.
    assert [c.status for c in offline_api.calls if c.method == "answerCallbackQuery"] == [400]
    assert "topic:housing" in [data for _, data in buttons(offline_api.sent(17)[0])]


async def test_menu_screen_is_sent_anew_when_it_cannot_be_edited(app: TelegramApp, offline_api: FakeBotApi) -> None:
    sender = helpers.user(18, "fr")
    offline_api.user_message(sender, text="bonjour")
    unknown_menu = helpers.bot_message(
        18,
        "Menu",
        message_id=999,
        keyboard={
            "inline_keyboard": [
                [{"text": "Logement", "callback_data": "topic:housing"}],
            ]
        },
    )
    await app.process_update(helpers.button_update(app.bot, sender, "topic:housing", unknown_menu))
    edit = [c for c in offline_api.calls if c.method == "editMessageText"]
    assert [c.status for c in edit] == [400]  # message to edit not found
    assert "intent:find_housing" in [data for _, data in buttons(offline_api.sent(18)[0])]


async def test_edited_message_gets_a_note(app: TelegramApp, offline_api: FakeBotApi) -> None:
    sender = helpers.user(19, "en")
    offline_api.user_message(sender, text="housing")
    await app.process_update(helpers.edited_update(app.bot, sender, "French course"))
    english = services_of(app).translations.translator("en")
    note = offline_api.sent(19)[0]
    assert note["text"].startswith(english("I only read new messages, not changes to old ones."))


async def test_non_text_message(app: TelegramApp, offline_api: FakeBotApi) -> None:
    sender = helpers.user(20, "en")
    offline_api.user_message(sender, text="hi")
    await app.process_update(helpers.content_update(app.bot, sender, helpers.voice()))
    (note,) = offline_api.sent(20)  # the note and the menu in one message
    assert note["text"].startswith("I can only read text messages. Please type your question, or choose a topic.\n\n")
    assert "topic:courses" in [data for _, data in buttons(note)]


async def test_error_handler_never_raises(
    app: TelegramApp, offline_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    context = type("Context", (), {"error": RuntimeError("boom"), "bot_data": app.bot_data, "bot": app.bot})()
    await errors.on_error(None, context)
    await errors.on_error("not an update", context)
    stranger = helpers.user(21, "fr")  # a chat the fake does not know: the apology fails too
    await errors.on_error(helpers.text_update(app.bot, stranger, "x"), context)
    assert "Could not send the error apology" in caplog.text
    assert caplog.text.count("Error while handling an update") == 3


async def test_per_chat_processor_keeps_order_in_a_chat_and_runs_chats_in_parallel() -> None:
    processor = PerChatUpdateProcessor(workers=8)
    await processor.initialize()
    events: list[str] = []

    def update_in(chat_id: int) -> Update:
        return Update.de_json(
            helpers.update(chat_id, message=helpers.text_message(helpers.user(chat_id), "x", 1)),
            None,
        )

    async def work(name: str, delay: float) -> None:
        events.append(f"{name} start")
        await asyncio.sleep(delay)
        events.append(f"{name} end")

    await asyncio.gather(
        processor.process_update(update_in(1), work("a1", 0.05)),
        processor.process_update(update_in(1), work("a2", 0.0)),
        processor.process_update(update_in(2), work("b1", 0.01)),
    )
    assert events.index("a2 start") > events.index("a1 end")  # same chat: one after the other
    assert events.index("b1 end") < events.index("a1 end")  # other chat: not blocked
    assert processor._chats == {}  # no lock left behind
