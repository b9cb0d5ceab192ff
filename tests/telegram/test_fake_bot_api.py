"""The fake Bot API itself behaves like Telegram where the bot depends on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.telegram import helpers
from tests.telegram.fake_bot_api import FakeBotApi, parse_html


@pytest.fixture
async def http(fake_api: FakeBotApi) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as session:

        async def call(method: str, token: str | None = None, **params: Any) -> tuple[int, Any]:
            url = f"{fake_api.base_url}{token or fake_api.token}/{method}"
            async with session.post(url, json=params) as response:
                return response.status, await response.json()

        yield call


async def test_get_updates_long_polls_and_confirms_with_offsets(fake_api: FakeBotApi, http: Any) -> None:
    started = time.monotonic()
    status, body = await http("getUpdates", timeout=0.3)
    assert (status, body["result"]) == (200, []) and time.monotonic() - started >= 0.3

    poll = asyncio.create_task(http("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    fake_api.send_text(helpers.user(1), "hello")
    status, body = await poll  # returns as soon as the update arrives
    (update,) = body["result"]
    assert update["message"]["text"] == "hello"

    again = (await http("getUpdates", timeout=0))[1]["result"]
    assert [u["update_id"] for u in again] == [update["update_id"]]  # not confirmed yet
    confirmed = (await http("getUpdates", timeout=0, offset=update["update_id"] + 1))[1]["result"]
    assert confirmed == []


async def test_a_second_poll_ends_the_first_with_409(fake_api: FakeBotApi, http: Any) -> None:
    first = asyncio.create_task(http("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    await http("getUpdates", timeout=0)
    status, body = await first
    assert status == 409 and body["description"].startswith("Conflict: terminated by other getUpdates")


async def test_telegram_errors(fake_api: FakeBotApi, http: Any) -> None:
    fake_api.send_text(helpers.user(5), "hi")
    assert (await http("getMe", token="1:wrong"))[0] == 401
    assert (await http("noSuchMethod"))[0] == 404
    assert (await http("sendMessage", chat_id=6, text="x"))[1]["description"] == "Bad Request: chat not found"
    for bad_html in ("<b>open", "a < b", "R&D", "<blink>x</blink>"):
        status, body = await http("sendMessage", chat_id=5, text=bad_html, parse_mode="HTML")
        assert status == 400 and "can't parse entities" in body["description"], bad_html
    too_long = {"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]}
    status, body = await http("sendMessage", chat_id=5, text="x", reply_markup=too_long)
    assert body["description"] == "Bad Request: BUTTON_DATA_INVALID"
    assert (await http("sendMessage", chat_id=5, text="x" * 4097))[1]["description"].endswith("too long")

    status, body = await http("sendMessage", chat_id=5, text="<b>Titre</b>", parse_mode="HTML")
    sent = body["result"]
    assert sent["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    same = await http(
        "editMessageText",
        chat_id=5,
        message_id=sent["message_id"],
        text="Titre",
        entities=None,
        parse_mode="HTML",
    )
    assert same[0] == 200  # entities changed: modified
    unchanged = await http("editMessageText", chat_id=5, message_id=sent["message_id"], text="Titre")
    assert unchanged[1]["description"].startswith("Bad Request: message is not modified")

    query_id = fake_api.press(helpers.user(5), sent, "menu")
    assert (await http("answerCallbackQuery", callback_query_id=query_id))[0] == 200
    assert (await http("answerCallbackQuery", callback_query_id=query_id))[0] == 400

    fake_api.fail_next("sendMessage", 429, retry_after=3)
    status, body = await http("sendMessage", chat_id=5, text="x")
    assert (status, body["parameters"]) == (429, {"retry_after": 3})


def test_html_entities_count_utf16_units() -> None:
    text, entities = parse_html('🏠 <b>Logement</b> &amp; <a href="https://a.be">aide</a>')
    assert text == "🏠 Logement & aide"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 8},
        {"type": "text_link", "url": "https://a.be", "offset": 14, "length": 4},
    ]
