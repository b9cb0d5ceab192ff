"""What the bot process needs from the console: the question recorder and the model watcher."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time

from bot.settings import Settings
from bot.staff_console.insights import InsightStore, QuestionRecorder
from bot.staff_console.retraining import ModelWatcher
from nlu.embedded import EmbeddedBackend

logger = logging.getLogger(__name__)


def question_recorder(settings: Settings, in_memory: bool = False) -> QuestionRecorder:
    """Daily counts always (anonymous); missed question texts only with ``KEEP_MISSED_QUESTIONS``."""
    path = ":memory:" if in_memory else settings.staff_db_path
    try:
        store = InsightStore(path, dt.date.today, settings.missed_retention_days)
    except (OSError, sqlite3.Error) as exc:
        # The bot must answer all the same: the figures then live in memory until the next start.
        logger.error("Staff figures cannot be stored at %s (%s): kept in memory", path, exc)
        store = InsightStore(":memory:", dt.date.today, settings.missed_retention_days)
    return QuestionRecorder(store, settings.city, settings.keep_missed_questions, time.monotonic)


def retrained_model_watcher(settings: Settings, backend: EmbeddedBackend) -> ModelWatcher:
    """Swaps in the models the console retrains for this bot's city (call ``check`` when polling).

    Same data, cache folder and city folder as the bot's start-up (``bot.services``), so the
    watcher loads the very model the console trained.
    """
    return ModelWatcher(
        settings.model_cache_dir, settings.city, backend, settings.nlu_data_dir, settings.city_content_dir
    )
