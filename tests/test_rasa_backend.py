"""RasaBackend and FailoverBackend against a fake Rasa HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from nlu.out_of_scope import FallbackConfig
from nlu.rasa_backend import FailoverBackend, RasaBackend, RasaError, RasaResponseError
from nlu.types import FALLBACK_INTENT, ParseResult

GOOD_ANSWER: dict[str, Any] = {
    "text": "ignored",
    "intent": {"name": "rental_deposit", "confidence": 0.93},
    "entities": [],
    "text_tokens": [[0, 3]],
    "intent_ranking": [
        {"name": "rental_deposit", "confidence": 0.93},
        {"name": "find_housing", "confidence": 0.05},
    ],
}


class FakeRasa:
    """A tiny aiohttp server with Rasa's ``/model/parse``; ``mode`` picks how it misbehaves."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.answer: object = GOOD_ANSWER
        self.calls: list[dict[str, Any]] = []
        self.queries: list[dict[str, str]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _parse(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(await request.json())
        self.queries.append(dict(request.query))
        if self.mode == "slow":
            await asyncio.sleep(5)
        if self.mode == "error":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "garbage":
            return web.Response(status=200, text="<html>not json", content_type="text/html")
        return web.json_response(self.answer)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/model/parse", self._parse)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class FixedBackend:
    """A stand-in fallback: always the same answer (the breaker, not this, is under test)."""

    name = "embedded"

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.closed = False

    async def parse(self, text: str) -> ParseResult:
        self.texts.append(text)
        return {
            "text": text,
            "intent": {"name": "help", "confidence": 0.5},
            "intent_ranking": [{"name": "help", "confidence": 0.5}],
            "entities": [],
            "language": "en",
        }

    async def close(self) -> None:
        self.closed = True


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    server = FakeRasa()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def rasa(fake_rasa: FakeRasa) -> AsyncIterator[RasaBackend]:
    backend = RasaBackend(fake_rasa.url)
    yield backend
    await backend.close()


# --- RasaBackend -------------------------------------------------------------------------------


async def test_parse_returns_rasa_shape_with_language(rasa: RasaBackend, fake_rasa: FakeRasa) -> None:
    result = await rasa.parse("how do I pay the deposit")
    assert result == {
        "text": "how do I pay the deposit",
        "intent": {"name": "rental_deposit", "confidence": 0.93},
        "intent_ranking": [
            {"name": "rental_deposit", "confidence": 0.93},
            {"name": "find_housing", "confidence": 0.05},
        ],
        "entities": [],
        "language": None,
    }
    assert fake_rasa.calls == [{"text": "how do I pay the deposit"}]
    assert fake_rasa.queries == [{}]


async def test_the_bots_rules_decide_the_fallback_on_rasas_ranking(fake_rasa: FakeRasa) -> None:
    fake_rasa.answer = {
        "text": "what's the weather",
        "intent": {"name": "nlu_fallback", "confidence": 0.4},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.4},
            {"name": "find_housing", "confidence": 0.45},
            {"name": "out_of_scope", "confidence": 0.35},
        ],
        "entities": [],
    }
    rules = FallbackConfig(threshold=0.3, ambiguity_threshold=0.05, out_of_scope_mass=0.3)
    backend = RasaBackend(fake_rasa.url, rules=rules)
    try:
        result = await backend.parse("what's the weather")
    finally:
        await backend.close()
    assert result["intent"] == {"name": "nlu_fallback", "confidence": 0.3}  # out-of-scope mass 0.35
    assert [s["name"] for s in result["intent_ranking"]] == ["nlu_fallback", "find_housing", "out_of_scope"]


async def test_token_is_sent_as_query_parameter(fake_rasa: FakeRasa) -> None:
    backend = RasaBackend(fake_rasa.url + "/", token="s3cret")
    try:
        await backend.parse("hello")
    finally:
        await backend.close()
    assert fake_rasa.queries == [{"token": "s3cret"}]


async def test_one_shared_session(rasa: RasaBackend) -> None:
    await rasa.start()
    session = rasa._session
    await asyncio.gather(*(rasa.parse(f"question {i}") for i in range(5)))
    assert rasa._session is session
    await rasa.close()
    assert session is not None and session.closed


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_blank_text_is_fallback_without_a_request(rasa: RasaBackend, fake_rasa: FakeRasa, text: str) -> None:
    result = await rasa.parse(text)
    assert result["intent"] == {"name": FALLBACK_INTENT, "confidence": 0.0}
    assert result["text"] == text
    assert fake_rasa.calls == []


async def test_odd_text_is_sent_safely(rasa: RasaBackend, fake_rasa: FakeRasa) -> None:
    odd = "a\x00b\x1b[31m\ud800 " + "x" * 50_000
    result = await rasa.parse(odd)
    assert result["text"] == odd
    assert len(fake_rasa.calls[0]["text"]) == 2000


async def test_null_intent_means_fallback(rasa: RasaBackend, fake_rasa: FakeRasa) -> None:
    fake_rasa.answer = {"text": "x", "intent": {"name": None, "confidence": 0.0}, "entities": []}
    result = await rasa.parse("x")
    assert result["intent"] == {"name": FALLBACK_INTENT, "confidence": 0.0}
    assert result["intent_ranking"] == []


async def test_http_500_raises(rasa: RasaBackend, fake_rasa: FakeRasa) -> None:
    fake_rasa.mode = "error"
    with pytest.raises(RasaError, match="HTTP 500"):
        await rasa.parse("hello")


async def test_garbage_raises_response_error(rasa: RasaBackend, fake_rasa: FakeRasa) -> None:
    fake_rasa.mode = "garbage"
    with pytest.raises(RasaResponseError, match="not JSON"):
        await rasa.parse("hello")


@pytest.mark.parametrize(
    "answer",
    [
        [],
        "a string",
        {"text": "x"},
        {"intent": "greet"},
        {"intent": {"name": "greet"}},
        {"intent": {"name": "", "confidence": 0.5}},
        {"intent": {"name": 3, "confidence": 0.5}},
        {"intent": {"name": "greet", "confidence": "high"}},
        {"intent": {"name": "greet", "confidence": True}},
        {"intent": {"name": "greet", "confidence": 7.0}},
        {"intent": {"name": "greet", "confidence": float("nan")}},
        {"intent": {"name": "greet", "confidence": 0.9}, "intent_ranking": {"a": 1}},
        {"intent": {"name": "greet", "confidence": 0.9}, "intent_ranking": [{"name": "x"}]},
        {"intent": {"name": "greet", "confidence": 0.9}, "entities": ["bad"]},
    ],
)
async def test_wrong_shape_raises_response_error(rasa: RasaBackend, fake_rasa: FakeRasa, answer: object) -> None:
    fake_rasa.answer = answer
    with pytest.raises(RasaResponseError):
        await rasa.parse("hello")


async def test_slow_server_times_out(fake_rasa: FakeRasa) -> None:
    fake_rasa.mode = "slow"
    backend = RasaBackend(fake_rasa.url, timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(RasaError, match="did not answer"):
            await backend.parse("hello")
    finally:
        await backend.close()
    assert time.monotonic() - started < 1.0


async def test_connection_refused_raises() -> None:
    backend = RasaBackend(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(RasaError, match="unreachable"):
            await backend.parse("hello")
    finally:
        await backend.close()


# --- FailoverBackend ---------------------------------------------------------------------------


def breaker_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "nlu.rasa_backend" and r.levelno >= logging.INFO]


async def test_failover_answers_within_budget_when_rasa_is_slow(
    fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nlu.rasa_backend")
    fake_rasa.mode = "slow"
    fallback = FixedBackend()
    backend = FailoverBackend(RasaBackend(fake_rasa.url), fallback, retry_after_s=30)
    try:
        started = time.monotonic()
        result = await backend.parse("private question one")
        assert time.monotonic() - started < 1.5
        assert result["intent"]["name"] == "help"
        assert backend.last_backend_used == "embedded"
        assert backend.is_open
        # While open, the primary is not asked and answers come at once.
        started = time.monotonic()
        for i in range(10):
            await backend.parse(f"private question {i}")
        assert time.monotonic() - started < 0.5
        assert len(fake_rasa.calls) == 1
    finally:
        await backend.close()
    warnings = [r for r in breaker_records(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "rasa" in warnings[0].getMessage() and "embedded" in warnings[0].getMessage()
    assert all("private question" not in r.getMessage() for r in caplog.records)
    assert fallback.closed


@pytest.mark.parametrize("mode", ["error", "garbage", "refused"])
async def test_failover_on_each_kind_of_failure(
    fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.INFO, logger="nlu.rasa_backend")
    url = fake_rasa.url
    if mode == "refused":
        url = f"http://127.0.0.1:{free_port()}"
    else:
        fake_rasa.mode = mode
    backend = FailoverBackend(RasaBackend(url), FixedBackend(), retry_after_s=30)
    try:
        results = [await backend.parse(f"q{i}") for i in range(3)]
    finally:
        await backend.close()
    assert [r["text"] for r in results] == ["q0", "q1", "q2"]
    assert all(r["intent"]["name"] == "help" for r in results)
    assert len(breaker_records(caplog)) == 1


async def test_no_message_lost_under_concurrent_outage(fake_rasa: FakeRasa) -> None:
    fake_rasa.mode = "slow"
    fallback = FixedBackend()
    backend = FailoverBackend(RasaBackend(fake_rasa.url), fallback, retry_after_s=30)
    texts = [f"message {i}" for i in range(25)]
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(backend.parse(t) for t in texts))
        assert time.monotonic() - started < 1.5
    finally:
        await backend.close()
    assert [r["text"] for r in results] == texts
    assert sorted(fallback.texts) == sorted(texts)


async def test_recovery_after_retry_window(fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nlu.rasa_backend")
    clock = FakeClock()
    fake_rasa.mode = "error"
    backend = FailoverBackend(RasaBackend(fake_rasa.url), FixedBackend(), 30, clock=clock)
    try:
        assert (await backend.parse("a"))["intent"]["name"] == "help"
        assert len(fake_rasa.calls) == 1
        fake_rasa.mode = "ok"
        clock.now += 29.0
        assert (await backend.parse("b"))["intent"]["name"] == "help"
        assert len(fake_rasa.calls) == 1  # still inside the window: Rasa not asked
        clock.now += 1.0
        result = await backend.parse("c")  # half-open: Rasa asked again, and it answers
        assert result["intent"]["name"] == "rental_deposit"
        assert backend.last_backend_used == "rasa"
        assert not backend.is_open
        await backend.parse("d")
        assert backend.last_backend_used == "rasa"
    finally:
        await backend.close()
    messages = [(r.levelno, r.getMessage()) for r in breaker_records(caplog)]
    assert len(messages) == 2
    assert messages[0][0] == logging.WARNING
    assert messages[1][0] == logging.INFO and "answering again" in messages[1][1]


async def test_failed_retry_keeps_circuit_open_without_new_warning(
    fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nlu.rasa_backend")
    clock = FakeClock()
    fake_rasa.mode = "error"
    backend = FailoverBackend(RasaBackend(fake_rasa.url), FixedBackend(), 30, clock=clock)
    try:
        await backend.parse("a")
        clock.now += 31
        await backend.parse("b")  # retry fails: back to the fallback for another 30 s
        assert len(fake_rasa.calls) == 2
        assert backend.last_backend_used == "embedded"
        clock.now += 10
        await backend.parse("c")
        assert len(fake_rasa.calls) == 2
    finally:
        await backend.close()
    assert len([r for r in breaker_records(caplog) if r.levelno == logging.WARNING]) == 1


async def test_only_one_probe_at_a_time(fake_rasa: FakeRasa) -> None:
    clock = FakeClock()
    fake_rasa.mode = "slow"
    backend = FailoverBackend(RasaBackend(fake_rasa.url, timeout_s=0.5), FixedBackend(), 30, clock=clock)
    try:
        await backend.parse("a")
        clock.now += 31
        started = time.monotonic()
        results = await asyncio.gather(*(backend.parse(f"m{i}") for i in range(10)))
        assert time.monotonic() - started < 1.5
    finally:
        await backend.close()
    assert len(fake_rasa.calls) == 2  # the first failure and a single probe
    assert [r["text"] for r in results] == [f"m{i}" for i in range(10)]


async def test_real_time_retry_window(fake_rasa: FakeRasa) -> None:
    fake_rasa.mode = "error"
    backend = FailoverBackend(RasaBackend(fake_rasa.url), FixedBackend(), retry_after_s=0.2)
    try:
        await backend.parse("a")
        fake_rasa.mode = "ok"
        await backend.parse("b")
        assert backend.last_backend_used == "embedded"
        await asyncio.sleep(0.25)
        await backend.parse("c")
        assert backend.last_backend_used == "rasa"
    finally:
        await backend.close()


async def test_primary_timeout_guard_for_backends_without_their_own() -> None:
    class Hanging(FixedBackend):
        name = "hanging"

        async def parse(self, text: str) -> ParseResult:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    backend = FailoverBackend(Hanging(), FixedBackend(), primary_timeout_s=0.2)
    started = time.monotonic()
    result = await backend.parse("hello")
    assert time.monotonic() - started < 1.0
    assert result["intent"]["name"] == "help"
    await backend.close()


async def test_fallback_failure_propagates() -> None:
    class Broken(FixedBackend):
        async def parse(self, text: str) -> ParseResult:
            raise RuntimeError("broken")

    backend = FailoverBackend(RasaBackend(f"http://127.0.0.1:{free_port()}"), Broken())
    with pytest.raises(RuntimeError, match="broken"):
        await backend.parse("hello")
    await backend.close()


async def test_an_intent_outside_the_catalogue_is_a_failure(fake_rasa: FakeRasa) -> None:
    fake_rasa.answer = {"intent": {"name": "order_pizza", "confidence": 0.99}, "intent_ranking": [], "entities": []}
    backend = FailoverBackend(
        RasaBackend(fake_rasa.url), FixedBackend(), retry_after_s=30, known_intents=frozenset({"find_job"})
    )
    try:
        result = await backend.parse("one pizza please")
    finally:
        await backend.close()
    assert result["intent"]["name"] == "help" and backend.last_backend_used == "embedded" and backend.is_open
