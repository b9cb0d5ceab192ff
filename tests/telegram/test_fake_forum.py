"""The fake Bot API's forum topics, copies and deletions behave as Telegram's do."""

from __future__ import annotations

from tests.telegram import helpers
from tests.telegram.fake_bot_api import DELETE_WINDOW_SECONDS, FakeBotApi

STAFF_CHAT = -1005


async def test_topics_copies_and_their_errors() -> None:
    api = FakeBotApi()
    api.add_forum(STAFF_CHAT)
    user = helpers.user(1001)
    sent = api.user_message(user, text="hello")
    status, topic = await api.call("createForumTopic", {"chat_id": STAFF_CHAT, "name": "K7P2QX · fr"})
    thread = topic["result"]["message_thread_id"]
    assert status == 200
    copy = {"chat_id": STAFF_CHAT, "from_chat_id": 1001, "message_id": sent["message_id"], "message_thread_id": thread}
    assert (await api.call("copyMessage", copy))[0] == 200
    assert [m["text"] for m in api.topic_messages(STAFF_CHAT, thread)] == ["hello"]
    assert (await api.call("createForumTopic", {"chat_id": 1001, "name": "x"}))[0] == 400  # not a forum
    assert (await api.call("closeForumTopic", {"chat_id": STAFF_CHAT, "message_thread_id": thread}))[0] == 200
    status, closed = await api.call("copyMessage", copy)
    assert (status, closed["description"]) == (400, "Bad Request: TOPIC_CLOSED")
    api.delete_topic(STAFF_CHAT, thread)
    status, gone = await api.call("copyMessage", copy)
    assert (status, gone["description"]) == (400, "Bad Request: message thread not found")
    api.block(1001)
    status, blocked = await api.call("sendMessage", {"chat_id": 1001, "text": "hi"})
    assert (status, blocked["description"]) == (403, "Forbidden: bot was blocked by the user")


async def test_deleting_respects_the_48_hour_limit() -> None:
    api = FakeBotApi()
    now = 1_800_000_000.0
    api.clock = lambda: now
    user = helpers.user(1001)
    old = api.user_message(user, text="old")
    now += DELETE_WINDOW_SECONDS
    recent = api.user_message(user, text="recent")
    ids = [old["message_id"], recent["message_id"], 999]
    assert (await api.call("deleteMessages", {"chat_id": 1001, "message_ids": ids}))[0] == 200
    assert api.deleted[1001] == [recent["message_id"]]  # the old one and the unknown one are skipped
    status, refused = await api.call("deleteMessage", {"chat_id": 1001, "message_id": old["message_id"]})
    assert (status, refused["description"]) == (400, "Bad Request: message can't be deleted for everyone")
    assert [m["text"] for m in api.chat_messages(1001)] == ["old"]
