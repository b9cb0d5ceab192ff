"""What the bot remembers, behind one small interface; SQLite by default.

Stored per user: the chosen language and the last topic, with the day of last use (rows unused for
``retention_days`` are deleted). Counts per intent and language and feedback are kept without any
user id. Message texts are stored only when an operator opts in, and then without user ids.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_state (
    user_key TEXT PRIMARY KEY,
    language TEXT,
    last_intent TEXT,
    last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    metric TEXT NOT NULL,
    language TEXT NOT NULL,
    intent TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (metric, language, intent)
);
CREATE TABLE IF NOT EXISTS message_log (
    day TEXT NOT NULL,
    language TEXT,
    intent TEXT,
    confidence REAL,
    text TEXT NOT NULL
);
"""


@dataclass
class UserState:
    """One user's state: their chosen language and the topic of their last question."""

    user_key: str
    language: str | None = None
    last_intent: str | None = None


@dataclass(frozen=True)
class Counter:
    """An aggregate count; never tied to a user."""

    metric: str
    language: str
    intent: str
    count: int


class StateStore(Protocol):
    """Storage used by the dialogue core and the channels."""

    def load(self, user_key: str) -> UserState:
        """The user's state (a fresh one when unknown)."""
        ...

    def save(self, state: UserState) -> None:
        """Persist the user's state."""
        ...

    def forget(self, user_key: str) -> bool:
        """Delete everything stored about the user; True if there was something."""
        ...

    def count(self, metric: str, language: str, intent: str = "") -> None:
        """Add one to an anonymous counter (question, fallback, feedback_up, …)."""
        ...

    def counters(self) -> list[Counter]:
        """Every counter."""
        ...

    def log_message(self, text: str, language: str | None, intent: str, confidence: float) -> None:
        """Keep a message text for improving the model: only when the operator opted in."""
        ...

    def close(self) -> None:
        """Close the database."""
        ...


class SQLiteStore:
    """``StateStore`` in one SQLite file (or ``:memory:``); each call is one short transaction."""

    def __init__(self, path: Path | str, retention_days: int = 180, keep_message_texts: bool = False) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.keep_message_texts = keep_message_texts
        # One connection guarded by a lock: calls are sub-millisecond, and the lock lets the CLI
        # and worker threads share it safely.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL never corrupts the file; a power cut may lose the last writes (a
            # language choice), and each write no longer waits for the disk inside the event loop.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self.purge_expired()

    def load(self, user_key: str) -> UserState:
        """See :class:`StateStore`."""
        with self._lock:
            row = self._db.execute(
                "SELECT language, last_intent FROM user_state WHERE user_key = ?", (user_key,)
            ).fetchone()
        return UserState(user_key, row[0], row[1]) if row else UserState(user_key)

    def save(self, state: UserState) -> None:
        """See :class:`StateStore`."""
        with self._lock:
            self._db.execute(
                "INSERT INTO user_state (user_key, language, last_intent, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(user_key) DO UPDATE SET language = excluded.language, "
                "last_intent = excluded.last_intent, last_seen = excluded.last_seen",
                (state.user_key, state.language, state.last_intent, _today()),
            )

    def forget(self, user_key: str) -> bool:
        """See :class:`StateStore`."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM user_state WHERE user_key = ?", (user_key,))
        return cursor.rowcount > 0

    def count(self, metric: str, language: str, intent: str = "") -> None:
        """See :class:`StateStore`."""
        with self._lock:
            self._db.execute(
                "INSERT INTO counters (metric, language, intent, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT(metric, language, intent) DO UPDATE SET count = count + 1",
                (metric, language, intent),
            )

    def counters(self) -> list[Counter]:
        """See :class:`StateStore`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT metric, language, intent, count FROM counters ORDER BY metric, language, intent"
            ).fetchall()
        return [Counter(*row) for row in rows]

    def log_message(self, text: str, language: str | None, intent: str, confidence: float) -> None:
        """See :class:`StateStore`; does nothing unless ``keep_message_texts`` is on."""
        if not self.keep_message_texts:
            return
        with self._lock:
            self._db.execute(
                "INSERT INTO message_log (day, language, intent, confidence, text) VALUES (?, ?, ?, ?, ?)",
                (_today(), language, intent, confidence, text[:1000]),
            )

    def purge_expired(self) -> int:
        """Delete user rows not used for ``retention_days``; returns how many."""
        cutoff = (dt.date.today() - dt.timedelta(days=self.retention_days)).isoformat()
        with self._lock:
            cursor = self._db.execute("DELETE FROM user_state WHERE last_seen < ?", (cutoff,))
        return cursor.rowcount

    def close(self) -> None:
        """See :class:`StateStore`."""
        with self._lock:
            self._db.close()


def _today() -> str:
    # Day granularity on purpose: we do not need to know when exactly someone wrote.
    return dt.date.today().isoformat()
