"""A fake Telegram Bot API server (aiohttp, 127.0.0.1) that the real python-telegram-bot talks to.

It speaks the Bot API over HTTP at ``http://127.0.0.1:PORT/bot<token>/<method>`` with Telegram's
JSON shapes and error answers, keeps the state a client would see (messages, edits, keyboards,
answered callback queries, webhook, command lists) and records every call so tests can assert
on what the bot sent. It is strict where Telegram is strict: HTML must parse, texts must fit in
4096 characters, ``callback_data`` in 64 bytes, a callback query is answered once, and
``getUpdates`` long-polls with offsets (a second concurrent poll gets 409 Conflict).

Failures can be injected: ``fail_next("sendMessage", 429, retry_after=1)`` answers an error;
``break_next("sendMessage", "reset")`` breaks the connection before the method runs (nothing
delivered), ``"reset_after"`` after it ran (delivered, but the client never hears), ``"slow"``
answers after ``slow_seconds``; ``random_faults(0.15, ("500", "502", "reset"))`` fails that share
of calls at random (seeded), as the fault benchmark (benchmarks/faults.py) does.

The staff side of the live hand-off is here too: a forum supergroup (``add_forum``) whose topics
the bot creates and closes (``createForumTopic``, ``closeForumTopic``; a counsellor can delete one
with ``delete_topic``), counsellors writing in a topic (``staff_message``), ``copyMessage`` between
chats, and ``deleteMessage(s)`` with Telegram's 48-hour limit measured on ``clock`` (injectable).
A user who blocked the bot (``block``) makes every send to her chat fail with 403.

``FakeBotRequest`` serves the same logic in memory (no HTTP) for fast unit tests. Run this file
to get a standalone server: ``python -m tests.telegram.fake_bot_api --port 8081``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import itertools
import json
import random
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from aiohttp import web
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from tests.telegram import helpers

JSONDict = dict[str, Any]

TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
# Parameters that are plain strings on the wire; every other form value is JSON (as PTB sends it).
_STRING_PARAMS = frozenset(
    {
        "text",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "language_code",
        "inline_message_id",
        "caption",
        "description",
        "short_description",
        "name",
        "query",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "icon_custom_emoji_id",
    }
)
DELETE_WINDOW_SECONDS = 48 * 3600
# Content a copy keeps (copyMessage copies content, not the sender or the forward header).
_COPIED_FIELDS = ("text", "entities", "photo", "document", "voice", "audio", "video", "caption", "caption_entities")
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)(?:\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def bad_request(reason: str) -> ApiError:
    """Telegram's 400 answer."""
    return ApiError(400, f"Bad Request: {reason}")


@dataclass
class ApiCall:
    """One request the bot made, with the decoded parameters and when it arrived."""

    method: str
    params: JSONDict
    at: float
    status: int = 200
    result: Any = None

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter, if any."""
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        """The ``text`` parameter as sent (with HTML tags), or ``""``."""
        return str(self.params.get("text", ""))


@dataclass
class Failure:
    """An error to answer instead of running a method."""

    code: int
    description: str
    retry_after: int | None = None


TRANSPORT_FAULTS = frozenset({"reset", "reset_after", "slow"})


@dataclass
class FaultPlan:
    """Random faults: ``rate`` of the calls of ``methods`` fail in one of ``modes`` (seeded).

    Modes: an HTTP status ("500", "502", ...) or a transport fault ("reset", "reset_after", "slow").
    """

    rate: float
    modes: tuple[str, ...]
    methods: frozenset[str] = frozenset({"sendmessage"})
    seed: int = 1
    slow_seconds: float = 6.0
    random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def draw(self, method: str) -> str | None:
        """The fault for this call, or None."""
        if method.lower() not in self.methods or self.random.random() >= self.rate:
            return None
        return self.random.choice(self.modes)


@dataclass
class _Update:
    payload: JSONDict
    pushed_at: float


@dataclass
class _Chat:
    payload: JSONDict
    messages: dict[int, JSONDict] = field(default_factory=dict)  # message_id -> current version


@dataclass
class Topic:
    """A forum topic in the fake staff group."""

    name: str
    closed: bool = False
    deleted: bool = False


class FakeBotApi:
    """The fake server: Bot API methods, the user's side (sending updates), and call records."""

    def __init__(self, token: str = helpers.TOKEN) -> None:
        self.token = token
        self.me = helpers.bot_user()
        self.calls: list[ApiCall] = []
        self.webhook: JSONDict = {"url": "", "secret_token": None, "allowed_updates": None}
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.on_call: Callable[[ApiCall], None] | None = None
        self.port = 0
        self._updates: deque[_Update] = deque()
        self._next_update_id = 100_000
        self._confirmed = 0
        self._allowed_updates: list[str] | None = None
        self._chats: dict[int, _Chat] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._queries: dict[str, bool] = {}  # callback query id -> answered
        self._query_ids = itertools.count(1)
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._breaks: dict[str, deque[str]] = defaultdict(deque)
        self.faults: FaultPlan | None = None
        self.slow_seconds = 6.0
        self._poll_generation = 0
        self._wakeup: asyncio.Event | None = None
        self._activity: asyncio.Event | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.clock: Callable[[], float] = time.time  # message dates and the 48-hour delete limit
        self.topics: dict[tuple[int, int], Topic] = {}
        self.deleted: dict[int, list[int]] = defaultdict(list)  # chat id -> ids deleted, in order
        self._blocked: set[int] = set()

    # ----- server --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What ``TELEGRAM_BASE_URL`` must be (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (a free port unless ``port`` is given)."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._http)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Wake pending long polls and stop listening."""
        self._closing = True
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _http(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params: JSONDict = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:
                form = await request.post()
                params.update(decode_form({k: v for k, v in form.items() if isinstance(v, str)}))
        params.update(decode_form(dict(request.query)))
        method = request.match_info["method"]
        fault = self.next_fault(method)
        if fault is not None and fault not in TRANSPORT_FAULTS:
            status = int(fault)
            self.calls.append(ApiCall(method, params, time.monotonic(), status))
            return web.json_response({"ok": False, "error_code": status, "description": "Bad Gateway"}, status=status)
        if fault == "reset":
            self.calls.append(ApiCall(method, params, time.monotonic(), -1))
            return self._reset(request)
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        status, payload = await self.call(method, params)
        if fault == "reset_after":
            return self._reset(request)
        return web.json_response(payload, status=status, dumps=_dumps)

    def next_fault(self, method: str) -> str | None:
        """The injected fault for this call of ``method``, if any (scheduled first, then random)."""
        scheduled = self._breaks.get(method.lower())
        if scheduled:
            return scheduled.popleft()
        return self.faults.draw(method) if self.faults is not None else None

    @staticmethod
    def _reset(request: web.Request) -> web.Response:
        """Close the connection without an answer (the client sees a reset)."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    # ----- the Bot API ---------------------------------------------------------------------------

    async def call(self, method: str, params: JSONDict) -> tuple[int, JSONDict]:
        """Run one Bot API method; returns the HTTP status and the JSON answer."""
        record = ApiCall(method, params, time.monotonic())
        self.calls.append(record)
        handler = getattr(self, f"_m_{method.lower()}", None)
        try:
            failures = self._failures.get(method.lower())
            if failures:
                failure = failures.popleft()
                extra = {"retry_after": failure.retry_after} if failure.retry_after is not None else None
                raise ApiError(failure.code, failure.description, extra)
            if handler is None:
                raise ApiError(404, "Not Found")
            record.result = await handler(params)
        except ApiError as error:
            record.status = error.code
            payload: JSONDict = {
                "ok": False,
                "error_code": error.code,
                "description": error.description,
            }
            if error.parameters:
                payload["parameters"] = error.parameters
            self._notify(record)
            return error.code, payload
        self._notify(record)
        return 200, {"ok": True, "result": record.result}

    async def _m_getme(self, params: JSONDict) -> JSONDict:
        return {
            **self.me,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getupdates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        if params.get("allowed_updates") is not None:
            self._allowed_updates = list(params["allowed_updates"]) or None
        if offset > 0:
            self._confirmed = max(self._confirmed, offset)
            while self._updates and self._updates[0].payload["update_id"] < self._confirmed:
                self._updates.popleft()
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # a poll still waiting is now superseded: it answers 409
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            ready = [u.payload for u in self._updates if self._allowed(u.payload)][:limit]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._closing:
                return copy.deepcopy(ready)
            wakeup = self._wakeup_event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)

    async def _m_deletewebhook(self, params: JSONDict) -> bool:
        self.webhook = {"url": "", "secret_token": None, "allowed_updates": None}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_setwebhook(self, params: JSONDict) -> bool:
        url = str(params.get("url", ""))
        if url and not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates"),
        }
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook["allowed_updates"]:
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _m_sendmessage(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params.get("chat_id"))
        self._check_reachable(chat, params.get("message_thread_id"))
        text, entities = self._parse_text(params)
        markup = _check_keyboard(params.get("reply_markup"))
        message = self._bot_message(chat, text, entities, markup)
        self._place_in_topic(message, params.get("message_thread_id"))
        return copy.deepcopy(message)

    async def _m_copymessage(self, params: JSONDict) -> JSONDict:
        source = self._chat(params.get("from_chat_id"))
        original = source.messages.get(int(params.get("message_id") or 0))
        if original is None:
            raise bad_request("message to copy not found")
        target = self._chat(params.get("chat_id"))
        self._check_reachable(target, params.get("message_thread_id"))
        copied: JSONDict = {
            "message_id": self._new_message_id(target.payload["id"]),
            "from": self.me,
            "chat": target.payload,
            "date": int(self.clock()),
            **{key: copy.deepcopy(original[key]) for key in _COPIED_FIELDS if key in original},
        }
        self._place_in_topic(copied, params.get("message_thread_id"))
        target.messages[copied["message_id"]] = copied
        return {"message_id": copied["message_id"]}

    async def _m_createforumtopic(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params.get("chat_id"))
        if not chat.payload.get("is_forum"):
            raise bad_request("the chat is not a forum")
        name = str(params.get("name", ""))
        if not 1 <= len(name) <= 128:
            raise bad_request("TOPIC_NAME_INVALID")
        chat_id = chat.payload["id"]
        thread_id = self._new_message_id(chat_id)  # a topic's id is its creation message's id
        chat.messages[thread_id] = {
            "message_id": thread_id,
            "from": self.me,
            "chat": chat.payload,
            "date": int(self.clock()),
            "message_thread_id": thread_id,
            "is_topic_message": True,
            "forum_topic_created": {"name": name, "icon_color": 7322096},
        }
        self.topics[(chat_id, thread_id)] = Topic(name)
        return {"message_thread_id": thread_id, "name": name, "icon_color": 7322096}

    async def _m_closeforumtopic(self, params: JSONDict) -> bool:
        topic = self._topic(params.get("chat_id"), params.get("message_thread_id"))
        if topic.closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = True
        return True

    async def _m_deletemessage(self, params: JSONDict) -> bool:
        chat = self._chat(params.get("chat_id"))
        message_id = int(params.get("message_id") or 0)
        if message_id not in chat.messages:
            raise bad_request("message to delete not found")
        if not self._deletable(chat.messages[message_id]):
            raise bad_request("message can't be deleted for everyone")
        self._delete(chat, message_id)
        return True

    async def _m_deletemessages(self, params: JSONDict) -> bool:
        chat = self._chat(params.get("chat_id"))
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must be a list of 1-100 message identifiers")
        for message_id in ids:  # messages that cannot be found or deleted are skipped, as Telegram does
            message = chat.messages.get(int(message_id))
            if message is not None and self._deletable(message):
                self._delete(chat, int(message_id))
        return True

    async def _m_editmessagetext(self, params: JSONDict) -> JSONDict:
        _chat, message = self._own_message(params)
        text, entities = self._parse_text(params)
        markup = _check_keyboard(params.get("reply_markup"))
        if (message.get("text"), message.get("entities"), message.get("reply_markup")) == (
            text,
            entities or None,
            markup,
        ):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        _set_content(message, text, entities, markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _m_editmessagereplymarkup(self, params: JSONDict) -> JSONDict:
        _chat, message = self._own_message(params)
        markup = _check_keyboard(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _m_answercallbackquery(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self._queries.get(query_id, True):  # unknown, or answered already
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._queries[query_id] = True
        return True

    async def _m_setmycommands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not _COMMAND.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad_request("command description must be 1-256 characters")
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") == "chat":
            self._chat(scope.get("chat_id"))
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code")
        self.commands[(json.dumps(scope, sort_keys=True), language)] = list(commands)
        return True

    async def _m_getmycommands(self, params: JSONDict) -> list[JSONDict]:
        scope = params.get("scope") or {"type": "default"}
        key = (json.dumps(scope, sort_keys=True), str(params.get("language_code") or ""))
        return list(self.commands.get(key, []))

    async def _m_deletemycommands(self, params: JSONDict) -> bool:
        scope = params.get("scope") or {"type": "default"}
        self.commands.pop((json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")), None)
        return True

    async def _m_sendchataction(self, params: JSONDict) -> bool:
        self._chat(params.get("chat_id"))
        return True

    async def _m_close(self, params: JSONDict) -> bool:
        return True

    # ----- the user's side -----------------------------------------------------------------------

    def push_update(self, **payload: JSONDict) -> int:
        """Queue an update (``message=…``, ``callback_query=…``); returns its ``update_id``."""
        self._next_update_id += 1
        update = helpers.update(self._next_update_id, **payload)
        for part in payload.values():
            chat = part.get("chat") or (part.get("message") or {}).get("chat")
            if chat is None and "from" in part:
                chat = helpers.private_chat(part["from"])
            if chat is not None:
                self._chats.setdefault(chat["id"], _Chat(chat))
        self._updates.append(_Update(update, time.monotonic()))
        self._wake()
        return self._next_update_id

    def redeliver(self, update: JSONDict) -> None:
        """Queue an update again with its own ``update_id`` (as Telegram does with unconfirmed ones)."""
        self._updates.append(_Update(copy.deepcopy(update), time.monotonic()))
        self._wake()

    def user_message(self, sender: JSONDict, **content: Any) -> JSONDict:
        """A message from the user (text, photo, …), delivered to the bot; returns its JSON."""
        chat_id = sender["id"]
        self._chats.setdefault(chat_id, _Chat(helpers.private_chat(sender)))
        message_id = self._new_message_id(chat_id)
        if "text" in content and len(content) == 1:
            message = helpers.text_message(sender, content["text"], message_id)
        else:
            message = helpers.message(sender, message_id, **content)
        message["date"] = int(self.clock())
        self._chats[chat_id].messages[message_id] = message
        self.push_update(message=message)
        return message

    def send_text(self, sender: JSONDict, text: str) -> JSONDict:
        """The user types ``text`` (commands get their entity)."""
        return self.user_message(sender, text=text)

    def edit_text(self, sender: JSONDict, sent: JSONDict, new_text: str) -> None:
        """The user edits a message they sent."""
        edited = {**sent, "text": new_text, "edit_date": int(time.time())}
        self._chats[sender["id"]].messages[sent["message_id"]] = edited
        self.push_update(edited_message=edited)

    def press(self, sender: JSONDict, on_message: JSONDict, data: str) -> str:
        """The user presses a button with ``data`` under ``on_message``; returns the query id."""
        query_id = f"{next(self._query_ids)}{sender['id']}"
        self._queries[query_id] = False
        current = self._chats[sender["id"]].messages.get(on_message["message_id"], on_message)
        self.push_update(callback_query=helpers.callback_query(sender, query_id, data, current))
        return query_id

    def press_button(self, sender: JSONDict, on_message: JSONDict, label_part: str) -> str:
        """Press the button whose label contains ``label_part``; returns its callback data."""
        for label, data in buttons(self.current(on_message)):
            if label_part in label and data is not None:
                self.press(sender, on_message, data)
                return data
        raise AssertionError(f"no button with {label_part!r} in {buttons(self.current(on_message))}")

    def add_forum(self, chat_id: int, title: str = "Counsellors") -> JSONDict:
        """A supergroup with topics (the staff group); returns its chat JSON."""
        chat: JSONDict = {"id": chat_id, "type": "supergroup", "title": title, "is_forum": True}
        self._chats[chat_id] = _Chat(chat)
        return chat

    def staff_message(self, sender: JSONDict, chat_id: int, thread_id: int | None, **content: Any) -> JSONDict:
        """A counsellor writes in a topic (``thread_id``) of the staff group (``text=``, ``photo=``…)."""
        chat = self._chats[chat_id]
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": sender,
            "chat": chat.payload,
            "date": int(self.clock()),
            **content,
        }
        if "text" in content and str(content["text"]).startswith("/"):
            length = len(str(content["text"]).split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._place_in_topic(message, thread_id)
        chat.messages[message["message_id"]] = message
        self.push_update(message=message)
        return message

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """A counsellor deletes a topic."""
        self.topics[(chat_id, thread_id)].deleted = True

    def block(self, user_id: int) -> None:
        """The user blocks the bot."""
        self._blocked.add(user_id)

    def topic_messages(self, chat_id: int, thread_id: int) -> list[JSONDict]:
        """The messages in a topic, oldest first (without the creation message)."""
        chat = self._chats[chat_id]
        return [
            message
            for _, message in sorted(chat.messages.items())
            if message.get("message_thread_id") == thread_id and "forum_topic_created" not in message
        ]

    def chat_messages(self, chat_id: int) -> list[JSONDict]:
        """Every message still in a chat (both sides), oldest first."""
        chat = self._chats.get(chat_id)
        return [message for _, message in sorted(chat.messages.items())] if chat else []

    def fail_next(
        self,
        method: str,
        code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (429: ``retry_after``)."""
        if description is None:
            description = f"Too Many Requests: retry after {retry_after}" if code == 429 else "Error"
        for _ in range(times):
            self._failures[method.lower()].append(Failure(code, description, retry_after))

    def break_next(self, method: str, fault: str, times: int = 1) -> None:
        """Break the next ``times`` calls of ``method``: ``reset``, ``reset_after``, ``slow`` or a status."""
        for _ in range(times):
            self._breaks[method.lower()].append(fault)

    def random_faults(
        self, rate: float, modes: tuple[str, ...], seed: int = 1, methods: tuple[str, ...] = ("sendMessage",)
    ) -> None:
        """Fail ``rate`` of the calls of ``methods`` at random in one of ``modes``."""
        self.faults = FaultPlan(rate, modes, frozenset(m.lower() for m in methods), seed, self.slow_seconds)

    # ----- what the client sees, and waiting for it ----------------------------------------------

    def current(self, message: JSONDict) -> JSONDict:
        """The latest version of a message (after edits)."""
        chat = self._chats.get(message["chat"]["id"])
        return chat.messages.get(message["message_id"], message) if chat else message

    def bot_messages(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages in a chat, oldest first, as they look now."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [m for _, m in sorted(chat.messages.items()) if m["from"]["id"] == self.me["id"]]

    def calls_to(self, method: str, chat_id: int | None = None) -> list[ApiCall]:
        """Successful calls of ``method`` (to ``chat_id`` if given), in order."""
        return [
            c
            for c in self.calls
            if c.method.lower() == method.lower() and c.status == 200 and (chat_id is None or c.chat_id == chat_id)
        ]

    def sent(self, chat_id: int) -> list[JSONDict]:
        """The messages ``sendMessage`` created in a chat, as Telegram returned them."""
        return [c.result for c in self.calls_to("sendMessage", chat_id)]

    async def wait_until(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (checked after every API call)."""
        deadline = time.monotonic() + seconds
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {seconds} s; calls: {self.summary()}")
            activity = self._activity_event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(activity.wait(), min(remaining, 0.5))

    async def wait_for_sent(self, chat_id: int, count: int, seconds: float = 10.0) -> list[JSONDict]:
        """Wait until the bot sent ``count`` messages to ``chat_id`` in total; returns them all."""
        await self.wait_until(lambda: len(self.sent(chat_id)) >= count, seconds)
        return self.sent(chat_id)

    async def wait_for_call(self, method: str, count: int = 1, seconds: float = 10.0) -> list[ApiCall]:
        """Wait until ``method`` succeeded ``count`` times; returns those calls."""
        await self.wait_until(lambda: len(self.calls_to(method)) >= count, seconds)
        return self.calls_to(method)

    def summary(self) -> list[str]:
        """The calls so far, short (for assertion messages)."""
        return [f"{c.method}:{c.status}" for c in self.calls[-30:]]

    # ----- internals -----------------------------------------------------------------------------

    def _allowed(self, payload: JSONDict) -> bool:
        kinds = set(payload) - {"update_id"}
        return self._allowed_updates is None or bool(kinds & set(self._allowed_updates))

    def _wakeup_event(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        return self._wakeup

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def _activity_event(self) -> asyncio.Event:
        if self._activity is None:
            self._activity = asyncio.Event()
        return self._activity

    def _notify(self, record: ApiCall) -> None:
        if self.on_call is not None:
            self.on_call(record)
        if self._activity is not None:
            self._activity.set()
            self._activity = None

    def _chat(self, chat_id: Any) -> _Chat:
        try:
            return self._chats[int(chat_id)]
        except (KeyError, TypeError, ValueError):
            raise bad_request("chat not found") from None

    def _topic(self, chat_id: Any, thread_id: Any) -> Topic:
        chat = self._chat(chat_id)
        topic = self.topics.get((chat.payload["id"], int(thread_id or 0)))
        if topic is None or topic.deleted:
            raise bad_request("message thread not found")
        return topic

    def _check_reachable(self, chat: _Chat, thread_id: Any) -> None:
        if chat.payload["id"] in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if thread_id is not None and self._topic(chat.payload["id"], thread_id).closed:
            raise bad_request("TOPIC_CLOSED")

    def _place_in_topic(self, message: JSONDict, thread_id: Any) -> None:
        if thread_id is not None:
            message["message_thread_id"] = int(thread_id)
            message["is_topic_message"] = True

    def _deletable(self, message: JSONDict) -> bool:
        return self.clock() - int(message["date"]) < DELETE_WINDOW_SECONDS

    def _delete(self, chat: _Chat, message_id: int) -> None:
        del chat.messages[message_id]
        self.deleted[chat.payload["id"]].append(message_id)

    def _new_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _bot_message(self, chat: _Chat, text: str, entities: list[JSONDict], markup: JSONDict | None) -> JSONDict:
        chat_id = chat.payload["id"]
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": self.me,
            "chat": chat.payload,
            "date": int(self.clock()),
        }
        _set_content(message, text, entities, markup)
        chat.messages[message["message_id"]] = message
        return message

    def _own_message(self, params: JSONDict) -> tuple[_Chat, JSONDict]:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by this fake")
        chat = self._chat(params.get("chat_id"))
        message = chat.messages.get(int(params.get("message_id") or 0))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self.me["id"]:
            raise bad_request("message can't be edited")
        return chat, message

    def _parse_text(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        raw = params.get("text")
        if raw is None or str(raw) == "":
            raise bad_request("message text is empty")
        mode = params.get("parse_mode")
        entities: list[JSONDict]
        if mode in (None, ""):
            text, entities = str(raw), []
        elif str(mode).lower() == "html":
            text, entities = parse_html(str(raw))
        else:
            raise bad_request(f"unsupported parse_mode {mode!r} (this fake knows HTML only)")
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_length(text) > TEXT_LIMIT:
            raise bad_request("message is too long")
        return text, entities


def _set_content(message: JSONDict, text: str, entities: list[JSONDict], markup: JSONDict | None) -> None:
    message["text"] = text
    if entities:
        message["entities"] = entities
    else:
        message.pop("entities", None)
    if markup is not None:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


def _check_keyboard(markup: Any) -> JSONDict | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # reply keyboards and the like: accepted as they are
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not str(button.get("text", "")).strip():
                raise bad_request("text buttons are unallowed in the inline keyboard")
            kinds = set(button) - {"text"}
            if len(kinds) != 1:
                raise bad_request("BUTTON_TYPE_INVALID")
            if "callback_data" in button:
                size = len(str(button["callback_data"]).encode("utf-8"))
                if not 1 <= size <= CALLBACK_DATA_LIMIT:
                    raise bad_request("BUTTON_DATA_INVALID")
            elif "url" in button and not str(button["url"]).startswith(("https://", "http://", "tg://")):
                raise bad_request("BUTTON_URL_INVALID")
    if not any(rows):
        return None
    return {"inline_keyboard": rows}


class _HtmlEntities(HTMLParser):
    """Telegram's HTML parse mode: text and entities (offsets in UTF-16 code units)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.entities: list[JSONDict] = []
        self._open: list[tuple[str, int, JSONDict]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = _HTML_ENTITY_TYPES.get(tag)
        if kind is None:
            raise bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')
        entity: JSONDict = {"type": kind}
        if tag == "a":
            href = dict(attrs).get("href")
            if not href:
                raise bad_request("can't parse entities: <a> tag without href")
            entity["url"] = href
        self._open.append((tag, utf16_length(self.text), entity))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            raise bad_request(f'can\'t parse entities: Unmatched end tag "{tag}"')
        _tag, start, entity = self._open.pop()
        length = utf16_length(self.text) - start
        if length:
            self.entities.append({**entity, "offset": start, "length": length})

    def handle_data(self, data: str) -> None:
        self.text += data


def parse_html(raw: str) -> tuple[str, list[JSONDict]]:
    """``raw`` in HTML parse mode -> visible text and entities; ``ApiError`` like Telegram's."""
    bare = _TAG.sub("", raw)
    if "<" in bare or ">" in bare:
        raise bad_request('can\'t parse entities: Unexpected "<" or ">": escape them as &lt; and &gt;')
    if bare.count("&") != len(_ENTITY.findall(bare)):
        raise bad_request('can\'t parse entities: Unsupported HTML entity: escape "&" as &amp;')
    parser = _HtmlEntities()
    parser.feed(raw)
    parser.close()
    if parser._open:
        tag = parser._open[-1][0]
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\"")
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return parser.text, entities


def decode_form(values: dict[str, str]) -> JSONDict:
    """Form values as PTB sends them: strings for text parameters, JSON for everything else."""
    decoded: JSONDict = {}
    for name, value in values.items():
        if name in _STRING_PARAMS:
            decoded[name] = value
            continue
        try:
            decoded[name] = json.loads(value)
        except ValueError:
            decoded[name] = value
    return decoded


def buttons(message: JSONDict) -> list[tuple[str, str | None]]:
    """``(label, callback_data)`` of every button under a message (``None`` data for links)."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b.get("callback_data")) for row in rows for b in row]


def link_buttons(message: JSONDict) -> list[tuple[str, str]]:
    """``(label, url)`` of the link buttons under a message."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["url"]) for row in rows for b in row if "url" in b]


def utf16_length(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def _dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


class FakeBotRequest(BaseRequest):
    """A PTB request object answered by a ``FakeBotApi`` in memory: no sockets, same behaviour."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        """Long polls return after their own timeout."""
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Decode the parameters as the HTTP server would, and run the method."""
        path = urlsplit(url).path
        token, _, api_method = path.rpartition("/bot")[2].partition("/")
        if token != self.api.token:
            return 401, b'{"ok": false, "error_code": 401, "description": "Unauthorized"}'
        params = decode_form(request_data.json_parameters if request_data else {})
        params.update(decode_form(dict(parse_qsl(urlsplit(url).query))))
        fault = self.api.next_fault(api_method)
        if fault is not None and fault not in TRANSPORT_FAULTS:
            self.api.calls.append(ApiCall(api_method, params, time.monotonic(), int(fault)))
            return int(fault), b'{"ok": false, "error_code": 502, "description": "Bad Gateway"}'
        if fault == "reset":  # as python-telegram-bot's HTTPXRequest reports a reset
            self.api.calls.append(ApiCall(api_method, params, time.monotonic(), -1))
            raise NetworkError("httpx.ReadError: connection reset") from httpx.ReadError("connection reset")
        status, payload = await self.api.call(api_method, params)
        if fault in {"reset_after", "slow"}:  # done, but the answer never comes in time
            raise TimedOut("Timed out") from httpx.ReadTimeout("timed out")
        return status, _dumps(payload).encode()


async def _serve_forever(port: int) -> None:
    api = FakeBotApi()
    await api.start(port)
    print(f"Fake Bot API on {api.base_url} (token {api.token})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await api.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(parser.parse_args().port))
