"""The figures recorder never stands between a newcomer and the answer."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.staff_console.insights import InsightStore, QuestionRecorder
from bot.staff_console.wiring import question_recorder
from nlu.types import ParseResult

PARSE: ParseResult = {
    "text": "je cherche un médecin",
    "intent": {"name": "find_doctor", "confidence": 0.9},
    "intent_ranking": [{"name": "find_doctor", "confidence": 0.9}],
    "entities": [],
}


def test_a_refusing_database_drops_figures_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = InsightStore(":memory:", lambda: dt.date(2026, 12, 6))
    recorder = QuestionRecorder(store, "brussels", keep_texts=True, clock=lambda: 0.0)
    store._db.set_authorizer(lambda action, *_: sqlite3.SQLITE_DENY)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            recorder.parsed("u1", "je cherche un médecin \ud800", "fr", PARSE)
            recorder.feedback_down("u1", "fr", "find_doctor")
    warnings = [r for r in caplog.records if r.name == "bot.staff_console.insights"]
    assert len(warnings) == 1 and "je cherche" not in warnings[0].getMessage()
    store._db.set_authorizer(None)
    recorder.parsed("u1", "je cherche un médecin", "fr", PARSE)
    assert "works again" in caplog.records[-1].getMessage()


def test_an_unopenable_figures_database_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = Settings.from_env(environ={"STAFF_DB_PATH": str(blocker / "staff.sqlite3")}, env_file=None)
    recorder = question_recorder(settings)
    recorder.parsed("u1", "je cherche un médecin", "fr", PARSE)  # answered all the same: no exception
