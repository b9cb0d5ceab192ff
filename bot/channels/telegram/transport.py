"""How the bot talks to the Bot API: retries that never duplicate a message, and the update journal.

``RetryingRequest`` retries, with exponential back-off and jitter, what failed without a doubt
about the outcome or what is harmless to repeat: HTTP 5xx answers, connections that could not be
made or were closed before any answer, and timeouts of methods that are safe to call twice. A
send that timed out while reading the answer is *not* repeated (Telegram has most likely delivered
it): the read timeout is long enough instead. 429 is left to python-telegram-bot's rate limiter.

``JournalingRequest`` writes every update ``getUpdates`` returns to the ``UpdateJournal`` before
python-telegram-bot confirms it to Telegram (with the next call's offset). ``ReplayingRequest``
keeps the answers of the calls made while handling an update, and answers them from the journal
when an update interrupted by a crash is handled again (no message of a reply is sent twice).
``AiohttpRequest`` tells the journal when a call's request goes out (``CALL_IN_FLIGHT``): a call
sent just before a crash is not made again either, though its answer was never read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
import httpx
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.journal import HANDLING, WRITTEN, Handling, UpdateJournal

logger = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 6  # with 15 % of calls failing, 6 tries all fail once in 90,000 calls
FIRST_DELAY_SECONDS: Final = 0.25
MAX_DELAY_SECONDS: Final = 8.0
# Bot API timeouts: Telegram answers in well under a second, but a slow moment must not turn a
# delivered answer into an error (and an apology); a connection that cannot be made fails fast.
CONNECT_TIMEOUT_SECONDS: Final = 5.0
READ_TIMEOUT_SECONDS: Final = 30.0
POOL_TIMEOUT_SECONDS: Final = 30.0
CONNECTION_POOL_SIZE: Final = 64

# Calling these twice does no harm, so a timeout while reading their answer is retried too.
REPEATABLE_METHODS: Final = frozenset(
    {
        "getme",
        "getupdates",
        "getwebhookinfo",
        "setwebhook",
        "deletewebhook",
        "setmycommands",
        "getmycommands",
        "deletemycommands",
        "sendchataction",
        "answercallbackquery",
        "editmessagereplymarkup",
        "editmessagetext",
    }
)

# Methods whose answer is a Message: a presumed answer (see ReplayingRequest) must be one too.
MESSAGE_METHODS: Final = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class CallInFlight:
    """One Bot API call made while handling an update, as the update journal tracks it."""

    journal: UpdateJournal
    handling: Handling
    seq: int
    method: str

    def written(self) -> None:
        """The request is being handed to the network: it is not to be made again."""
        self.journal.call_written(self.handling, self.seq, self.method)

    def refused(self) -> None:
        """The Bot API answered with an error or closed the connection unanswered: it did nothing."""
        self.journal.call_refused(self.handling, self.seq)


# Set by ReplayingRequest around each call; AiohttpRequest reports when the request goes out.
CALL_IN_FLIGHT: ContextVar[CallInFlight | None] = ContextVar("call_in_flight", default=None)


def http_request(*, pool_size: int = CONNECTION_POOL_SIZE, read_timeout: float = READ_TIMEOUT_SECONDS) -> BaseRequest:
    """The bot's HTTP client for the Bot API, with timeouts that fit it."""
    return AiohttpRequest(pool_size=pool_size, read_timeout=read_timeout)


def was_not_sent(error: Exception) -> bool:
    """Whether the request certainly never reached the Bot API (no connection was made)."""
    # httpx's errors as python-telegram-bot's own HTTPXRequest chains them; aiohttp's as ours does.
    return isinstance(
        error.__cause__,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | aiohttp.ClientConnectorError
        | aiohttp.ConnectionTimeoutError,
    )


def closed_without_answer(error: Exception) -> bool:
    """The connection broke before any answer came (reset, closed by the server or a proxy)."""
    if was_not_sent(error):
        return False
    return isinstance(
        error.__cause__,
        httpx.RemoteProtocolError
        | httpx.ReadError
        | httpx.WriteError
        | aiohttp.ServerDisconnectedError
        | aiohttp.ClientOSError,
    )


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's networking on aiohttp's client instead of httpx.

    Same contract as PTB's ``HTTPXRequest`` (form-encoded parameters, multipart for files,
    ``TimedOut``/``NetworkError`` with the client's error as their cause), at about a seventh of
    its CPU per call (benchmarks/telegram_throughput.py): the bot's CPU goes to its answers.
    aiohttp has no write timeout: a request is a small form written to the socket at once.
    """

    def __init__(
        self,
        *,
        pool_size: int = CONNECTION_POOL_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> None:
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the connection pool (in the running event loop)."""
        if self._session is None or self._session.closed:
            tracing = aiohttp.TraceConfig()
            tracing.on_request_chunk_sent.append(_on_chunk_sent)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none; keep nothing
                trace_configs=[tracing],
            )

    async def shutdown(self) -> None:
        """Close the connection pool."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

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
        """Make the call; returns the HTTP status and the body."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        timeout = aiohttp.ClientTimeout(
            # aiohttp's `connect` covers waiting for a free connection and making one.
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout,
        )
        body = _body(request_data)
        call = CALL_IN_FLIGHT.get()
        # Uploads (multipart, never made by this bot) are not tracked: made again after a crash.
        upload = _Upload(call, len(body)) if call is not None and isinstance(body, bytes) else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if isinstance(body, bytes) else None
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout, trace_request_ctx=upload
            ) as response:
                if response.status != 200 and call is not None:
                    call.refused()
                return response.status, await response.read()
        except aiohttp.ServerTimeoutError as error:
            raise TimedOut from error  # perhaps done: the written mark stays
        except aiohttp.ClientError as error:
            failure = NetworkError(f"aiohttp.{type(error).__name__}: {error}")
            failure.__cause__ = error
            if call is not None and closed_without_answer(failure):
                call.refused()  # retried as not done (RetryingRequest): so is a replay
            raise failure from error


@dataclass
class _Upload:
    """How much of a tracked call's request went out."""

    call: CallInFlight
    size: int
    sent: int = 0


async def _on_chunk_sent(
    _session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams
) -> None:
    """aiohttp's hook, run right before each body chunk is written: mark the call at the last one."""
    upload = context.trace_request_ctx
    if isinstance(upload, _Upload):
        upload.sent += len(params.chunk)
        if upload.sent >= upload.size:
            upload.call.written()


def _body(request_data: RequestData | None) -> aiohttp.FormData | bytes | None:
    """The call's parameters as a form; multipart when it uploads files."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return urlencode(request_data.json_parameters).encode()
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


class _WrappingRequest(BaseRequest):
    """A request object that hands the HTTP work to another one."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        """The inner request's default read timeout."""
        return self.inner.read_timeout

    async def initialize(self) -> None:
        """Initialize the inner request."""
        await self.inner.initialize()

    async def shutdown(self) -> None:
        """Shut the inner request down."""
        await self.inner.shutdown()

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
        """Pass the request on."""
        return await self.inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )


class RetryingRequest(_WrappingRequest):
    """Retries Bot API calls that failed in a way that cannot have produced a second message."""

    def __init__(
        self,
        inner: BaseRequest,
        *,
        attempts: int = MAX_ATTEMPTS,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        super().__init__(inner)
        self.attempts = attempts
        self._sleep = sleep
        self._jitter = jitter

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
        """The inner request, tried again after a retriable failure."""
        api_method = url.rsplit("/", 1)[-1].split("?", 1)[0]
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                status, body = await self.inner.do_request(
                    url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
                )
            except NetworkError as error:
                if last or not self._retriable(api_method, error):
                    raise
                reason = f"{type(error).__name__}: {error}"
            else:
                if status < 500 or last:
                    return status, body
                reason = f"HTTP {status}"
            delay = self._delay(attempt)
            logger.info(
                "Bot API %s failed (%s); try %d of %d in %.2f s", api_method, reason, attempt + 1, self.attempts, delay
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retriable(self, api_method: str, error: NetworkError) -> bool:
        if was_not_sent(error) or closed_without_answer(error):
            return True
        # A read timeout: the Bot API may have done it. Only repeat what is harmless to repeat.
        return isinstance(error, TimedOut) and api_method.lower() in REPEATABLE_METHODS

    def _delay(self, attempt: int) -> float:
        ceiling = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (attempt - 1))
        return self._jitter(ceiling / 2, ceiling)


class JournalingRequest(_WrappingRequest):
    """The ``getUpdates`` request: records what it receives before it can be confirmed.

    Telegram confirms a batch when the next ``getUpdates`` asks for the updates after it, so the
    batch's write (which waits for the disk) only has to finish before that call, not before the
    batch is handled: the updates are answered while their write goes on in a thread.
    """

    def __init__(self, inner: BaseRequest, journal: UpdateJournal) -> None:
        super().__init__(inner)
        self.journal = journal
        self._journal_failing = False
        self._recording: asyncio.Future[None] | None = None

    async def shutdown(self) -> None:
        """Finish writing the last batch, then shut the inner request down."""
        await self._recorded()
        await super().shutdown()

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
        """Fetch updates once the previous batch is on disk; start writing this one."""
        await self._recorded()  # this call's offset confirms the previous batch to Telegram
        status, body = await self.inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if status == 200 and url.endswith("/getUpdates"):
            self._recording = asyncio.ensure_future(asyncio.to_thread(self._record, body))
        return status, body

    async def _recorded(self) -> None:
        if self._recording is not None:
            recording, self._recording = self._recording, None
            await recording

    def _record(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return  # python-telegram-bot reports the malformed answer itself
        updates = payload.get("result") if isinstance(payload, dict) else None
        if not isinstance(updates, list) or not updates:
            return
        valid = [u for u in updates if isinstance(u, dict) and type(u.get("update_id")) is int]
        try:
            self.journal.record(valid)
        except sqlite3.Error as exc:
            # Answering matters more than durability: go on, and say once what is at risk.
            if not self._journal_failing:
                logger.error("Update journal %s unusable (%s): updates may be lost in a crash", self.journal.path, exc)
            self._journal_failing = True
            return
        if self._journal_failing:
            logger.warning("Update journal %s works again", self.journal.path)
            self._journal_failing = False


class ReplayingRequest(_WrappingRequest):
    """Bot API calls made while handling an update: kept, and not made twice after a crash."""

    def __init__(self, inner: BaseRequest, journal: UpdateJournal) -> None:
        super().__init__(inner)
        self.journal = journal

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
        """The call's earlier answer when this update was interrupted after it; else the call."""
        handling = HANDLING.get()
        if handling is None:
            return await self.inner.do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
            )
        api_method = url.rsplit("/", 1)[-1]
        seq = handling.next_call()
        earlier = handling.earlier.get(seq)
        if earlier is not None and earlier[0] == api_method:
            if earlier[1] != WRITTEN:
                logger.debug("Bot API %s answered from the journal (made before a crash)", api_method)
                return 200, earlier[1]
            presumed = presumed_answer(api_method, request_data)
            if presumed is not None:
                logger.info("Bot API %s was sent just before a crash: not sent again", api_method)
                return 200, presumed
        in_flight = CALL_IN_FLIGHT.set(CallInFlight(self.journal, handling, seq, api_method))
        try:
            status, body = await self.inner.do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
            )
        finally:
            CALL_IN_FLIGHT.reset(in_flight)
        if status == 200:
            # The real answer replaces the written mark: a replay after a crash then gets the
            # message's real id rather than a presumed answer.
            self.journal.call_succeeded(handling, seq, api_method, body)
        return status, body


def presumed_answer(api_method: str, request_data: RequestData | None) -> bytes | None:
    """A success answer for a call Telegram received but whose answer was lost in a crash.

    Only its shape matters (python-telegram-bot parses it): the message id is unknown (0). None
    when no valid answer can be built (the call is then made again).
    """
    parameters = request_data.json_parameters if request_data else {}
    result: Any = True
    if api_method.lower() in MESSAGE_METHODS:
        chat_id = parameters.get("chat_id", "")
        if not chat_id.lstrip("-").isdigit():
            return None
        result = {
            "message_id": int(parameters.get("message_id", "0") or 0),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "group"},
            "text": parameters.get("text", ""),
        }
    elif api_method.lower() == "copymessage":
        result = {"message_id": 0}
    return json.dumps({"ok": True, "result": result}).encode()
