"""The staff console served by the Telegram bot's own process (``STAFF_WITH_BOT``)."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp

from bot.channels.telegram.app import STAFF_CONSOLE_KEY
from bot.channels.telegram.handlers.common import SERVICES_KEY
from bot.settings import Settings
from bot.staff_console.app import CONSOLE
from tests.telegram.conftest import RunBot


async def test_the_console_runs_inside_the_bot_and_swaps_into_its_backend(
    env: dict[str, str], tmp_path: Path, run_bot: RunBot
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.from_env(
        {
            **env,
            "STAFF_WITH_BOT": "true",
            "STAFF_PORT": str(port),
            "STAFF_USERS_FILE": str(tmp_path / "users.json"),
            "STAFF_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
            "STAFF_DB_PATH": str(tmp_path / "staff.sqlite3"),
        }
    )
    async with run_bot(settings) as application:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/login") as response:
            assert response.status == 200
        console = application.bot_data[STAFF_CONSOLE_KEY].app[CONSOLE]
        # Only this city's backend gets the models retrained for this city.
        assert console.retrainer.backends == {settings.city: [application.bot_data[SERVICES_KEY].embedded]}
    assert STAFF_CONSOLE_KEY not in application.bot_data
