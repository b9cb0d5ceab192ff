"""End to end: the live hand-off and "Delete this chat" with the real Application and the fake Bot API."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
from telegram.ext import AIORateLimiter

from bot import handoff as ho
from bot.channels.telegram.app import TelegramApp
from bot.channels.telegram.handlers.handoff import HANDOFF_KEY, HandoffChannel
from bot.handoff_store import HandoffStore
from bot.services import Services
from bot.settings import Settings
from tests.telegram import helpers
from tests.telegram.conftest import RunBot
from tests.telegram.fake_bot_api import FakeBotApi, buttons
from tests.telegram.helpers import choose_language, visible

JSONDict = dict[str, Any]
STAFF_CHAT = -1001234
COUNSELLOR = helpers.user(5001, "fr", "Claire")
WOMAN_COUNSELLOR = 5002
RunHandoff = Callable[..., contextlib.AbstractAsyncContextManager[TelegramApp]]


class MovableClock:
    """The bot's clock, moved by the test together with the fake server's."""

    def __init__(self, api: FakeBotApi) -> None:
        self.offset = dt.timedelta()
        self.api = api

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta
        self.api.clock = lambda: (dt.datetime.now(dt.UTC) + self.offset).timestamp()


@pytest.fixture
def handoff_settings(env: dict[str, str], fake_api: FakeBotApi) -> Settings:
    fake_api.add_forum(STAFF_CHAT)
    return Settings.from_env(environ={**env, "STAFF_CHAT_ID": str(STAFF_CHAT)})


@pytest.fixture
def run_handoff(run_bot: RunBot) -> RunHandoff:
    """``run_bot`` with a hook to set the hand-off's injectables (clock, opening hours)."""

    def running(
        settings: Settings, configure: Callable[[HandoffChannel], None] | None = None, **options: Any
    ) -> contextlib.AbstractAsyncContextManager[TelegramApp]:
        def configure_handoff(application: TelegramApp) -> None:
            if configure is not None:
                configure(application.bot_data[HANDOFF_KEY])

        return run_bot(settings, configure=configure_handoff, **options)

    return running


def gettext(services: Services, language: str, msgid: str) -> str:
    return services.translations.gettext(language, msgid)


async def ask_for_counsellor(fake_api: FakeBotApi, user: JSONDict) -> JSONDict:
    """Press "Write to a counsellor" (the office card's button); returns the consent message."""
    before = len(fake_api.sent(user["id"]))
    fake_api.press(user, fake_api.sent(user["id"])[-1], "counsellor")
    return (await fake_api.wait_for_sent(user["id"], before + 1))[-1]


async def open_handoff(fake_api: FakeBotApi, user: JSONDict, choice: str = ho.ACTION_CONSENT) -> tuple[int, JSONDict]:
    """Ask, agree; returns the topic id and the "you are connected" message."""
    offer = await ask_for_counsellor(fake_api, user)
    before, topics = len(fake_api.sent(user["id"])), len(fake_api.calls_to("createForumTopic"))
    fake_api.press(user, offer, choice)
    opened = (await fake_api.wait_for_sent(user["id"], before + 1))[-1]
    created = fake_api.calls_to("createForumTopic")
    assert len(created) == topics + 1
    return int(created[-1].result["message_thread_id"]), opened


def user_texts(fake_api: FakeBotApi, user: JSONDict) -> list[str]:
    return [visible(message) for message in fake_api.bot_messages(user["id"])]


@pytest.mark.parametrize(("language", "user_id"), [("fr", 3001), ("ar", 3002)])
async def test_round_trip_user_topic_counsellor_user(
    fake_api: FakeBotApi,
    handoff_settings: Settings,
    run_handoff: RunHandoff,
    shared_services: Services,
    language: str,
    user_id: int,
) -> None:
    user = helpers.user(user_id, language, "Amina")
    uid = user["id"]
    async with run_handoff(handoff_settings):
        await choose_language(fake_api, user, language)
        topic_id, opened = await open_handoff(fake_api, user)
        topic = fake_api.topics[(STAFF_CHAT, topic_id)]
        code = topic.name.split(" · ")[0]
        intro = fake_api.topic_messages(STAFF_CHAT, topic_id)[0]
        sent_before = len(fake_api.sent(uid))

        # The user writes: text, a photo, a document, a voice message, more text; all land in the topic.
        fake_api.send_text(user, "question about my rent")
        fake_api.user_message(user, **helpers.photo())
        fake_api.user_message(user, **helpers.document())
        fake_api.user_message(user, **helpers.voice())
        fake_api.send_text(user, "second message")
        await fake_api.wait_until(lambda: len(fake_api.topic_messages(STAFF_CHAT, topic_id)) == 6)

        # A counsellor answers in the topic (text and a document); the user gets copies.
        fake_api.staff_message(COUNSELLOR, STAFF_CHAT, topic_id, text="Bonjour, passez mardi au bureau.")
        fake_api.staff_message(COUNSELLOR, STAFF_CHAT, topic_id, **helpers.document())
        await fake_api.wait_until(lambda: len(fake_api.calls_to("copyMessage", uid)) == 2)
        only_notice = fake_api.sent(uid)[sent_before:]

        fake_api.staff_message(COUNSELLOR, STAFF_CHAT, topic_id, text="/close")
        await fake_api.wait_for_call("closeForumTopic")
        closed = (await fake_api.wait_for_sent(uid, sent_before + 2))[-1]

    assert topic.name == f"{code} · {language}"  # no question asked before: no topic to name
    assert "Amina" not in topic.name and "Amina" not in intro["text"] and str(uid) not in intro["text"]
    assert visible(opened).startswith(
        gettext(
            shared_services, language, "You are now connected to the reception office. Your case code is {code}."
        ).format(code=code)
    )
    assert [data for _, data in buttons(opened)] == [ho.end_action(code)]
    relayed = fake_api.topic_messages(STAFF_CHAT, topic_id)[1:6]
    assert [m.get("text") for m in relayed] == ["question about my rent", None, None, None, "second message"]
    assert ["photo" in relayed[1], "document" in relayed[2], "voice" in relayed[3]] == [True, True, True]
    assert all(m["from"]["id"] == helpers.BOT_ID for m in relayed)  # copies: the user's name is not shown
    # The bot did not answer the user's messages itself: one notice, once.
    assert len(only_notice) == 1
    notice = (
        "Your messages go to the counsellor; I do not answer them myself while you talk. "
        "The menu still works. To finish, use /end."
    )
    assert visible(only_notice[0]) == gettext(shared_services, language, notice) != notice
    # The counsellor's reply reached the user as the bot's message, without the counsellor's name.
    copies = [m for m in fake_api.bot_messages(uid) if m.get("text") == "Bonjour, passez mardi au bureau."]
    assert len(copies) == 1 and "document" in fake_api.bot_messages(uid)[-2]
    assert all("Claire" not in str(m) for m in fake_api.bot_messages(uid))
    assert visible(closed) == gettext(
        shared_services,
        language,
        "The counsellor has ended the conversation. You can ask for a counsellor again at any time.",
    )
    assert topic.closed
    assert HandoffStore(handoff_settings.state_db_path).by_topic(topic_id).state == "closed"  # type: ignore[union-attr]


async def test_user_ends_with_end_and_the_bot_answers_again(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    uid = amina["id"]
    async with run_handoff(handoff_settings):
        await choose_language(fake_api, amina, "en")
        topic_id, _opened = await open_handoff(fake_api, amina)
        before = len(fake_api.sent(uid))
        fake_api.send_text(amina, "/end")
        ended = (await fake_api.wait_for_sent(uid, before + 1))[-1]
        await fake_api.wait_for_call("closeForumTopic")
        fake_api.send_text(amina, "where can I learn French")
        answer = (await fake_api.wait_for_sent(uid, before + 2))[-1]
    assert ended["text"] == "The conversation with the counsellor has ended. Thank you."
    assert fake_api.topic_messages(STAFF_CHAT, topic_id)[-1]["text"].endswith("the user ended the conversation.")
    assert "French" in answer["text"] or "français" in answer["text"].lower()
    assert len(fake_api.topic_messages(STAFF_CHAT, topic_id)) == 2  # intro and the end note: nothing relayed


async def test_out_of_hours_the_user_is_told_when_the_office_opens_and_may_leave_a_message(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    def closed_until_tuesday(channel: HandoffChannel) -> None:
        channel.is_open = lambda now: False
        channel.opens_at_text = lambda now, language: "mardi 9:00"

    async with run_handoff(handoff_settings, configure=closed_until_tuesday):
        await choose_language(fake_api, amina, "fr")
        offer = await ask_for_counsellor(fake_api, amina)
        topic_id, opened = await open_handoff(fake_api, amina)
        fake_api.send_text(amina, "je laisse un message")
        await fake_api.wait_until(lambda: len(fake_api.topic_messages(STAFF_CHAT, topic_id)) == 2)
    assert "mardi 9:00" in offer["text"] and "mardi 9:00" in opened["text"]
    intro, left = fake_api.topic_messages(STAFF_CHAT, topic_id)
    assert "out of office hours" in intro["text"]
    assert left["text"] == "je laisse un message"


async def test_woman_counsellor_request_marks_the_topic_and_mentions_the_women(
    fake_api: FakeBotApi, env: dict[str, str], run_handoff: RunHandoff, karim: JSONDict
) -> None:
    fake_api.add_forum(STAFF_CHAT)
    settings = Settings.from_env(
        environ={**env, "STAFF_CHAT_ID": str(STAFF_CHAT), "FEMALE_COUNSELLOR_IDS": str(WOMAN_COUNSELLOR)}
    )
    async with run_handoff(settings):
        await choose_language(fake_api, karim, "ar")
        topic_id, _opened = await open_handoff(fake_api, karim, ho.ACTION_CONSENT_WOMAN)
    assert ho.WOMAN_MARK in fake_api.topics[(STAFF_CHAT, topic_id)].name
    intro = fake_api.topic_messages(STAFF_CHAT, topic_id)[0]
    mentions = [e["url"] for e in intro.get("entities", []) if e["type"] == "text_link"]
    assert mentions == [f"tg://user?id={WOMAN_COUNSELLOR}"]


async def test_woman_counsellor_request_without_one_is_answered_honestly(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    uid = amina["id"]
    async with run_handoff(handoff_settings):
        await choose_language(fake_api, amina, "en")
        offer = await ask_for_counsellor(fake_api, amina)
        before = len(fake_api.sent(uid))
        fake_api.press(amina, offer, ho.ACTION_CONSENT_WOMAN)
        honest = (await fake_api.wait_for_sent(uid, before + 1))[-1]
    assert "no woman counsellor is available" in honest["text"]
    assert [data for _, data in buttons(honest)] == [ho.ACTION_CONSENT, ho.ACTION_DECLINE]
    assert not fake_api.calls_to("createForumTopic")


async def test_staff_commands_from_non_staff_are_ignored_and_logged_without_content(
    fake_api: FakeBotApi,
    handoff_settings: Settings,
    run_handoff: RunHandoff,
    amina: JSONDict,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    uid = amina["id"]
    async with run_handoff(handoff_settings):
        await choose_language(fake_api, amina, "en")
        topic_id, _opened = await open_handoff(fake_api, amina)
        before = len(fake_api.sent(uid))
        fake_api.send_text(amina, "/close my secret words")
        unknown = (await fake_api.wait_for_sent(uid, before + 1))[-1]
    assert not fake_api.calls_to("closeForumTopic")
    assert HandoffStore(handoff_settings.state_db_path).by_topic(topic_id).is_open  # type: ignore[union-attr]
    assert unknown["text"].startswith("Sorry, I do not know this command.")
    assert any("Staff command /close ignored" in r.getMessage() for r in caplog.records)
    assert "secret" not in caplog.text


async def test_forged_callbacks_cannot_touch_another_users_conversation(
    fake_api: FakeBotApi,
    handoff_settings: Settings,
    run_handoff: RunHandoff,
    amina: JSONDict,
    sanne: JSONDict,
) -> None:
    async with run_handoff(handoff_settings):
        await choose_language(fake_api, amina, "en")
        topic_id, _opened = await open_handoff(fake_api, amina)
        code = fake_api.topics[(STAFF_CHAT, topic_id)].name.split(" · ")[0]
        await choose_language(fake_api, sanne, "en")
        menu = fake_api.sent(sanne["id"])[-1]
        before = len(fake_api.sent(sanne["id"]))
        for forged in (ho.end_action(code), "ho:join:" + code, "ho:end:", "ho:close:" + code):
            fake_api.press(sanne, menu, forged)
        await fake_api.wait_for_sent(sanne["id"], before + 4)
        # Sanne writes: her message is answered by the bot, not relayed into Amina's topic.
        fake_api.send_text(sanne, "housing help")
        await fake_api.wait_for_sent(sanne["id"], before + 5)
        # A button pressed in the staff group does nothing either.
        in_topic = fake_api.topic_messages(STAFF_CHAT, topic_id)[0]
        fake_api.push_update(
            callback_query=helpers.callback_query(COUNSELLOR, "staff-1", ho.end_action(code), in_topic)
        )
        await fake_api.wait_until(lambda: len([c for c in fake_api.calls if c.method == "answerCallbackQuery"]) == 9)
    assert HandoffStore(handoff_settings.state_db_path).by_topic(topic_id).is_open  # type: ignore[union-attr]
    assert not fake_api.calls_to("closeForumTopic")
    assert len(fake_api.topic_messages(STAFF_CHAT, topic_id)) == 1  # only the intro
    assert HandoffStore(handoff_settings.state_db_path).by_user(str(sanne["id"])) is None


async def test_forget_during_an_open_conversation_ends_it_and_offers_to_delete_the_chat(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    uid = amina["id"]
    async with run_handoff(handoff_settings):
        await choose_language(fake_api, amina, "fr")
        topic_id, _opened = await open_handoff(fake_api, amina)
        before = len(fake_api.sent(uid))
        fake_api.send_text(amina, "/forget")
        question = (await fake_api.wait_for_sent(uid, before + 1))[-1]
        fake_api.press(amina, question, "forget:yes")
        done, offer = (await fake_api.wait_for_sent(uid, before + 3))[-2:]
        await fake_api.wait_for_call("closeForumTopic")
    assert HandoffStore(handoff_settings.state_db_path).by_user(str(uid)) is None
    assert fake_api.topics[(STAFF_CHAT, topic_id)].closed
    assert "delete their data" in fake_api.topic_messages(STAFF_CHAT, topic_id)[-1]["text"]
    assert done["text"].startswith("C'est fait")
    assert [data for _, data in buttons(offer)] == ["erase"]


async def test_deleted_topic_and_blocked_user_are_told_to_the_other_side(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict, sanne: JSONDict
) -> None:
    async with run_handoff(handoff_settings):
        await choose_language(fake_api, amina, "en")
        amina_topic, _opened = await open_handoff(fake_api, amina)
        await choose_language(fake_api, sanne, "en")
        sanne_topic, _opened = await open_handoff(fake_api, sanne)

        fake_api.delete_topic(STAFF_CHAT, amina_topic)
        before = len(fake_api.sent(amina["id"]))
        fake_api.send_text(amina, "are you there?")
        gone = (await fake_api.wait_for_sent(amina["id"], before + 1))[-1]

        fake_api.block(sanne["id"])
        fake_api.staff_message(COUNSELLOR, STAFF_CHAT, sanne_topic, text="Hello Sanne")
        await fake_api.wait_for_call("closeForumTopic")
    assert gone["text"].startswith("Your message could not be delivered")
    assert [data for _, data in buttons(gone)] == ["counsellor"]
    note = fake_api.topic_messages(STAFF_CHAT, sanne_topic)[-1]["text"]
    assert "blocked the bot" in note
    assert fake_api.topics[(STAFF_CHAT, sanne_topic)].closed
    store = HandoffStore(handoff_settings.state_db_path)
    assert not store.by_topic(amina_topic).is_open and not store.by_topic(sanne_topic).is_open  # type: ignore[union-attr]


async def test_flood_limit_tells_the_user_to_send_again(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    async with run_handoff(handoff_settings, rate_limiter=AIORateLimiter(max_retries=0)):
        await choose_language(fake_api, amina, "en")
        _topic_id, _opened = await open_handoff(fake_api, amina)
        before = len(fake_api.sent(amina["id"]))
        fake_api.fail_next("copyMessage", 429, retry_after=7)
        fake_api.send_text(amina, "hello?")
        told = (await fake_api.wait_for_sent(amina["id"], before + 1))[-1]
    assert told["text"] == (
        "Your message was not delivered: too many messages right now. Please send it again in 7 seconds."
    )


async def test_erase_deletes_the_last_48_hours_and_says_what_it_could_not(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    clock = MovableClock(fake_api)
    uid = amina["id"]

    def use_clock(channel: HandoffChannel) -> None:
        channel.clock = clock

    async with run_handoff(handoff_settings, configure=use_clock):
        await choose_language(fake_api, amina, "en")
        old = [m["message_id"] for m in fake_api.chat_messages(uid)]
        ids = HandoffStore(handoff_settings.state_db_path)
        await fake_api.wait_until(lambda: len(ids.message_ids(uid, 0)) == len(old))  # recorded: then time moves
        clock.advance(dt.timedelta(hours=49))
        fake_api.send_text(amina, "/privacy")
        privacy = (await fake_api.wait_for_sent(uid, 3))[-1]
        fake_api.press(amina, privacy, "erase")
        confirm = (await fake_api.wait_for_sent(uid, 4))[-1]
        fake_api.press_button(amina, confirm, "Yes")
        summary = (await fake_api.wait_for_sent(uid, 5))[-1]
    recent = [privacy["message_id"] - 1, privacy["message_id"], confirm["message_id"]]
    assert [m["message_id"] for m in fake_api.chat_messages(uid)] == [*old, summary["message_id"]]
    assert fake_api.deleted[uid] == recent
    assert (len(old), len(recent)) == (3, 3)  # /start, welcome and the menu (the button press is no message)
    assert summary["text"].startswith("Messages deleted: 3.")
    assert "Messages I could not delete (older than 48 hours, or refused by Telegram): 3." in summary["text"]
    assert "press and hold this chat" in summary["text"]


async def test_the_question_that_led_here_is_posted_in_the_topic_only_when_recent(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict, sanne: JSONDict
) -> None:
    clock = MovableClock(fake_api)

    def use_clock(channel: HandoffChannel) -> None:
        channel.clock = clock

    async with run_handoff(handoff_settings, configure=use_clock):
        for user in (amina, sanne):
            await choose_language(fake_api, user, "fr")
            before = len(fake_api.sent(user["id"]))
            fake_api.send_text(user, "mon propriétaire ne rend pas ma garantie locative")
            await fake_api.wait_for_sent(user["id"], before + 1)
        recent_topic, _opened = await open_handoff(fake_api, amina)
        clock.advance(dt.timedelta(minutes=31))
        old_topic, _opened = await open_handoff(fake_api, sanne)
    _intro, question = fake_api.topic_messages(STAFF_CHAT, recent_topic)
    assert question["text"] == "mon propriétaire ne rend pas ma garantie locative"
    assert question["from"]["id"] == helpers.BOT_ID
    assert len(fake_api.topic_messages(STAFF_CHAT, old_topic)) == 1  # only the intro
    assert " · fr · " in fake_api.topics[(STAFF_CHAT, recent_topic)].name  # with the topic of the question


async def test_a_silent_conversation_is_closed_and_both_sides_are_told(
    fake_api: FakeBotApi, handoff_settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    clock = MovableClock(fake_api)

    def use_clock(channel: HandoffChannel) -> None:
        channel.clock = clock

    async with run_handoff(handoff_settings, configure=use_clock) as application:
        await choose_language(fake_api, amina, "nl")
        topic_id, _opened = await open_handoff(fake_api, amina)
        before = len(fake_api.sent(amina["id"]))
        channel: HandoffChannel = application.bot_data[HANDOFF_KEY]
        clock.advance(dt.timedelta(days=29))
        await channel.close_idle(application.bot, application.bot_data["services"])
        assert len(fake_api.sent(amina["id"])) == before  # not yet
        clock.advance(dt.timedelta(days=2))
        await channel.close_idle(application.bot, application.bot_data["services"])
        told = (await fake_api.wait_for_sent(amina["id"], before + 1))[-1]
    assert told["text"] == "Het gesprek met de hulpverlener is gesloten na een lange stilte. U kunt het opnieuw vragen."
    assert fake_api.topics[(STAFF_CHAT, topic_id)].closed
    assert "30 days without messages" in fake_api.topic_messages(STAFF_CHAT, topic_id)[-1]["text"]


async def test_without_a_staff_group_the_user_is_told_honestly(
    fake_api: FakeBotApi, settings: Settings, run_handoff: RunHandoff, amina: JSONDict
) -> None:
    async with run_handoff(settings):
        await choose_language(fake_api, amina, "en")
        told = await ask_for_counsellor(fake_api, amina)
    assert told["text"].startswith("Chatting with a counsellor is not available here yet.")
    assert not fake_api.calls_to("createForumTopic")
