"""What the bot process needs from the console: the question recorder and the model watcher."""

from __future__ import annotations

import datetime as dt
import time

from bot.settings import Settings
from bot.staff_console.insights import InsightStore, QuestionRecorder
from bot.staff_console.retraining import ModelWatcher
from nlu.embedded import EmbeddedBackend


def question_recorder(settings: Settings, in_memory: bool = False) -> QuestionRecorder:
    """Daily counts always (anonymous); missed question texts only with ``KEEP_MISSED_QUESTIONS``."""
    store = InsightStore(
        ":memory:" if in_memory else settings.staff_db_path, dt.date.today, settings.missed_retention_days
    )
    return QuestionRecorder(store, settings.city, settings.keep_missed_questions, time.monotonic)


def retrained_model_watcher(settings: Settings, backend: EmbeddedBackend) -> ModelWatcher:
    """Swaps in the models the console retrains for this bot's city (call ``check`` when polling).

    Same data, cache folder and city folder as the bot's start-up (``bot.services``), so the
    watcher loads the very model the console trained.
    """
    return ModelWatcher(
        settings.model_cache_dir, settings.city, backend, settings.nlu_data_dir, settings.city_content_dir
    )
