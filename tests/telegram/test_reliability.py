"""Nothing lost when things break: Bot API faults, crashes between receiving and answering, bad input."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import httpx
import pytest
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.channels.telegram.transport import ReplayingRequest, RetryingRequest, http_request
from bot.journal import HANDLING, Handling, UpdateJournal
from bot.logging_setup import MASK, MaskingFilter, install_log_masking
from bot.settings import Settings
from bot.storage import UserState
from tests.telegram import helpers
from tests.telegram.conftest import RunBot
from tests.telegram.fake_bot_api import FakeBotApi, FakeBotRequest
from tests.telegram.test_telegram_e2e import free_port

JSONDict = dict[str, Any]
APOLOGY = "j'ai eu un problème"


class Waits:
    """Records back-off delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def retrying(inner: BaseRequest, waits: Waits) -> RetryingRequest:
    return RetryingRequest(inner, sleep=waits)


def texts(api: FakeBotApi, chat_id: int) -> list[str]:
    return [m["text"] for m in api.sent(chat_id)]


async def test_5xx_and_resets_are_retried_and_the_answer_arrives_once(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict
) -> None:
    waits = Waits()
    async with run_bot(settings, request=retrying(http_request(), waits)):
        fake_api.fail_next("sendMessage", 502)
        fake_api.break_next("sendMessage", "reset")
        fake_api.fail_next("sendMessage", 500)
        fake_api.send_text(amina, "/start")
        (welcome,) = await fake_api.wait_for_sent(amina["id"], 1)
    assert welcome["text"].startswith("Bienvenue")
    assert sorted(c.status for c in fake_api.calls if c.method == "sendMessage") == [-1, 200, 500, 502]
    assert len(waits.delays) == 3
    # Exponential back-off with jitter: each delay within [ceiling / 2, ceiling], ceilings doubling.
    for attempt, delay in enumerate(waits.delays):
        ceiling = 0.25 * 2**attempt
        assert ceiling / 2 <= delay <= ceiling


async def test_a_send_that_timed_out_is_not_repeated_and_gets_no_apology(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict, caplog: pytest.LogCaptureFixture
) -> None:
    waits = Waits()
    async with run_bot(settings, request=retrying(FakeBotRequest(fake_api), waits)):
        fake_api.break_next("sendMessage", "slow")  # delivered, but the answer comes too late
        fake_api.send_text(amina, "/start")
        await fake_api.wait_for_sent(amina["id"], 1)
        fake_api.send_text(amina, "/help")
        await fake_api.wait_for_call("sendMessage", 2)
    sent = texts(fake_api, amina["id"])
    assert [text.startswith("Bienvenue") for text in sent].count(True) == 1
    assert not any(APOLOGY in text for text in sent)
    assert waits.delays == []
    assert any("timed out" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_retries_give_up_and_only_then_the_user_gets_the_apology(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict
) -> None:
    waits = Waits()
    async with run_bot(settings, request=retrying(FakeBotRequest(fake_api), waits)):
        fake_api.fail_next("sendMessage", 500, times=6)  # every try of the answer fails
        fake_api.send_text(amina, "/start")
        sent = await fake_api.wait_for_sent(amina["id"], 1)
    assert len(waits.delays) == 5
    assert APOLOGY in sent[0]["text"]


class _Failing(BaseRequest):
    """Raises what python-telegram-bot's HTTPXRequest raises for the given httpx error."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None, *args: Any) -> Any:
        self.calls += 1
        wrapped = TimedOut() if isinstance(self.error, httpx.TimeoutException) else NetworkError(str(self.error))
        raise wrapped from self.error


@pytest.mark.parametrize(
    ("error", "method", "tries"),
    [
        (httpx.ConnectError("refused"), "sendMessage", 3),  # never reached the server
        (httpx.ConnectTimeout("slow connect"), "sendMessage", 3),
        (httpx.ReadTimeout("slow answer"), "sendMessage", 1),  # may have arrived: not repeated
        (httpx.ReadTimeout("slow answer"), "getMe", 3),  # harmless to repeat
    ],
)
async def test_what_is_retried(error: Exception, method: str, tries: int) -> None:
    inner = _Failing(error)
    request = RetryingRequest(inner, attempts=3, sleep=Waits())
    with pytest.raises(NetworkError):
        await request.do_request(f"http://127.0.0.1/bot1:x/{method}", "POST")
    assert inner.calls == tries


async def test_our_http_client_retries_a_refused_connection() -> None:
    waits = Waits()
    request = RetryingRequest(http_request(), attempts=3, sleep=waits)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:  # nothing listens there: never reached a server
            await request.do_request(f"http://127.0.0.1:{free_port()}/bot1:x/sendMessage", "POST")
    finally:
        await request.shutdown()
    assert isinstance(raised.value.__cause__, aiohttp.ClientConnectorError)
    assert len(waits.delays) == 2  # tried three times


class RawBotApi:
    """An HTTP server on 127.0.0.1 that answers each request as ``reply`` says.

    ``reply(n)`` for the n-th request (from 1) gives the HTTP status of the answer, or None to
    close the connection without answering (as a crashing proxy does). With ``hang`` the server
    keeps the first request and never answers it.
    """

    def __init__(self, reply: Callable[[int], int | None] = lambda _n: 200, *, hang: bool = False) -> None:
        self.reply = reply
        self.hang = hang
        self.requests: list[bytes] = []
        self.received = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/bot1:x"

    async def __aenter__(self) -> RawBotApi:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        fields = dict(line.partition(b":")[::2] for line in head.split(b"\r\n")[1:] if line)
        length = int(next(value for name, value in fields.items() if name.lower() == b"content-length"))
        self.requests.append(await reader.readexactly(length))
        self.received.set()
        if self.hang and len(self.requests) == 1:
            await reader.read()  # until the client goes away
        status = self.reply(len(self.requests))
        if status is not None:
            body = b'{"ok": true, "result": true}' if status == 200 else b'{"ok": false, "error_code": 502}'
            writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (status, len(body)) + body)
            await writer.drain()
        writer.close()


def form(**parameters: object) -> RequestData:
    return RequestData([RequestParameter(name, value, None) for name, value in parameters.items()])


async def test_our_http_client_retries_a_send_closed_before_any_answer_and_sends_the_form() -> None:
    waits = Waits()
    request = RetryingRequest(http_request(), attempts=3, sleep=waits)
    await request.initialize()
    try:
        async with RawBotApi(lambda n: 200 if n > 2 else None) as api:
            status, body = await request.do_request(
                f"{api.url}/sendMessage", "POST", form(chat_id=5, text="سلام & bonjour")
            )
    finally:
        await request.shutdown()
    assert (status, json.loads(body)) == (200, {"ok": True, "result": True})
    assert len(api.requests) == 3 and len(waits.delays) == 2
    assert parse_qsl(api.requests[-1].decode()) == [("chat_id", "5"), ("text", "سلام & bonjour")]


async def _send_while_handling(journal: UpdateJournal, update_id: int, url: str) -> tuple[int, bytes]:
    """sendMessage as the bot makes it while handling an update (the journal's replay included)."""
    request = ReplayingRequest(RetryingRequest(http_request(), attempts=1), journal)
    await request.initialize()
    handling = HANDLING.set(journal.handling(update_id))
    try:
        return await request.do_request(f"{url}/sendMessage", "POST", form(chat_id=5, text="Bonjour"))
    finally:
        HANDLING.reset(handling)
        await request.shutdown()


async def test_a_send_that_went_out_just_before_a_crash_is_not_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = UpdateJournal(path)
    journal.record([helpers.update(42, message=helpers.text_message(helpers.user(5), "salut", 1))])
    async with RawBotApi(hang=True) as api:
        sending = asyncio.create_task(_send_while_handling(journal, 42, api.url))
        await api.received.wait()  # Telegram has the message; its answer never comes:
        sending.cancel()  # the process dies here
        with pytest.raises(asyncio.CancelledError):
            await sending
        journal.close()
        restarted = UpdateJournal(path)
        assert [u["update_id"] for u in restarted.pending()] == [42]
        status, body = await _send_while_handling(restarted, 42, api.url)
    assert len(api.requests) == 1  # not sent twice
    assert status == 200
    message = json.loads(body)["result"]
    assert (message["chat"]["id"], message["text"]) == (5, "Bonjour")
    restarted.close()


async def test_a_send_the_bot_api_refused_before_a_crash_is_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = UpdateJournal(path)
    journal.record([helpers.update(43, message=helpers.text_message(helpers.user(5), "salut", 1))])
    async with RawBotApi(lambda n: 502 if n == 1 else 200) as api:
        assert (await _send_while_handling(journal, 43, api.url))[0] == 502
        journal.close()  # crash before any retry
        restarted = UpdateJournal(path)
        restarted.pending()
        status, _body = await _send_while_handling(restarted, 43, api.url)
    assert status == 200 and len(api.requests) == 2
    restarted.close()


async def test_updates_left_by_a_crash_are_replayed_once(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict, tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    # As a crash leaves it: /start recorded (and acknowledged) but not answered; /help answered.
    start = fake_api.user_message(amina, text="/start")
    pending_update = helpers.update(500, message=start)
    answered_update = helpers.update(501, message=fake_api.user_message(amina, text="/help"))
    crashed = UpdateJournal(journal_path)
    crashed.record([pending_update, answered_update])
    crashed.done(501)
    crashed.close()
    # Telegram delivers both again too (as if the acknowledgement had not reached it).
    fake_api._updates.clear()
    fake_api.redeliver(pending_update)
    fake_api.redeliver(answered_update)
    async with run_bot(settings, journal_path=journal_path):
        await fake_api.wait_for_sent(amina["id"], 1)
        fake_api.send_text(amina, "/privacy")  # handled after anything replayed
        await fake_api.wait_for_sent(amina["id"], 2)
    sent = texts(fake_api, amina["id"])
    assert sent[0].startswith("Bienvenue") and [t.startswith("Bienvenue") for t in sent].count(True) == 1
    reopened = UpdateJournal(journal_path)
    assert reopened.pending() == []
    reopened.close()


def test_the_journal_is_idempotent_and_keeps_no_text_once_handled(tmp_path: Path) -> None:
    clock = [1_000_000.0]
    journal = UpdateJournal(tmp_path / "j.sqlite3", clock=lambda: clock[0])
    update = helpers.update(7, message=helpers.text_message(helpers.user(31337), "my secret question", 1))
    assert journal.record([update]) == [7]
    assert journal.record([update]) == []  # a repeat
    assert journal.claim(7) and not journal.claim(7)  # being handled
    journal.done(7)
    assert not journal.claim(7) and journal.pending() == []
    journal.compact()
    for file in tmp_path.iterdir():
        assert b"my secret question" not in file.read_bytes(), file.name
    clock[0] += 25 * 3600
    assert journal.compact() == 1  # the id is kept a day, then dropped
    journal.close()


def test_a_recorded_update_is_claimed_once_across_restarts(tmp_path: Path) -> None:
    journal = UpdateJournal(tmp_path / "j.sqlite3")
    update = helpers.update(8, message=helpers.text_message(helpers.user(31337), "hello", 1))
    journal.record([update])
    assert journal.claim(8) and not journal.claim(8)
    journal.done(8)
    journal.close()
    reopened = UpdateJournal(tmp_path / "j.sqlite3")
    assert not reopened.claim(8)  # handled before the restart: a repeat is skipped
    reopened.close()


async def test_journal_calls_leave_the_event_loop_only_while_the_journal_is_busy() -> None:
    journal = UpdateJournal(":memory:")
    loop_thread = threading.get_ident()
    assert await journal.unblocked(threading.get_ident) == loop_thread
    with journal._lock:  # as record() holds it while its commit waits for the disk
        assert await journal.unblocked(threading.get_ident) != loop_thread
    journal.close()


async def test_webhook_refuses_malformed_updates_and_answers_a_repeat_once(
    fake_api: FakeBotApi, env: dict[str, str], run_bot: RunBot, amina: JSONDict
) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    settings = Settings.from_env(
        environ={**env, "WEBHOOK_URL": hook, "WEBHOOK_PORT": str(port), "WEBHOOK_SECRET": "s3cret"}
    )
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    message = fake_api.user_message(amina, text="/start")
    async with run_bot(settings), aiohttp.ClientSession() as http:
        for body in ({"update_id": "12", "message": message}, {"update_id": 1.5}, {"message": message}, [1]):
            async with http.post(hook, json=body, headers=good) as response:
                assert response.status == 400, body
        for _ in range(2):
            async with http.post(hook, json=helpers.update(77, message=message), headers=good) as response:
                assert response.status == 200
        await fake_api.wait_for_sent(amina["id"], 1)
        fake_api.send_text(amina, "/help")  # not delivered by webhook: only a marker of time passing
        async with http.post(hook, json=helpers.update(78, message=message), headers=good) as response:
            assert response.status == 200
        await fake_api.wait_for_sent(amina["id"], 2)
    assert len(texts(fake_api, amina["id"])) == 2


async def test_maintenance_runs_on_the_job_queue(settings: Settings, run_bot: RunBot) -> None:
    async with run_bot(settings) as application:
        assert application.job_queue is not None
        names = {job.name for job in application.job_queue.jobs()}
    assert {"retention-purge", "database-health", "journal-compaction"} <= names


@pytest.fixture
def root_output() -> Iterator[io.StringIO]:
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    root = logging.getLogger()
    root.addHandler(handler)
    yield output
    root.removeHandler(handler)
    for other in root.handlers:  # the filter is process-wide: leave the other tests as they were
        for masking in [f for f in other.filters if isinstance(f, MaskingFilter)]:
            other.removeFilter(masking)


def test_the_token_and_user_texts_are_masked_at_every_level(root_output: io.StringIO) -> None:
    token = "123456789:AAH-secret_token_of_the_bot_0123456789"
    install_log_masking([token])
    log = logging.getLogger("telegram.ext.ExtBot")
    log.setLevel(logging.DEBUG)
    log.debug("Calling Bot API endpoint `sendMessage` with parameters `%s`", {"chat_id": 5, "text": "I am scared"})
    log.debug(
        "Update: %r", "Message(chat=Chat(id=5), text='help me, it\\'s urgent', from_user=User(first_name='Amina'))"
    )
    log.debug('{"message": {"text": "je suis perdue", "chat": {"id": 5}}}')
    log.info("POST https://api.telegram.org/bot%s/getUpdates", token)
    log.warning("Another bot: 987654321:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi")
    try:
        raise ValueError(f"failed with {token}")
    except ValueError:
        log.exception("Unexpected")
    output = root_output.getvalue()
    for secret in (token, "987654321:ABC", "I am scared", "help me", "Amina", "je suis perdue"):
        assert secret not in output
    assert output.count(MASK) >= 7 and "chat_id" in output and "sendMessage" in output


def test_masking_keeps_ordinary_messages() -> None:
    masking = MaskingFilter(["short"])  # too short to be a secret: not masked everywhere
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Loaded %d answers (short)", (42,), None)
    assert masking.filter(record) and record.getMessage() == "Loaded 42 answers (short)"


async def test_the_bot_answers_when_the_database_cannot_be_opened(
    fake_api: FakeBotApi, env: dict[str, str], run_bot: RunBot, amina: JSONDict, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = Settings.from_env(environ={**env, "STATE_DB_PATH": str(blocker / "state.sqlite3")})
    async with run_bot(settings, journal_path=":memory:"):
        fake_api.send_text(amina, "je cherche un médecin")
        sent = await fake_api.wait_for_sent(amina["id"], 1)
        await asyncio.sleep(0)
    assert not any(APOLOGY in m["text"] for m in sent)


async def test_the_retention_purge_job_deletes_expired_rows(settings: Settings, run_bot: RunBot) -> None:
    async with run_bot(settings) as application:
        services = application.bot_data["services"]
        database = services.store.database._store
        assert database is not None
        services.store.save(UserState("expired", "fr"))
        services.store.save(UserState("recent", "fr"))
        database._db.execute("UPDATE user_state SET last_seen = '2000-01-01' WHERE user_key LIKE '%:expired'")
        assert application.job_queue is not None
        (purge,) = [job for job in application.job_queue.jobs() if job.name == "retention-purge"]
        await purge.run(application)
        assert services.store.load("expired").language is None
        assert services.store.load("recent").language == "fr"


async def test_answers_go_out_when_the_database_refuses_writes(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_bot(settings) as application:
        database = application.bot_data["services"].store.database._store
        # Every write refused, as on a full disk (where a write needs a page there is no room for).
        writes = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
        database._db.set_authorizer(lambda action, *_: sqlite3.SQLITE_DENY if action in writes else sqlite3.SQLITE_OK)
        for question in ("je cherche un médecin", "comment trouver un logement", "je cherche du travail"):
            before = len(fake_api.sent(amina["id"]))
            fake_api.send_text(amina, question)
            await fake_api.wait_for_sent(amina["id"], before + 1)
        await fake_api.wait_for_call("sendMessage", 3)
    assert not any(APOLOGY in text for text in texts(fake_api, amina["id"]))
    storage_warnings = [r for r in caplog.records if r.name == "bot.storage" and r.levelno == logging.WARNING]
    assert len(storage_warnings) == 1


async def test_a_reply_interrupted_by_a_crash_is_not_sent_twice(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, amina: JSONDict, tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    start = helpers.update(600, message=fake_api.user_message(amina, text="/start"))
    fake_api._updates.clear()
    crashed = UpdateJournal(journal_path)
    crashed.record([start])
    # The crash came after Telegram accepted the welcome, before the update was marked handled.
    welcome = helpers.bot_message(amina["id"], "Bienvenue (sent before the crash)")
    crashed.call_succeeded(Handling(600), 1, "sendMessage", json.dumps({"ok": True, "result": welcome}).encode())
    crashed.close()
    async with run_bot(settings, journal_path=journal_path):
        fake_api.send_text(amina, "/privacy")
        await fake_api.wait_for_sent(amina["id"], 1)
    assert not any(text.startswith("Bienvenue") for text in texts(fake_api, amina["id"]))
    reopened = UpdateJournal(journal_path)
    assert reopened.pending() == [] and reopened.handling(600).earlier == {}
    reopened.close()


async def test_forget_leaves_the_user_id_nowhere_in_the_files(
    fake_api: FakeBotApi, settings: Settings, run_bot: RunBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zed = helpers.user(918273645, "en", "Zed")
    compacted = asyncio.Event()
    loop = asyncio.get_running_loop()
    original = UpdateJournal.compact

    def compact(journal: UpdateJournal) -> int:
        deleted = original(journal)
        loop.call_soon_threadsafe(compacted.set)
        return deleted

    monkeypatch.setattr(UpdateJournal, "compact", compact)
    async with run_bot(settings):
        fake_api.send_text(zed, "/start")
        welcome = (await fake_api.wait_for_sent(zed["id"], 1))[-1]
        fake_api.press(zed, welcome, "lang:en")
        await fake_api.wait_for_sent(zed["id"], 2)
        fake_api.send_text(zed, "I am looking for a doctor")
        await fake_api.wait_for_sent(zed["id"], 3)
        fake_api.send_text(zed, "/forget")
        question = (await fake_api.wait_for_sent(zed["id"], 4))[-1]
        compacted.clear()
        fake_api.press(zed, question, "forget:yes")
        done = (await fake_api.wait_for_sent(zed["id"], 5))[-1]
        assert done["text"] == "Done: everything I kept about you is deleted."
        await asyncio.wait_for(compacted.wait(), 30)  # right after the forget is marked handled
        # While the bot runs (closing the files would checkpoint them anyway).
        names, holding = await asyncio.to_thread(files_holding, tmp_path, b"918273645")
    assert "updates-journal.sqlite3" in names and "state.sqlite3" in names
    assert holding == []


def files_holding(directory: Path, needle: bytes) -> tuple[list[str], list[str]]:
    """The files in ``directory``, and those whose bytes contain ``needle``."""
    files = [path for path in directory.iterdir() if path.is_file()]
    return [p.name for p in files], [p.name for p in files if needle in p.read_bytes()]


async def test_the_handoff_maintenance_runs_on_the_job_queue(settings: Settings, run_bot: RunBot) -> None:
    async with run_bot(settings) as application:
        assert application.job_queue is not None
        names = {job.name for job in application.job_queue.jobs()}
        assert {"retention-purge", "database-health", "handoff-maintenance"} <= names
        (maintenance,) = [job for job in application.job_queue.jobs() if job.name == "handoff-maintenance"]
        await maintenance.run(application)  # closes idle conversations and purges: must not raise
