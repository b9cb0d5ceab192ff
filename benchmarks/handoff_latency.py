"""Hand-off relay latency through the fake Bot API server (``tests/telegram/fake_bot_api.py``).

The real application polls the fake server over HTTP on 127.0.0.1. USERS newcomers open a
conversation each (counsellor button, consent: one forum topic each), then, one message at a time
in turn, each user writes (relayed with copyMessage into her topic) and a counsellor answers in the
topic (relayed with copyMessage to the user). Latency: from the update being available to
getUpdates to the copyMessage request reaching the server; p50 and p95 per direction.

Run 1 has the rate limiter's throttles off (processing latency only). Run 2 keeps Telegram's
limits as the bot runs them (AIORateLimiter defaults: 30 messages/s overall, 20 per minute per
group): BURST users write at the same moment, and every relay goes into the one staff group, so
after Telegram's allowance of 20 the rest wait their turn (measured: when each burst message
reached the topic).

    .venv/bin/python benchmarks/handoff_latency.py                    # 200 messages each way, burst 25
    .venv/bin/python benchmarks/handoff_latency.py --messages 50 --burst 0
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram.ext import AIORateLimiter  # noqa: E402

from bot.channels.telegram.app import build_application, serve  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.telegram import helpers  # noqa: E402
from tests.telegram.fake_bot_api import ApiCall, FakeBotApi  # noqa: E402

JSONDict = dict[str, Any]
STAFF_CHAT = -1009999
COUNSELLOR = helpers.user(9001, "fr", "Counsellor")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def open_conversation(api: FakeBotApi, user: JSONDict) -> int:
    """Counsellor button, then consent; returns the topic id."""
    uid = user["id"]
    api.send_text(user, "/start")
    await api.wait_for_sent(uid, 1, seconds=30)
    api.press(user, api.sent(uid)[-1], "counsellor")
    offer = (await api.wait_for_sent(uid, 2, seconds=30))[-1]
    api.press(user, offer, "ho:yes")
    await api.wait_for_sent(uid, 3, seconds=30)
    topics = [c for c in api.calls_to("createForumTopic") if c.result["name"]]
    return int(topics[-1].result["message_thread_id"])


class Bench:
    """The fake server, the people with an open conversation each, and copyMessage arrivals."""

    def __init__(self, api: FakeBotApi, settings: Settings) -> None:
        self.api, self.settings = api, settings
        self.people: list[JSONDict] = []
        self.topics: list[int] = []
        self.arrivals: dict[tuple[int, int | None], list[float]] = {}
        api.on_call = self._on_call

    def _on_call(self, call: ApiCall) -> None:
        if call.method == "copyMessage" and call.status == 200:
            key = (int(call.params["chat_id"]), call.params.get("message_thread_id"))
            self.arrivals.setdefault(key, []).append(call.at)

    def count(self, chat_id: int, topic: int | None) -> int:
        return len(self.arrivals.get((chat_id, topic), []))

    def more_than(self, chat_id: int, topic: int | None, count: int) -> Callable[[], bool]:
        return lambda: self.count(chat_id, topic) > count

    async def running(self, limiter: AIORateLimiter, work: Any) -> None:
        application = build_application(self.settings, rate_limiter=limiter)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(application, self.settings, stop, ready))
        await asyncio.wait_for(ready.wait(), 120)
        try:
            await work()
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)

    async def open_all(self, count: int) -> None:
        for n in range(count):
            person = helpers.user(700_000 + n, "fr", f"User{n}")
            self.people.append(person)
            self.topics.append(await open_conversation(self.api, person))

    async def round_trips(self, users: int, messages: int) -> None:
        api, to_staff, to_user = self.api, list[float](), list[float]()
        for n in range(messages):
            person, topic = self.people[n % users], self.topics[n % users]
            before, pushed = self.count(STAFF_CHAT, topic), time.monotonic()
            api.send_text(person, f"message {n}")
            await api.wait_until(self.more_than(STAFF_CHAT, topic, before), 30)
            to_staff.append(self.arrivals[(STAFF_CHAT, topic)][-1] - pushed)
            before, pushed = self.count(person["id"], None), time.monotonic()
            api.staff_message(COUNSELLOR, STAFF_CHAT, topic, text=f"answer {n}")
            await api.wait_until(self.more_than(person["id"], None, before), 30)
            to_user.append(self.arrivals[(person["id"], None)][-1] - pushed)
        for name, values in (("user -> topic", to_staff), ("counsellor -> user", to_user)):
            print(
                f"{name:20} n={len(values):4}  p50 {percentile(values, 0.5) * 1000:6.1f} ms  "
                f"p95 {percentile(values, 0.95) * 1000:6.1f} ms  mean {statistics.mean(values) * 1000:6.1f} ms"
            )

    async def burst(self, size: int) -> None:
        topics = self.topics[:size]
        before = {t: self.count(STAFF_CHAT, t) for t in topics}
        pushed = time.monotonic()
        for person in self.people[:size]:
            self.api.send_text(person, "burst")
        await self.api.wait_until(lambda: all(self.count(STAFF_CHAT, t) > before[t] for t in topics), 180)
        waits = sorted(self.arrivals[(STAFF_CHAT, t)][-1] - pushed for t in topics)
        print(
            f"burst of {size} users at once, Telegram's limits on: first {waits[0] * 1000:.0f} ms, "
            f"p50 {percentile(waits, 0.5):.2f} s, p95 {percentile(waits, 0.95):.2f} s, last {waits[-1]:.2f} s"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--burst", type=int, default=25)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    api = FakeBotApi()
    await api.start()
    api.add_forum(STAFF_CHAT)
    with tempfile.TemporaryDirectory() as folder:
        environ = {
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_BASE_URL": api.base_url,
            "STATE_DB_PATH": str(Path(folder) / "state.sqlite3"),
            "STAFF_CHAT_ID": str(STAFF_CHAT),
            "CONTENT_RELOAD_SECONDS": "0",
        }
        settings = Settings.from_env(environ=environ)
        bench = Bench(api, settings)
        unthrottled = AIORateLimiter(overall_max_rate=0, group_max_rate=0)

        async def latency() -> None:
            await bench.open_all(max(args.users, args.burst))
            await bench.round_trips(args.users, args.messages)

        try:
            await bench.running(unthrottled, latency)
            if args.burst:  # same database: the conversations are still open
                await bench.running(AIORateLimiter(max_retries=3), lambda: bench.burst(args.burst))
        finally:
            await api.close()


if __name__ == "__main__":
    asyncio.run(main())
