"""Telegram front end throughput: our bot beside a bare python-telegram-bot echo bot (the floor).

Both bots poll the same fake Bot API server (``tests/telegram/fake_bot_api.py``), which runs in
a child process so that it does not share a CPU core with the bot being measured. The fake plays
USERS newcomers in a closed loop: each sends /start, taps a language, then asks questions taken
from ``nlu/heldout`` in that language, sending the next update as soon as the previous one got its
first reply. Figures: updates per second (all updates and every reply message delivered) and the
time from an update being available to getUpdates to the first reply message (p50, p99).

The bots are built the same way (same PTB version, same ``AIORateLimiter`` with retries, same
per-chat update processor), so the difference is our handlers: NLU, SQLite, rendering, and the
extra messages our replies have. The limiter's overall 30 messages/s throttle (Telegram's flood
limit, a property of Telegram rather than of the bot) is off for all of them. The floor is also
run with PTB's defaults (one update at a time, no rate limiter) for reference.

    .venv/bin/python benchmarks/telegram_throughput.py                  # 2,000 updates, 200 users
    .venv/bin/python benchmarks/telegram_throughput.py --updates 500 --users 50 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JSONDict = dict[str, Any]
QUIET_SECONDS = 0.5  # no more replies for this long after the last update's first reply: done
BOT_ID_BASE = 500_000


# ----- the child process: fake Bot API server and the simulated users ---------------------------


async def _drive(config: JSONDict) -> None:
    from tests.telegram import helpers
    from tests.telegram.fake_bot_api import ApiCall, FakeBotApi

    api = FakeBotApi()
    await api.start()
    scripts: dict[int, list[JSONDict]] = {int(k): v for k, v in config["scripts"].items()}
    users = {uid: helpers.user(uid, script[0]["language"], f"User{uid}") for uid, script in scripts.items()}
    position = dict.fromkeys(scripts, 0)
    waiting: dict[int, float] = {}  # chat id -> when its pending update was pushed
    latencies: list[float] = []
    replies = 0
    last_reply = 0.0
    total = sum(len(s) for s in scripts.values())
    all_answered = asyncio.Event()

    def push_next(uid: int) -> None:
        step = scripts[uid][position[uid]]
        position[uid] += 1
        waiting[uid] = time.monotonic()
        if step["kind"] == "button":
            on = api.bot_messages(uid)[-1]
            api.press(users[uid], on, step["data"])
        else:
            api.send_text(users[uid], step["text"])

    def on_call(call: ApiCall) -> None:
        nonlocal replies, last_reply
        if call.status != 200 or call.method not in {"sendMessage", "editMessageText"}:
            return
        replies += 1
        last_reply = call.at
        uid = int(call.params["chat_id"])
        pushed = waiting.pop(uid, None)
        if pushed is None:
            return  # a second message of the same reply
        latencies.append(call.at - pushed)
        if position[uid] < len(scripts[uid]):
            push_next(uid)
        elif len(latencies) == total:
            all_answered.set()

    api.on_call = on_call
    print(json.dumps({"port": api.port}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go": the bot is polling
    started = time.monotonic()
    cpu_started = time.process_time()
    for uid in scripts:
        push_next(uid)
    await asyncio.wait_for(all_answered.wait(), config["timeout"])
    quiet = QUIET_SECONDS - (time.monotonic() - last_reply)
    while quiet > 0:  # the last replies' further messages
        await asyncio.sleep(quiet)  # the deadline moves with each reply
        quiet = QUIET_SECONDS - (time.monotonic() - last_reply)
    elapsed = last_reply - started
    server_cpu = time.process_time() - cpu_started
    errors = [c.method for c in api.calls if c.status != 200]
    methods = Counter(call.method for call in api.calls)  # the fake server's work: what each bot asks
    print(
        json.dumps(
            {
                "updates": total,
                "replies": replies,
                "seconds": elapsed,
                "latencies": latencies,
                "server_cpu_seconds": server_cpu,
                "errors": errors,
                "calls": methods,
            }
        ),
        flush=True,
    )
    await loop.run_in_executor(None, sys.stdin.readline)  # the bot has stopped
    await api.close()


# ----- the parent process: the bots -------------------------------------------------------------


def _scripts(updates: int, users: int, seed: int) -> dict[int, list[JSONDict]]:
    from nlu.loading import load_training_data

    heldout = load_training_data(ROOT / "nlu" / "heldout")
    by_language: dict[str, list[str]] = {}
    for example in heldout.examples:
        if example.language:
            by_language.setdefault(example.language, []).append(example.text)
    languages = sorted(by_language)
    rng = random.Random(seed)
    per_user = [updates // users + (1 if i < updates % users else 0) for i in range(users)]
    scripts: dict[int, list[JSONDict]] = {}
    for index, count in enumerate(per_user):
        language = languages[index % len(languages)]
        steps: list[JSONDict] = [{"kind": "text", "text": "/start", "language": language}]
        steps.append({"kind": "button", "data": f"lang:{language}", "language": language})
        while len(steps) < count:
            steps.append({"kind": "text", "text": rng.choice(by_language[language]), "language": language})
        scripts[BOT_ID_BASE + index] = steps[:count]
    return scripts


async def _echo_floor(update: Any, context: Any) -> None:
    """The floor: answer every message and button with one message."""
    if update.callback_query is not None:
        await update.callback_query.answer()
        await context.bot.send_message(update.callback_query.from_user.id, update.callback_query.data)
    elif update.effective_message is not None and update.effective_message.text:
        await update.effective_message.reply_text(update.effective_message.text)


async def _run_bot(
    kind: str,
    base_url: str,
    token: str,
    db_dir: Path,
    synchronous: str,
    go: Callable[[], Awaitable[None]],
) -> None:
    from telegram.ext import (
        AIORateLimiter,
        ApplicationBuilder,
        CallbackQueryHandler,
        MessageHandler,
        filters,
    )

    from bot.channels.telegram.app import (
        RATE_LIMIT_RETRIES,
        PerChatUpdateProcessor,
        build_application,
        serve,
    )
    from bot.services import Services, create_services
    from bot.settings import Settings

    async def services_factory(settings: Settings) -> Services:
        services = await create_services(settings)
        if synchronous != "default":  # what-if: SQLite's durability setting (WAL journal)
            database = services.store.database._store
            assert database is not None, "the benchmark's database did not open"
            database._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        return services

    settings = Settings.from_env(
        environ={
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_BASE_URL": base_url,
            "STATE_DB_PATH": str(db_dir / f"{kind}.sqlite3"),
            "LOG_LEVEL": "WARNING",
        }
    )
    limiter = AIORateLimiter(overall_max_rate=0, max_retries=RATE_LIMIT_RETRIES)
    if kind == "ours":
        application: Any = build_application(settings, rate_limiter=limiter, services_factory=services_factory)
    else:
        builder: Any = ApplicationBuilder().token(token).base_url(base_url).job_queue(None)
        if kind == "floor":
            builder = builder.rate_limiter(limiter).concurrent_updates(PerChatUpdateProcessor())
        application = builder.build()
        application.add_handler(MessageHandler(filters.TEXT, _echo_floor))
        application.add_handler(CallbackQueryHandler(_echo_floor))
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(application, settings, stop, ready))
    await ready.wait()
    await go()
    stop.set()
    await task


async def _measure(kind: str, config: JSONDict, db_dir: Path, synchronous: str) -> JSONDict:
    from tests.telegram.helpers import TOKEN

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-fake",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        limit=64 * 1024 * 1024,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(config).encode() + b"\n")
    await child.stdin.drain()
    port = json.loads(await child.stdout.readline())["port"]
    result: JSONDict = {}

    async def go() -> None:
        assert child.stdin is not None and child.stdout is not None
        cpu_before = time.process_time()
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        result.update(json.loads(await child.stdout.readline()))
        result["bot_cpu_seconds"] = time.process_time() - cpu_before

    await _run_bot(kind, f"http://127.0.0.1:{port}/bot", TOKEN, db_dir, synchronous, go)
    child.stdin.write(b"done\n")
    await child.stdin.drain()
    await child.wait()
    latencies = sorted(result.pop("latencies"))
    result.update(
        {
            "bot": kind,
            "updates_per_second": result["updates"] / result["seconds"],
            "messages_per_second": result["replies"] / result["seconds"],
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "bot_cpu_ms_per_update": 1000 * result["bot_cpu_seconds"] / result["updates"],
        }
    )
    return result


async def _main(args: argparse.Namespace) -> list[JSONDict]:
    config = {"scripts": _scripts(args.updates, args.users, args.seed), "timeout": args.timeout}
    results = []
    args.db_dir.mkdir(parents=True, exist_ok=True)
    for run in range(args.repeat):  # alternate the bots so that background load hits all
        for kind in args.bots:
            # A fresh directory per run: the fake server's update ids start over each time, and
            # the update journal would skip them as handled already.
            with tempfile.TemporaryDirectory(dir=args.db_dir, prefix="bench-") as tmp:
                result = await _measure(kind, config, Path(tmp), args.sqlite_synchronous)
            results.append({**result, "run": run + 1})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
    parser.add_argument(
        "--bots",
        nargs="+",
        default=["floor-defaults", "floor", "ours"],
        choices=["floor-defaults", "floor", "ours"],
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["default", "normal", "off"],
        default="default",
        help="what-if for our bot: SQLite PRAGMA synchronous (default: as shipped)",
    )
    parser.add_argument(
        "--db-dir",
        type=Path,
        default=ROOT / "var",
        help="where the bot's SQLite file goes (a disk, like production)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per bot (median shown)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        asyncio.run(_drive(json.loads(sys.stdin.readline())))
        return
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    results = asyncio.run(_main(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{args.updates} updates from {args.users} users, fake Bot API in a child process; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, SQLite synchronous: "
        f"{args.sqlite_synchronous}; median of {args.repeat} run(s)"
    )
    print(
        f"{'bot':<16}{'updates/s':>10}{'messages/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/update':>15}"
        f"{'errors':>8}{'calls/update':>14}"
    )
    medians: dict[str, JSONDict] = {}
    for kind in args.bots:
        runs = [r for r in results if r["bot"] == kind]
        row = {
            key: statistics.median(r[key] for r in runs)
            for key in (
                "updates_per_second",
                "messages_per_second",
                "p50_ms",
                "p99_ms",
                "bot_cpu_ms_per_update",
            )
        }
        medians[kind] = row
        errors = sum(len(r["errors"]) for r in runs)
        calls = runs[0]["calls"]
        print(
            f"{kind:<16}{row['updates_per_second']:>10.1f}{row['messages_per_second']:>12.1f}"
            f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['bot_cpu_ms_per_update']:>15.2f}"
            f"{errors:>8}{sum(calls.values()) / runs[0]['updates']:>14.2f}"
        )
        print(f"{'':<16}Bot API calls: {', '.join(f'{m} {n}' for m, n in sorted(calls.items()))}")
    if "ours" in medians and "floor" in medians:
        ours, floor = medians["ours"], medians["floor"]
        speed = ours["updates_per_second"] / floor["updates_per_second"]
        cpu = ours["bot_cpu_ms_per_update"] / floor["bot_cpu_ms_per_update"]
        print(
            f"ours / floor (same configuration): throughput {speed:.2f}x "
            f"(goal: at least 0.90x); CPU per update {cpu:.2f}x"
        )


if __name__ == "__main__":
    main()
