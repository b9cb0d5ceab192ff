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
    env_file.write_text("# comment\nCONTENT_CITY=ghent\nSERVE_DRAFTS=false\nSTAFF_USER_IDS=1, 2\nNLU_BACKEND=rasa\n")
    settings = Settings.from_env(environ={"CONTENT_CITY": "brussels", "STATE_DB_PATH": "var/x.db"}, env_file=env_file)
    assert settings.content_city == "brussels"
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
