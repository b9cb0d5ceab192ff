"""Settings: read once from the environment and .env, typed, secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, Settings, SettingsError

TOKEN = "123456:TEST-TOKEN-not-a-real-one"


def test_defaults_without_environment() -> None:
    settings = Settings.from_env(environ={})
    assert settings.telegram_bot_token is None
    assert settings.nlu_backend == "embedded"
    assert settings.city_content_dir == PROJECT_ROOT / "responses" / "brussels"


def test_environment_wins_over_env_file_and_relative_paths_are_from_the_project(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nCITY=ghent\nSERVE_DRAFTS=false\nSTAFF_USER_IDS=1, 2\nNLU_BACKEND=rasa\n")
    settings = Settings.from_env(environ={"CITY": "brussels", "STATE_DB_PATH": "var/x.db"}, env_file=env_file)
    assert settings.city == "brussels" and settings.cities == ("brussels",)
    assert settings.serve_drafts is False
    assert settings.staff_user_ids == frozenset({1, 2})
    assert settings.nlu_backend == "rasa"
    assert settings.state_db_path == PROJECT_ROOT / "var" / "x.db"


def test_token_never_appears_in_repr() -> None:
    settings = Settings.from_env(environ={"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": "s3cret"})
    assert TOKEN not in repr(settings) and "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    "environ",
    [
        {"NLU_BACKEND": "gpt"},
        {"SERVE_DRAFTS": "maybe"},
        {"WEBHOOK_PORT": "eighty"},
        {"WEBHOOK_URL": "https://bot.example.org/hook"},
    ],
)
def test_bad_values_are_clear_errors(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(environ=environ)


def test_env_example_lists_every_setting() -> None:
    example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    source = (PROJECT_ROOT / "bot" / "settings.py").read_text(encoding="utf-8")
    import re

    names = set(re.findall(r'(?:text|path|_flag)\((?:values, )?"([A-Z_]+)"', source))
    assert names, "no settings found in settings.py"
    missing = [name for name in sorted(names) if f"{name}=" not in example and name != "INTENT_CATALOGUE"]
    assert missing == []


def test_city_settings_old_name_several_cities_and_their_tokens(tmp_path: Path) -> None:
    for name in ("brussels", "saint-jean-de-la-ruelle"):
        (tmp_path / name).mkdir()
    base = {"CONTENT_DIR": str(tmp_path)}
    assert Settings.from_env(environ=base).city == "brussels"  # the first folder by name
    assert (
        Settings.from_env(environ={**base, "CONTENT_CITY": "saint-jean-de-la-ruelle"}).city == "saint-jean-de-la-ruelle"
    )
    settings = Settings.from_env(
        environ={
            **base,
            "CITIES": "brussels, saint-jean-de-la-ruelle",
            "TELEGRAM_BOT_TOKEN_BRUSSELS": "1:b",
            "TELEGRAM_BOT_TOKEN_SAINT_JEAN_DE_LA_RUELLE": "2:s",
        }
    )
    assert settings.cities == ("brussels", "saint-jean-de-la-ruelle")
    assert "2:s" not in repr(settings)
    city = settings.for_city("saint-jean-de-la-ruelle")
    assert city.telegram_bot_token == "2:s" and city.city_content_dir == tmp_path / "saint-jean-de-la-ruelle"
    with pytest.raises(SettingsError, match="no folder"):
        Settings.from_env(environ={**base, "CITY": "atlantis"})
    with pytest.raises(SettingsError, match="one TELEGRAM_BOT_TOKEN_<CITY> each"):
        Settings.from_env(environ={**base, "CITIES": "brussels,saint-jean-de-la-ruelle", "TELEGRAM_BOT_TOKEN": "1:x"})
