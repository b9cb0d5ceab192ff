"""Figures as SVG charts, the command line (accounts, serving), and the settings of the console."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.settings import Settings, SettingsError
from bot.staff_console import charts
from bot.staff_console.app import Console, start_console
from tests.staff_console.conftest import Client, FakeClock, log_in
from tests.test_cli import run_cli


def test_a_stacked_bar_chart_draws_one_rect_per_nonzero_value_and_escapes_names() -> None:
    svg = charts.stacked_bars("Questions", ["01/12", "02/12"], [charts.Series("<fr>", (2.0, 0.0))])
    assert svg.count("<rect x=") == 1
    assert "&lt;fr&gt;" in svg
    assert "<fr>" not in svg
    assert "No data yet" in charts.stacked_bars("Questions", ["01/12"], [charts.Series("fr", (0.0,))])


async def test_the_figures_page_charts_questions_topics_and_rates(
    client: Client, console: Console, clock: FakeClock
) -> None:
    for _n in range(3):
        console.insights.count("brussels", "question", "fr", "find_housing")
    console.insights.count("brussels", "question", "ar", "french_course")
    console.insights.count("brussels", "fallback", "fr")
    console.insights.count("brussels", "feedback_down", "fr", "find_housing")
    clock.advance(86400)
    console.insights.count("brussels", "question", "fr", "find_housing")
    assert await log_in(client, "rita") == 303
    page = await (await client.get("/cities/brussels/figures?days=7")).text()
    today = console.today()
    yesterday = today.fromordinal(today.toordinal() - 1)
    assert f"<title>{yesterday.strftime('%d/%m')} · fr: 3</title>" in page
    assert f"<title>{today.strftime('%d/%m')} · fr: 1</title>" in page
    assert f"<title>{yesterday.strftime('%d/%m')} · housing: 3</title>" in page
    assert "<title>fr · fallback: 20%</title>" in page  # 1 fallback of 5 French questions
    assert "<td>20.0 %</td><td>20.0 %</td>" in page


def test_staff_user_add_stores_an_argon2_hash_and_never_the_password(tmp_path: Path) -> None:
    users_file = tmp_path / "staff-users.json"
    env = {"STAFF_USERS_FILE": str(users_file)}
    added = run_cli(
        "staff-user", "add", "amina", "--role", "translator", "--languages", "ar,fa", "--password-stdin",
        stdin="a long secret phrase\n", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    stored = json.loads(users_file.read_text(encoding="utf-8"))["users"][0]
    assert stored["password_hash"].startswith("$argon2id$")
    assert "a long secret phrase" not in users_file.read_text(encoding="utf-8")
    assert stored["languages"] == ["ar", "fa"]
    assert users_file.stat().st_mode & 0o777 == 0o600
    refused = run_cli(
        "staff-user", "add", "bob", "--role", "translator", "--password-stdin", stdin="another long one\n", env=env
    )
    assert refused.returncode == 1
    assert "a translator needs --languages" in refused.stderr
    listing = run_cli("staff-user", "list", env=env)
    assert listing.stdout.strip() == "amina\ttranslator\tar,fa\tall cities"


def test_the_accounts_file_cannot_live_among_the_answers(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="STAFF_USERS_FILE must be outside CONTENT_DIR"):
        Settings.from_env({"CONTENT_DIR": str(tmp_path), "STAFF_USERS_FILE": str(tmp_path / "users.json")})


def test_console_settings_have_safe_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.staff_host, settings.staff_port) == ("127.0.0.1", 8080)
    assert settings.keep_missed_questions is False


async def test_the_console_serves_inside_a_running_event_loop(tmp_path: Path, content_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.from_env(
        {
            "CONTENT_DIR": str(content_dir),
            "STAFF_PORT": str(port),
            "STAFF_USERS_FILE": str(tmp_path / "users.json"),
            "STAFF_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
            "STAFF_DB_PATH": str(tmp_path / "staff.sqlite3"),
        }
    )
    runner = await start_console(settings, backends=[])
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/login") as response:
            assert response.status == 200
            assert "Log in" in await response.text()
    finally:
        await runner.cleanup()


def test_the_console_database_sits_beside_the_bots_state_by_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"STATE_DB_PATH": str(tmp_path / "state.sqlite3")})
    assert settings.staff_db_path == tmp_path / "staff.sqlite3"
