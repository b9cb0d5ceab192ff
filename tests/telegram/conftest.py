"""Fixtures: the fake Bot API server, settings pointing at it, services, and a running bot."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram.app import ServicesFactory, TelegramApp, build_application, serve
from bot.content import ContentStore
from bot.dialogue import DialogueCore
from bot.services import CityStateStore, Services, create_services
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import open_state_store
from tests.telegram import helpers
from tests.telegram.fake_bot_api import FakeBotApi

STAFF_ID = 4242
RunBot = Callable[..., contextlib.AbstractAsyncContextManager[TelegramApp]]


@pytest.fixture(autouse=True)
def _timedelta_time_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB 22's timedelta ``retry_after``: else reading it warns, and warnings are errors
    here, so a 429 would surface as a warning instead of a ``RetryAfter`` to wait out."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(scope="session")
def shared_services() -> Iterator[Services]:
    """The real services, created once (model, language detector, catalogs); tests swap stores."""
    services = asyncio.run(create_services(Settings.from_env(environ={}), state_db=":memory:"))
    yield services
    asyncio.run(services.close())


@pytest.fixture
def fast_services(shared_services: Services) -> ServicesFactory:
    """A services factory reusing the loaded model, with this test's database and answers."""

    async def factory(settings: Settings) -> Services:
        base = shared_services
        content = base.content  # parsing every answer file takes over a second: share it
        if settings.city_content_dir != base.settings.city_content_dir:
            content = ContentStore(settings.city_content_dir, base.catalogue)
            content.reload()
        database = open_state_store(settings.state_db_path, retention_days=settings.state_retention_days)
        store = CityStateStore(database, settings.city)
        core = DialogueCore(
            base.catalogue,
            base.nlu,
            base.detector,
            content,
            base.translations,
            store,
            base.core.options,
        )
        # close() would close the shared NLU backend too: give each copy a store-only close.
        return _StoreOnlyServices(
            **{
                **{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
                "settings": settings,
                "content": content,
                "store": store,
                "core": core,
            }
        )

    return factory


@dataclasses.dataclass
class _StoreOnlyServices(Services):
    async def close(self) -> None:
        self.store.close()


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotApi]:
    """A fake Bot API server on 127.0.0.1."""
    api = FakeBotApi()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A private copy of the answers (``CONTENT_DIR``), safe to edit and break."""
    target = tmp_path / "responses"
    shutil.copytree(PROJECT_ROOT / "responses", target, ignore=shutil.ignore_patterns("*.md"))
    return target


@pytest.fixture
def env(tmp_path: Path, fake_api: FakeBotApi) -> dict[str, str]:
    """Settings environment: the fake server, a tmp SQLite file, a staff member."""
    return {
        "TELEGRAM_BOT_TOKEN": fake_api.token,
        "TELEGRAM_BASE_URL": fake_api.base_url,
        "STATE_DB_PATH": str(tmp_path / "state.sqlite3"),
        "STAFF_USER_IDS": str(STAFF_ID),
        "CONTENT_RELOAD_SECONDS": "0",
        "LOG_LEVEL": "DEBUG",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Settings read the way the bot reads them."""
    return Settings.from_env(environ=env)


@pytest.fixture
def run_bot(fast_services: ServicesFactory) -> RunBot:
    """``async with run_bot(settings) as app:`` runs the real application (``serve``) meanwhile."""

    @contextlib.asynccontextmanager
    async def running(
        settings: Settings,
        services_factory: ServicesFactory | None = None,
        configure: Callable[[TelegramApp], None] | None = None,
        **options: Any,
    ) -> AsyncIterator[TelegramApp]:
        application = build_application(settings, services_factory=services_factory or fast_services, **options)
        if configure is not None:  # e.g. the hand-off's injected clock, before the bot starts
            configure(application)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(application, settings, stop, ready))
        ready_wait = asyncio.create_task(ready.wait())
        done, _pending = await asyncio.wait({task, ready_wait}, timeout=30, return_when="FIRST_COMPLETED")
        if task in done:
            ready_wait.cancel()
            task.result()  # start-up failed: raise its error
        assert ready.is_set(), "the bot did not start within 30 s"
        try:
            yield application
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)

    return running


@pytest.fixture
def amina() -> dict[str, Any]:
    """A newcomer whose Telegram app is in French."""
    return helpers.user(1001, "fr", "Amina")


@pytest.fixture
def karim() -> dict[str, Any]:
    """A newcomer whose Telegram app is in Arabic."""
    return helpers.user(1002, "ar", "Karim")


@pytest.fixture
def sanne() -> dict[str, Any]:
    """A newcomer whose Telegram app is in Dutch."""
    return helpers.user(1003, "nl", "Sanne")
