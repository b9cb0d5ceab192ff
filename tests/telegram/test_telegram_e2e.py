"""End to end: the real python-telegram-bot Application polling the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import markup
from bot.markup import RTL_MARK
from bot.services import Services, create_services
from bot.settings import Settings
from bot.storage import SQLiteStore
from tests.telegram import helpers
from tests.telegram.conftest import STAFF_ID, RunBot
from tests.telegram.fake_bot_api import FakeBotApi, buttons, link_buttons
from tests.telegram.helpers import choose_language, visible

JSONDict = dict[str, Any]


def expected_answer(services: Services, language: str, intent: str) -> str:
    """The curated answer from the responses files, as plain text."""
    answer = services.content.get(language, intent)
    assert answer is not None, (language, intent)
    return markup.strip(answer.filled_text(services.content.facts))


async def test_start_greets_and_preselects_the_telegram_language(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, karim: JSONDict, amina: JSONDict
) -> None:
    async with run_bot(settings):
        fake_api.send_text(karim, "/start")
        (picker,) = await fake_api.wait_for_sent(karim["id"], 1)
        fake_api.send_text(amina, "/start")
        await fake_api.wait_for_sent(amina["id"], 1)

    # One message: the welcome, then the picker's prompt, with the language buttons.
    assert picker["text"].startswith(RTL_MARK)  # Arabic: right-to-left
    assert len(picker["text"].split("\n\n")) >= 2
    labels = [label for label, _data in buttons(picker)]
    assert "✓ العربية" in labels and "Français" in labels and len(labels) == 12
    assert all(len(data.encode()) <= 64 for _label, data in buttons(picker) if data)
    french_picker = fake_api.sent(amina["id"])[0]
    assert french_picker["text"].startswith("Bienvenue")
    assert "✓ Français" in [label for label, _ in buttons(french_picker)]
    # The command menu is set in every language, plus a default list.
    languages = {language for (_scope, language) in fake_api.commands}
    assert languages >= {"", "fr", "nl", "en", "ar", "es", "pt", "tr", "ro", "pl", "uk", "ru", "fa"}
    default_commands = fake_api.commands[('{"type": "default"}', "")]
    assert [c["command"] for c in default_commands] == [
        "start",
        "menu",
        "language",
        "help",
        "privacy",
        "forget",
    ]


@pytest.mark.parametrize(
    ("language", "question"),
    [
        ("fr", "mon mari me frappe"),
        ("ar", "زوجي يضربني"),
        ("nl", "mijn man slaat mij"),
    ],
)
async def test_questions_in_french_arabic_and_dutch_get_the_curated_answer(
    fake_api: FakeBotApi,
    settings: Settings,
    run_bot: RunBot,
    shared_services: Services,
    language: str,
    question: str,
) -> None:
    user = helpers.user({"fr": 2001, "ar": 2002, "nl": 2003}[language], language)
    async with run_bot(settings):
        await choose_language(fake_api, user, language)
        menu = fake_api.sent(user["id"])[1]  # "From now on I answer in …" and the topic menu
        fake_api.send_text(user, question)
        answer = (await fake_api.wait_for_sent(user["id"], 3))[2]

    text = visible(answer)
    assert "112" in text.splitlines()[0]  # the emergency number comes first
    assert text.startswith(expected_answer(shared_services, language, "domestic_violence"))
    first = answer["entities"][0]  # the first line is bold (after the right-to-left mark)
    assert (first["type"], first["offset"]) == ("bold", 1 if language == "ar" else 0)
    assert ("lang:" + language) not in [data for _, data in buttons(menu)]
    assert any(data == "fb:up:domestic_violence" for _, data in buttons(answer))
    assert link_buttons(answer)  # the helplines as link buttons
    if language == "ar":
        assert all(line.startswith(RTL_MARK) for line in answer["text"].splitlines() if line)
        assert menu["text"].startswith(RTL_MARK)
    else:
        assert RTL_MARK not in answer["text"]


async def test_first_message_in_arabic_is_answered_in_arabic(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, shared_services: Services
) -> None:
    user = helpers.user(2100, "fr")  # a French phone, but the question is in Arabic
    async with run_bot(settings):
        fake_api.send_text(user, "زوجي يضربني كل يوم وأنا خائفة جدا في البيت")
        answer = (await fake_api.wait_for_sent(user["id"], 1))[0]
    assert visible(answer).startswith(expected_answer(shared_services, "ar", "domestic_violence"))


async def test_menu_topic_question_follow_up_and_feedback(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, sanne: JSONDict
) -> None:
    uid = sanne["id"]
    async with run_bot(settings):
        await choose_language(fake_api, sanne, "nl")
        fake_api.send_text(sanne, "/menu")
        menu = (await fake_api.wait_for_sent(uid, 3))[2]
        assert "topic:services" in [data for _, data in buttons(menu)]

        # Topic: the menu is redrawn in place (one message on screen while browsing).
        fake_api.press(sanne, menu, "topic:services")
        await fake_api.wait_for_call("editMessageText")
        topic_screen = fake_api.current(menu)
        assert "intent:find_doctor" in [data for _, data in buttons(topic_screen)]
        assert len(fake_api.sent(uid)) == 3

        # Question: the answer comes as a new message, with follow-ups and feedback buttons.
        fake_api.press(sanne, topic_screen, "intent:find_doctor")
        answer = (await fake_api.wait_for_sent(uid, 4))[3]
        follow_ups = [data for _, data in buttons(answer) if data and data.startswith("intent:")]
        assert follow_ups

        fake_api.press(sanne, answer, follow_ups[0])
        follow_up = (await fake_api.wait_for_sent(uid, 5))[4]
        assert follow_up["text"] != answer["text"]

        # Feedback: thanks, and the vote buttons disappear from the answer (one vote).
        fake_api.press(sanne, answer, "fb:up:find_doctor")
        thanks = (await fake_api.wait_for_sent(uid, 6))[5]
        await fake_api.wait_for_call("editMessageReplyMarkup")
        assert not [d for _, d in buttons(fake_api.current(answer)) if d and d.startswith("fb:")]
        assert link_buttons(fake_api.current(answer)) == link_buttons(answer)

        fake_api.press(sanne, follow_up, f"fb:down:{follow_ups[0].partition(':')[2]}")
        sorry = (await fake_api.wait_for_sent(uid, 7))[6]
        await fake_api.wait_until(lambda: len(fake_api.calls_to("answerCallbackQuery")) == 6)

    assert thanks["text"] and "human" in [data for _, data in buttons(sorry)]
    counters = {(c.metric, c.intent): c.count for c in SQLiteStore(settings.state_db_path).counters()}
    assert counters[("feedback_up", "find_doctor")] == 1
    assert counters[("button", "find_doctor")] == 1


async def test_stale_and_forged_buttons_get_a_polite_answer(
    fake_api: FakeBotApi,
    settings: Settings,
    run_bot: RunBot,
    amina: JSONDict,
    caplog: pytest.LogCaptureFixture,
    shared_services: Services,
) -> None:
    forged = [
        "intent:no_such_intent",
        "topic:../../etc",
        "fb:maybe:find_doctor",
        "orig:xx:greet",
        "lang:klingon",
        "x" * 64,
        "💥",
    ]

    def replies() -> list[JSONDict]:
        calls = [c for c in fake_api.calls if c.status == 200 and c.chat_id == amina["id"]]
        return [c.result for c in calls if c.method in {"sendMessage", "editMessageText"}][2:]

    async with run_bot(settings):
        await choose_language(fake_api, amina, "fr")
        menu = fake_api.sent(amina["id"])[1]
        for number, data in enumerate(forged):
            fake_api.press(amina, menu, data)
            await fake_api.wait_until(lambda n=number: len(replies()) == n + 1)  # type: ignore[misc]
        await fake_api.wait_until(lambda: len(fake_api.calls_to("answerCallbackQuery")) == 8)

    # Each time: "this button is no longer valid" with the menu (a forged topic on the menu
    # screen redraws it in place, the others come as new messages). Never an error.
    assert len(replies()) == len(forged)
    stale = shared_services.translations.gettext("fr", "This button is no longer valid. Here is the menu.")
    assert all(r["text"].startswith(stale) for r in replies())
    assert all("topic:services" in [d for _, d in buttons(r)] for r in replies())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "content",
    [helpers.photo(), helpers.voice(), helpers.sticker(), helpers.location(), helpers.document()],
)
async def test_non_text_messages_get_a_note_and_the_menu(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, sanne: JSONDict, content: JSONDict
) -> None:
    async with run_bot(settings):
        fake_api.user_message(sanne, **content)
        (note,) = await fake_api.wait_for_sent(sanne["id"], 1)
    assert note["text"] and "topic:services" in [data for _, data in buttons(note)]


async def test_edited_message_gets_a_short_note(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict
) -> None:
    async with run_bot(settings):
        await choose_language(fake_api, amina, "fr")
        sent = fake_api.send_text(amina, "logement")
        await fake_api.wait_for_sent(amina["id"], 3)
        fake_api.edit_text(amina, sent, "cours de français")
        note = (await fake_api.wait_for_sent(amina["id"], 4))[3]
    assert "topic:housing" in [data for _, data in buttons(note)]


async def test_forget_asks_then_deletes(
    fake_api: FakeBotApi,
    settings: Settings,
    run_bot: RunBot,
    amina: JSONDict,
    shared_services: Services,
) -> None:
    uid = amina["id"]
    async with run_bot(settings):
        await choose_language(fake_api, amina, "en")
        assert SQLiteStore(settings.state_db_path).load(f"{settings.city}:{uid}").language == "en"
        fake_api.send_text(amina, "/forget")
        question = (await fake_api.wait_for_sent(uid, 3))[2]
        assert [data for _, data in buttons(question)] == ["forget:yes", "menu"]
        fake_api.press_button(amina, question, "Yes")
        done, erase_offer = (await fake_api.wait_for_sent(uid, 5))[3:5]
        await fake_api.wait_for_call("editMessageReplyMarkup")
        fake_api.send_text(amina, "/forget")
        again = (await fake_api.wait_for_sent(uid, 6))[5]
        fake_api.press(amina, again, "forget:yes")
        nothing = (await fake_api.wait_for_sent(uid, 7))[6]

    assert "reply_markup" not in fake_api.current(question)  # the question is settled
    assert done["text"] == "Done: everything I kept about you is deleted."
    assert [data for _, data in buttons(erase_offer)] == ["erase"]  # the messages on the phone, too
    # Nothing stored any more: the default language (French) again.
    french = shared_services.translations.translator("fr")
    assert nothing["text"] == french("I had nothing stored about you.")
    assert SQLiteStore(settings.state_db_path).load(f"{settings.city}:{uid}").language is None


async def test_restart_keeps_the_language(
    fake_api: FakeBotApi,
    settings: Settings,
    run_bot: RunBot,
    sanne: JSONDict,
    shared_services: Services,
) -> None:
    async with run_bot(settings):
        await choose_language(fake_api, sanne, "nl")
    # A new application started the production way: create_services opens the settings' database.
    async with run_bot(settings, services_factory=create_services):
        fake_api.send_text(sanne, "/menu")
        menu = (await fake_api.wait_for_sent(sanne["id"], 3))[2]
    dutch_menu = shared_services.core.menu("nl")
    assert menu["text"] == markup.strip(dutch_menu.text)
    assert len(fake_api.calls_to("getMe")) == 2


async def test_too_many_requests_is_waited_out_and_nothing_is_lost(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict
) -> None:
    async with run_bot(settings):
        fake_api.fail_next("sendMessage", 429, retry_after=1)
        started = time.monotonic()
        fake_api.send_text(amina, "/start")
        (welcome,) = await fake_api.wait_for_sent(amina["id"], 1)
        waited = time.monotonic() - started
    refused = [c for c in fake_api.calls if c.method == "sendMessage" and c.status == 429]
    assert len(refused) == 1 and waited >= 1.0
    assert refused[0].text == fake_api.calls_to("sendMessage")[0].text  # the same message, retried
    assert welcome["text"].startswith("Bienvenue") and buttons(welcome)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_accepts_only_the_secret_and_answers(
    fake_api: FakeBotApi, env: dict[str, str], run_bot: RunBot, amina: JSONDict
) -> None:
    port = free_port()
    settings = Settings.from_env(
        environ={
            **env,
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/hook",
            "WEBHOOK_PORT": str(port),
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_SECRET": "s3cret-Token_1",
        }
    )
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    message = fake_api.user_message(amina, text="/start")  # registers the chat in the fake
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
    async with run_bot(settings), aiohttp.ClientSession() as http:
        assert fake_api.webhook["url"] == hook
        assert fake_api.webhook["secret_token"] == "s3cret-Token_1"
        update = helpers.update(1, message=message)
        async with http.post(hook, json=update) as response:
            assert response.status == 403
        async with http.post(hook, json=update, headers={**good, "X-Telegram-Bot-Api-Secret-Token": "x"}) as response:
            assert response.status == 403
        async with http.post(hook, data=b"not json", headers=good) as response:
            assert response.status == 400
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        await asyncio.sleep(0.2)
        assert fake_api.sent(amina["id"]) == []  # nothing got through
        async with http.post(hook, json=update, headers=good) as response:
            assert response.status == 200
        (welcome,) = await fake_api.wait_for_sent(amina["id"], 1)
    assert welcome["text"].startswith("Bienvenue") and buttons(welcome)
    assert not fake_api.calls_to("getUpdates")


async def test_staff_reload_and_stats_only_for_staff(
    fake_api: FakeBotApi,
    env: dict[str, str],
    run_bot: RunBot,
    amina: JSONDict,
    content_copy: Path,
) -> None:
    settings = Settings.from_env(environ={**env, "CONTENT_DIR": str(content_copy)})
    staff = helpers.user(STAFF_ID, "fr", "Office")
    broken = content_copy / "brussels" / "fr" / "housing.yml"
    async with run_bot(settings):
        await choose_language(fake_api, amina, "fr")
        fake_api.send_text(amina, "mon mari me frappe")
        await fake_api.wait_for_sent(amina["id"], 3)
        fake_api.send_text(amina, "/stats")
        refused = (await fake_api.wait_for_sent(amina["id"], 4))[3]
        assert "topic:services" in [d for _, d in buttons(refused)]  # just the unknown-command menu

        fake_api.send_text(staff, "/stats")
        stats = (await fake_api.wait_for_sent(STAFF_ID, 1))[0]
        broken.write_text(broken.read_text(encoding="utf-8") + "\nfind_housing: [oops\n", encoding="utf-8")
        fake_api.send_text(staff, "/reload")
        report = (await fake_api.wait_for_sent(STAFF_ID, 2, seconds=20))[1]

    assert "fallback rate" in stats["text"] and "domestic_violence: 1" in stats["text"]
    assert str(amina["id"]) not in stats["text"]
    assert "Errors (1)" in report["text"] and "fr/housing.yml:" in report["text"]
    assert "Kept at their last good version" in report["text"]


async def test_content_watcher_reloads_changed_answers(
    fake_api: FakeBotApi,
    env: dict[str, str],
    run_bot: RunBot,
    sanne: JSONDict,
    content_copy: Path,
) -> None:
    settings = Settings.from_env(environ={**env, "CONTENT_DIR": str(content_copy), "CONTENT_RELOAD_SECONDS": "0.1"})
    answers = content_copy / "brussels" / "nl" / "services.yml"
    async with run_bot(settings) as application:
        services = application.bot_data["services"]
        answers.write_text(
            answers.read_text(encoding="utf-8").replace("Bel {{emergency_112}}.", "Bel nu {{emergency_112}}."),
            encoding="utf-8",
        )
        deadline = time.monotonic() + 20
        while "Bel nu {{emergency_112}}." not in services.content.get("nl", "domestic_violence").text:
            assert time.monotonic() < deadline, "the change was not picked up"
            await asyncio.sleep(0.1)
        await choose_language(fake_api, sanne, "nl")
        fake_api.send_text(sanne, "mijn man slaat mij")
        answer = (await fake_api.wait_for_sent(sanne["id"], 3))[2]
    assert "Bel nu 112." in answer["text"]


async def test_a_failing_handler_gets_an_apology_not_a_crash(
    fake_api: FakeBotApi,
    settings: Settings,
    run_bot: RunBot,
    amina: JSONDict,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    shared_services: Services,
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("the model fell over")

    caplog.set_level(logging.INFO)

    async with run_bot(settings) as application:
        monkeypatch.setattr(application.bot_data["services"].core, "handle_text", broken)
        fake_api.send_text(amina, "logement")
        (apology,) = await fake_api.wait_for_sent(amina["id"], 1)
        assert "topic:housing" in [data for _, data in buttons(apology)]  # with the menu
        fake_api.send_text(amina, "/help")  # still alive
        await fake_api.wait_for_sent(amina["id"], 2)
    sorry = shared_services.core.error_reply("fr").messages[0].text
    assert apology["text"].startswith(markup.strip(sorry))
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name == "bot.channels.telegram.handlers.errors"
    ]
    assert errors and errors[0].exc_info is not None
    assert "logement" not in caplog.text  # no message texts in the logs
