"""Fixtures of the staff console: a private copy of the answers, accounts, a fake clock, a test client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from bot.settings import PROJECT_ROOT
from bot.staff_console.accounts import UserStore
from bot.staff_console.app import CONSOLE, Console, ConsoleConfig, create_app

PASSWORD = "correct horse battery"
# Argon2 with the smallest cost: the tests check the logic, not the hash's strength.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    now: float = 1_796_000_000.0  # December 2026

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def console_config(content_dir: Path, tmp_path: Path) -> ConsoleConfig:
    return ConsoleConfig(
        content_dir=content_dir,
        catalogue_path=PROJECT_ROOT / "nlu" / "catalogue.yml",
        nlu_data_dir=PROJECT_ROOT / "nlu" / "data",
        model_dir=tmp_path / "models",
        users_file=tmp_path / "var" / "staff-users.json",
        audit_file=tmp_path / "var" / "audit.jsonl",
        insights_db=tmp_path / "var" / "staff.sqlite3",
        keep_missed_questions=True,
    )


@pytest.fixture
def users(console_config: ConsoleConfig) -> UserStore:
    store = UserStore(console_config.users_file, FAST_HASHER)
    store.add("amina", "translator", PASSWORD, languages=("ar",))
    store.add("piotr", "translator", PASSWORD, languages=("pl",))
    store.add("rita", "reviewer", PASSWORD)
    store.add("ada", "admin", PASSWORD)
    return store


@pytest.fixture
def console_app(console_config: ConsoleConfig, users: UserStore, clock: FakeClock) -> web.Application:
    return create_app(console_config, clock=clock, hasher=FAST_HASHER)


@pytest.fixture
def console(console_app: web.Application) -> Console:
    return console_app[CONSOLE]


@pytest.fixture
async def client(console_app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(console_app)) as test_client:
        yield test_client


Client = TestClient[web.Request, web.Application]


async def csrf_token(client: Client, path: str) -> str:
    """The CSRF token of the form on ``path``."""
    response = await client.get(path)
    match = _CSRF.search(await response.text())
    assert match is not None, f"no form with a CSRF token on {path}"
    return match.group(1)


async def log_in(client: Client, name: str, password: str = PASSWORD) -> int:
    """Log in through the form; returns the status of the login POST (303 on success)."""
    token = await csrf_token(client, "/login")
    response = await client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token}, allow_redirects=False
    )
    return response.status
