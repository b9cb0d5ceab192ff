"""``newcomer-bot run`` with several CITIES: one Telegram application per city, each with its own
token and its own city's services, all sharing one state database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram import app
from bot.services import CityServices
from bot.settings import PROJECT_ROOT, Settings


async def test_one_application_per_city_with_its_token_and_services(
    cities_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[tuple[Settings, app.ServicesFactory]] = []
    served: list[Any] = []

    def fake_build(settings: Settings, *, services_factory: app.ServicesFactory, **_options: Any) -> object:
        built.append((settings, services_factory))
        return f"application for {settings.city}"

    async def fake_serve(application: object, settings: Settings, stop: asyncio.Event) -> None:
        served.append(application)

    monkeypatch.setattr(app, "build_application", fake_build)
    monkeypatch.setattr(app, "serve", fake_serve)
    settings = Settings.from_env(
        environ={
            "CONTENT_DIR": str(cities_dir),
            "CITIES": "riverton,hilltown",
            "TELEGRAM_BOT_TOKEN_RIVERTON": "1:riverton",
            "TELEGRAM_BOT_TOKEN_HILLTOWN": "2:hilltown",
            "STATE_DB_PATH": str(tmp_path / "state.sqlite3"),
            "MODEL_CACHE_DIR": str(PROJECT_ROOT / "var" / "models"),
        }
    )
    await app._run(settings)
    assert sorted(served) == ["application for hilltown", "application for riverton"]
    tokens = {city_settings.city: city_settings.telegram_bot_token for city_settings, _factory in built}
    assert tokens == {"riverton": "1:riverton", "hilltown": "2:hilltown"}
    services: dict[str, CityServices] = {s.city: await factory(s) for s, factory in built}
    assert services["riverton"].city.name("en") == "Riverton" and services["hilltown"].city.name("en") == "Hilltown"
    assert services["riverton"].store.database is services["hilltown"].store.database
