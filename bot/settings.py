"""All configuration, read once from the environment (and an optional ``.env`` file) into one object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The checkout (or the image's /app): where nlu/, responses/ and var/ live by default.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting with a value the bot cannot use."""


@dataclass(frozen=True)
class Settings:
    """Typed settings; see ``.env.example`` for what each one means."""

    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_base_url: str = "https://api.telegram.org/bot"
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)
    staff_user_ids: frozenset[int] = frozenset()
    staff_chat_id: int | None = None
    female_counsellor_ids: frozenset[int] = frozenset()
    handoff_retention_hours: int = 72

    content_dir: Path = PROJECT_ROOT / "responses"
    content_city: str = "brussels"
    content_reload_seconds: float = 5.0
    serve_drafts: bool = True
    default_language: str = "fr"
    female_counsellor_available: bool = False

    nlu_backend: str = "embedded"
    nlu_data_dir: Path = PROJECT_ROOT / "nlu" / "data"
    nlu_config: Path = PROJECT_ROOT / "nlu" / "config.yml"
    catalogue_path: Path = PROJECT_ROOT / "nlu" / "catalogue.yml"
    model_cache_dir: Path = PROJECT_ROOT / "var" / "models"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str | None = field(default=None, repr=False)
    rasa_timeout_seconds: float = 1.0

    state_db_path: Path = PROJECT_ROOT / "var" / "state.sqlite3"
    state_retention_days: int = 180
    store_message_texts: bool = False
    log_level: str = "INFO"

    staff_host: str = "127.0.0.1"
    staff_port: int = 8080
    staff_users_file: Path = PROJECT_ROOT / "var" / "staff-users.json"
    staff_audit_log: Path = PROJECT_ROOT / "var" / "staff-audit.jsonl"
    staff_db_path: Path = PROJECT_ROOT / "var" / "staff.sqlite3"
    staff_secure_cookies: bool = False
    staff_with_bot: bool = False
    keep_missed_questions: bool = False
    missed_retention_days: int = 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) over the values in ``env_file``."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update(_read_env_file(env_file))
        values.update(os.environ if environ is None else environ)

        def text(name: str, default: str | None) -> str | None:
            value = values.get(name, "").strip()
            return value or default

        def path(name: str, default: Path) -> Path:
            value = text(name, None)
            if not value:
                return default
            # Relative paths (as in .env.example) are relative to the project, not to the shell.
            return PROJECT_ROOT / Path(value).expanduser()

        defaults = cls()
        state_db_path = path("STATE_DB_PATH", defaults.state_db_path)
        try:
            return cls(
                telegram_bot_token=text("TELEGRAM_BOT_TOKEN", None),
                telegram_base_url=text("TELEGRAM_BASE_URL", defaults.telegram_base_url) or "",
                webhook_url=text("WEBHOOK_URL", None),
                webhook_listen=text("WEBHOOK_LISTEN", defaults.webhook_listen) or "",
                webhook_port=int(text("WEBHOOK_PORT", str(defaults.webhook_port)) or 0),
                webhook_secret=text("WEBHOOK_SECRET", None),
                staff_user_ids=_ids(text("STAFF_USER_IDS", "")),
                staff_chat_id=int(text("STAFF_CHAT_ID", "") or 0) or None,
                female_counsellor_ids=_ids(text("FEMALE_COUNSELLOR_IDS", "")),
                handoff_retention_hours=int(text("HANDOFF_RETENTION_HOURS", "72") or 0),
                content_dir=path("CONTENT_DIR", defaults.content_dir),
                content_city=text("CONTENT_CITY", defaults.content_city) or "",
                content_reload_seconds=float(text("CONTENT_RELOAD_SECONDS", "5") or 0),
                serve_drafts=_flag(values, "SERVE_DRAFTS", defaults.serve_drafts),
                default_language=text("DEFAULT_LANGUAGE", defaults.default_language) or "",
                female_counsellor_available=_flag(
                    values, "FEMALE_COUNSELLOR_AVAILABLE", defaults.female_counsellor_available
                ),
                nlu_backend=(text("NLU_BACKEND", defaults.nlu_backend) or "").lower(),
                nlu_data_dir=path("NLU_DATA_DIR", defaults.nlu_data_dir),
                nlu_config=path("NLU_CONFIG", defaults.nlu_config),
                catalogue_path=path("INTENT_CATALOGUE", defaults.catalogue_path),
                model_cache_dir=path("MODEL_CACHE_DIR", defaults.model_cache_dir),
                rasa_url=(text("RASA_URL", defaults.rasa_url) or "").rstrip("/"),
                rasa_token=text("RASA_TOKEN", None),
                rasa_timeout_seconds=float(text("RASA_TIMEOUT_SECONDS", "1.0") or 0),
                state_db_path=state_db_path,
                state_retention_days=int(text("STATE_RETENTION_DAYS", "180") or 0),
                store_message_texts=_flag(values, "STORE_MESSAGE_TEXTS", defaults.store_message_texts),
                log_level=(text("LOG_LEVEL", "INFO") or "INFO").upper(),
                staff_host=text("STAFF_HOST", defaults.staff_host) or "",
                staff_port=int(text("STAFF_PORT", str(defaults.staff_port)) or 0),
                staff_users_file=path("STAFF_USERS_FILE", defaults.staff_users_file),
                staff_audit_log=path("STAFF_AUDIT_LOG", defaults.staff_audit_log),
                # Beside the bot's state by default: the same volume in Docker, the same tmp dir in tests.
                staff_db_path=path("STAFF_DB_PATH", state_db_path.parent / "staff.sqlite3"),
                staff_secure_cookies=_flag(values, "STAFF_SECURE_COOKIES", defaults.staff_secure_cookies),
                staff_with_bot=_flag(values, "STAFF_WITH_BOT", defaults.staff_with_bot),
                keep_missed_questions=_flag(values, "KEEP_MISSED_QUESTIONS", defaults.keep_missed_questions),
                missed_retention_days=int(text("MISSED_RETENTION_DAYS", "30") or 0),
            )._validated()
        except ValueError as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(f"invalid setting: {exc}") from exc

    def _validated(self) -> Settings:
        if self.nlu_backend not in {"embedded", "rasa"}:
            raise SettingsError(f"NLU_BACKEND must be 'embedded' or 'rasa', not {self.nlu_backend!r}")
        if self.webhook_url and not self.webhook_secret:
            raise SettingsError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        if self.handoff_retention_hours < 0:
            raise SettingsError("HANDOFF_RETENTION_HOURS must not be negative")
        if self.staff_users_file.resolve().is_relative_to(self.content_dir.resolve()):
            raise SettingsError("STAFF_USERS_FILE must be outside CONTENT_DIR (password hashes are not content)")
        return self

    @property
    def city_content_dir(self) -> Path:
        """``responses/<city>``."""
        return self.content_dir / self.content_city


def _ids(raw: str | None) -> frozenset[int]:
    """Comma- or space-separated Telegram ids."""
    return frozenset(int(part) for part in (raw or "").replace(",", " ").split())


def _flag(values: Mapping[str, str], name: str, default: bool) -> bool:
    raw = values.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines; ``#`` comments and blank lines are skipped; quotes are removed."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values
