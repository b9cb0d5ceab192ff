"""The rate-limiter wrapper that reports the ids of the bot's messages in private chats."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from telegram.ext import BaseRateLimiter

from bot.channels.telegram.message_log import MessageIdRecorder

JSONDict = dict[str, Any]


class PassThrough(BaseRateLimiter[Any]):
    """Runs the request at once, counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | JSONDict | list[JSONDict]:
        self.calls += 1
        return await callback(*args, **kwargs)


def answering(result: bool | JSONDict) -> Callable[[], Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]]:
    async def callback() -> bool | JSONDict | list[JSONDict]:
        return result

    return callback


@pytest.fixture
def recorded() -> list[tuple[int, int]]:
    return []


@pytest.fixture
def recorder(recorded: list[tuple[int, int]]) -> MessageIdRecorder:
    wrapper = MessageIdRecorder(PassThrough())
    wrapper.on_sent = lambda chat_id, message_id: recorded.append((chat_id, message_id))
    return wrapper


@pytest.mark.parametrize(
    ("endpoint", "chat_id", "result", "expected"),
    [
        ("sendMessage", 1001, {"message_id": 5, "chat": {"id": 1001}}, [(1001, 5)]),
        ("copyMessage", "1001", {"message_id": 6}, [(1001, 6)]),  # a copy answers only its id
        ("sendPhoto", 1001, {"message_id": 7}, [(1001, 7)]),
        ("copyMessage", -1001234, {"message_id": 8}, []),  # the staff group: not a private chat
        ("sendMessage", "@channel", {"message_id": 9}, []),
        ("editMessageText", 1001, {"message_id": 5}, []),  # not a new message
        ("deleteMessages", 1001, True, []),
    ],
)
async def test_only_new_messages_in_private_chats_are_reported(
    recorder: MessageIdRecorder,
    recorded: list[tuple[int, int]],
    endpoint: str,
    chat_id: int | str,
    result: bool | JSONDict,
    expected: list[tuple[int, int]],
) -> None:
    answer = await recorder.process_request(answering(result), (), {}, endpoint, {"chat_id": chat_id}, None)
    assert answer == result
    assert recorded == expected
    assert isinstance(recorder.inner, PassThrough) and recorder.inner.calls == 1


async def test_a_failing_log_never_loses_the_sent_message(recorder: MessageIdRecorder) -> None:
    def broken(chat_id: int, message_id: int) -> None:
        raise OSError("database is locked")

    recorder.on_sent = broken
    sent = {"message_id": 5}
    assert await recorder.process_request(answering(sent), (), {}, "sendMessage", {"chat_id": 1001}, None) == sent


async def test_sends_keep_their_id_but_not_the_keyboard_echoed_back(
    recorder: MessageIdRecorder, recorded: list[tuple[int, int]]
) -> None:
    keyboard = {"inline_keyboard": [[{"text": "Menu", "callback_data": "menu"}]]}
    sent = {"message_id": 5, "text": "Bonjour", "entities": [], "reply_markup": keyboard}
    answer = await recorder.process_request(answering(sent), (), {}, "sendMessage", {"chat_id": 1001}, None)
    assert answer == {"message_id": 5, "text": "Bonjour"}
    assert recorded == [(1001, 5)]
    other = {"message_id": 6, "reply_markup": keyboard}
    assert await recorder.process_request(answering(other), (), {}, "sendPhoto", {"chat_id": 1001}, None) == other
