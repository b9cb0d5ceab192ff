"""Fault and load suite: the real bot (a subprocess) against a fake Bot API with faults injected.

The fake server (``tests/telegram/fake_bot_api.py``) runs in this process; the bot runs as
``newcomer-bot run`` in a child process, so it can be killed with SIGKILL and restarted. Each
scenario sends one question from each of ``--users`` newcomers in one burst, then counts per user:
answered (a reply that is not the apology), apology-only, lost (nothing), duplicated (the same
message twice), and the time from the update to the first reply (p50, p95). The bot's RSS and
open files are read from /proc before and after.

    .venv/bin/python benchmarks/faults.py                      # every scenario, 300 users
    .venv/bin/python benchmarks/faults.py --users 1000 --only kill9 5xx
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.telegram import helpers  # noqa: E402
from tests.telegram.fake_bot_api import ApiCall, FakeBotApi  # noqa: E402

APOLOGY = "j'ai eu un problème"  # the French apology (the users' Telegram apps are in French)
QUESTIONS = ["je cherche un médecin", "comment trouver un logement", "je veux apprendre le français", "bonjour"]
QUIET_SECONDS = 3.0
USER_BASE = 700_000


@dataclass
class Scenario:
    """One row of the table: how the fake misbehaves and what happens to the bot and its files."""

    name: str
    rate: float = 0.0
    modes: tuple[str, ...] = ()
    kill_after_replies: int | None = None  # SIGKILL the bot after this many replies, then restart
    prepare: Callable[[Path], dict[str, str]] = field(default=lambda _d: {})
    during: Callable[[Path], None] | None = None  # done to the database after the first replies


def _corrupt(directory: Path) -> dict[str, str]:
    (directory / "state.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x13" * 20000)
    return {}


def _unopenable(directory: Path) -> dict[str, str]:
    (directory / "blocked").write_text("a file where the database's directory should be")
    return {"STATE_DB_PATH": str(directory / "blocked" / "state.sqlite3")}


def _delete_db(directory: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{directory / 'state.sqlite3'}{suffix}").unlink(missing_ok=True)


SCENARIOS = [
    Scenario("healthy"),
    Scenario("5xx", 0.15, ("500", "502")),
    Scenario("reset", 0.15, ("reset",)),
    Scenario("5xx+reset", 0.15, ("500", "502", "reset")),
    Scenario("slow-6s", 0.05, ("slow",)),
    Scenario("kill9-early", kill_after_replies=10),
    Scenario("kill9", kill_after_replies=100),
    Scenario("kill9-late", kill_after_replies=250),
    Scenario("db-damaged", prepare=_corrupt),
    Scenario("db-unopenable", prepare=_unopenable),
    Scenario("db-deleted", during=_delete_db),
]


def process_figures(pid: int) -> tuple[int, int]:
    """RSS in MiB and open file descriptors of a process."""
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return rss_kib // 1024, len(os.listdir(f"/proc/{pid}/fd"))


class Bot:
    """``newcomer-bot run`` in a child process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "newcomer-bot"), "run"],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


async def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def run(scenario: Scenario, users: int, workdir: Path, log_level: str = "WARNING") -> dict[str, object]:
    api = FakeBotApi()
    await api.start()
    api.slow_seconds = 6.0
    directory = workdir / scenario.name
    directory.mkdir()
    env = {
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "STATE_DB_PATH": str(directory / "state.sqlite3"),
        "CONTENT_RELOAD_SECONDS": "0",
        "LOG_LEVEL": log_level,
        **scenario.prepare(directory),
    }
    bot = Bot(env, directory / "bot.log")
    bot.start()
    assert bot.process is not None
    if not await wait_for(lambda: bool(api.calls_to("getUpdates")), 120):
        raise RuntimeError(f"the bot did not start: see {bot.log}")
    before = process_figures(bot.process.pid)
    if scenario.rate:
        api.random_faults(scenario.rate, scenario.modes)
    pushed: dict[int, float] = {}
    for index in range(users):
        sender = helpers.user(USER_BASE + index, "fr", f"User{index}")
        api.send_text(sender, QUESTIONS[index % len(QUESTIONS)])
        pushed[sender["id"]] = time.monotonic()

    def replies() -> int:
        return len(api.calls_to("sendMessage"))

    if scenario.during is not None:
        await wait_for(lambda: replies() >= 20, 60)
        scenario.during(directory)
    kill_after = scenario.kill_after_replies
    if kill_after is not None:
        await wait_for(lambda: replies() >= kill_after, 120)
        bot.kill()
        polls = len(api.calls_to("getUpdates"))
        bot.start()
        if not await wait_for(lambda: len(api.calls_to("getUpdates")) > polls, 120):
            raise RuntimeError(f"the bot did not restart: see {bot.log}")
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < QUIET_SECONDS + (6 if scenario.modes == ("slow",) else 0):
        await asyncio.sleep(0.2)
        if replies() != last:
            last, stable_since = replies(), time.monotonic()
    after = process_figures(bot.process.pid)
    bot.stop()
    await api.close()
    return summarise(scenario.name, api, pushed, before, after)


def summarise(
    name: str, api: FakeBotApi, pushed: dict[int, float], before: tuple[int, int], after: tuple[int, int]
) -> dict[str, object]:
    answered = apology_only = lost = duplicated = 0
    latencies = []
    sent: dict[int, list[ApiCall]] = {}
    for call in api.calls_to("sendMessage"):
        sent.setdefault(int(call.chat_id), []).append(call)
    for chat_id, at in pushed.items():
        calls = sent.get(chat_id, [])
        texts = [c.text for c in calls]
        if not calls:
            lost += 1
            continue
        latencies.append(calls[0].at - at)
        if all(APOLOGY in text for text in texts):
            apology_only += 1
        else:
            answered += 1
        if any(count > 1 for count in Counter(texts).values()):
            duplicated += 1
    cut = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [0.0] * 19
    return {
        "scenario": name,
        "sent": len(pushed),
        "answered": answered,
        "lost": lost,
        "duplicated": duplicated,
        "apology-only": apology_only,
        "p50 s": round(statistics.median(latencies), 2) if latencies else None,
        "p95 s": round(cut[18], 2),
        "RSS MiB": f"{before[0]}->{after[0]}",
        "open files": f"{before[1]}->{after[1]}",
    }


def print_table(rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--only", nargs="*", help="scenario names")
    parser.add_argument("--log-level", default="WARNING", help="the bot's LOG_LEVEL (its log: bot.log)")
    parser.add_argument("--keep", type=Path, help="keep each scenario's files and log under this directory")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    rows = []
    with tempfile.TemporaryDirectory(prefix="newcomer-faults-") as temporary:
        workdir = args.keep or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        for scenario in chosen:
            rows.append(await run(scenario, args.users, workdir, args.log_level))
            print(rows[-1], flush=True)
    print_table(rows)


if __name__ == "__main__":
    asyncio.run(main())
