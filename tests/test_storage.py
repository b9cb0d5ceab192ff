"""SQLite state: minimal, forgettable, aggregate counters without user ids, opt-in message log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage import SQLiteStore, UserState


def test_state_survives_a_restart_and_forget_deletes_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SQLiteStore(path)
    store.save(UserState("42", language="ar", last_intent="find_job"))
    store.close()
    reopened = SQLiteStore(path)
    assert reopened.load("42") == UserState("42", "ar", "find_job")
    assert reopened.forget("42") is True
    assert reopened.forget("42") is False
    assert reopened.load("42") == UserState("42")
    reopened.close()


def test_message_texts_are_not_stored_unless_opted_in_and_never_with_user_ids(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    store.log_message("my husband hits me", "en", "domestic_violence", 0.9)
    store.close()
    opted_in = SQLiteStore(path, keep_message_texts=True)
    opted_in.save(UserState("777", "en"))
    opted_in.log_message("where is the cpas", "en", "social_aid", 0.8)
    opted_in.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM message_log").fetchall()
        columns = [c[1] for c in db.execute("PRAGMA table_info(message_log)")]
    assert [row[-1] for row in rows] == ["where is the cpas"]
    assert "user_key" not in columns and all("777" not in map(str, row) for row in rows)


def test_old_rows_are_purged(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    store.save(UserState("old", "fr"))
    store.save(UserState("recent", "fr"))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE user_state SET last_seen = '2020-01-01' WHERE user_key = 'old'")
    assert store.purge_expired() == 1
    assert store.load("old").language is None and store.load("recent").language == "fr"
    store.close()


def test_counters_add_up() -> None:
    store = SQLiteStore(":memory:")
    for _ in range(3):
        store.count("question", "fr", "find_job")
    store.count("fallback", "fr")
    counts = {(c.metric, c.intent): c.count for c in store.counters()}
    assert counts == {("question", "find_job"): 3, ("fallback", ""): 1}
    store.close()
