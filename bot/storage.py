"""What the bot remembers, behind one small interface; SQLite by default.

Stored per user: the chosen language and the last topic, with the day of last use (rows unused for
``retention_days`` are deleted). Counts per intent and language and feedback are kept without any
user id. Message texts are stored only when an operator opts in, and then without user ids.

The database is never on the critical path of an answer: the channels use :class:`ResilientStore`,
which answers with defaults (a fresh state: the default language) and drops counters while the
file cannot be read or written, warns once per incident, and reconnects when the file is back.
At start the file is checked (``PRAGMA quick_check``); a damaged file is moved aside, kept for the
operator, and a fresh one is started (docs/decisions/reliability.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
REOPEN_AFTER_SECONDS: Final = 30.0  # a database that failed is tried again at most this often

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
    """``StateStore`` in one SQLite file (or ``:memory:``); each call is one short transaction.

    Opening checks the file (``quick_check``): a damaged one is moved aside (kept for the operator)
    and a fresh one started. Errors of a file that cannot be opened or written are raised.
    """

    def __init__(self, path: Path | str, retention_days: int = 180, keep_message_texts: bool = False) -> None:
        self.path = str(path)
        self.retention_days = retention_days
        self.keep_message_texts = keep_message_texts
        self.moved_aside: Path | None = None  # where a damaged file was moved at opening
        if self.path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: calls are sub-millisecond, and the lock lets the CLI
        # and worker threads share it safely.
        self._db = self._connect_checked()
        self._lock = threading.Lock()
        self.inode = _inode(self.path)
        self.purge_expired()

    def _connect_checked(self) -> sqlite3.Connection:
        try:
            return _connect(self.path)
        except sqlite3.DatabaseError as exc:
            if self.path == ":memory:" or not _is_damage(exc):
                raise
            self.moved_aside = _move_aside(Path(self.path))
            logger.error(
                "State database %s is damaged (%s): moved to %s and starting with an empty one. "
                "Languages and counters start afresh; the old file is kept for the operator "
                "(recovery: docs/decisions/reliability.md)",
                self.path,
                exc,
                self.moved_aside,
            )
            return _connect(self.path)

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
        """See :class:`StateStore`; nothing of the row stays readable in the files afterwards.

        ``secure_delete`` overwrites the deleted row with zeros, and the checkpoint copies those
        pages into the main file and empties the write-ahead log that still held the old ones.
        """
        with self._lock:
            cursor = self._db.execute("DELETE FROM user_state WHERE user_key = ?", (user_key,))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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
                (_today(), language, intent, confidence, storable_text(text[:1000])),
            )

    def purge_expired(self) -> int:
        """Delete user rows not used for ``retention_days``; returns how many."""
        cutoff = (dt.date.today() - dt.timedelta(days=self.retention_days)).isoformat()
        with self._lock:
            cursor = self._db.execute("DELETE FROM user_state WHERE last_seen < ?", (cutoff,))
            if cursor.rowcount:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return cursor.rowcount

    def probe(self) -> None:
        """Raise when the database can no longer be read (damaged, gone, disk errors)."""
        with self._lock:
            self._db.execute("SELECT count(*) FROM user_state").fetchone()

    def restore_file(self) -> None:
        """Write the open database back to ``path`` (after the file was deleted under us)."""
        with self._lock:
            self._db.execute("VACUUM INTO ?", (self.path,))

    def close(self) -> None:
        """See :class:`StateStore`."""
        with self._lock:
            self._db.close()


class StorageUnavailable(RuntimeError):
    """The database cannot be used right now (raised only where failing silently would mislead)."""


class ResilientStore:
    """The :class:`StateStore` the bot uses: an ``SQLiteStore`` that never fails an answer.

    While the database cannot be read or written (missing, read-only, full, damaged), reads give
    a fresh state (the default language) and writes are dropped: one warning per incident, not
    per message, and one line when it works again. Only :meth:`forget` raises then, so that nobody
    is told their data is deleted when it was not. :meth:`check_health` (run periodically) reopens
    a database that failed and restores a file deleted while the bot had it open.
    """

    def __init__(
        self,
        open_store: Callable[[], SQLiteStore],
        path: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        reopen_after_s: float = REOPEN_AFTER_SECONDS,
    ) -> None:
        self.path = path
        self._open_store = open_store
        self._clock = clock
        self._reopen_after_s = reopen_after_s
        self._store: SQLiteStore | None = None
        self._failures = 0  # failed calls in the current incident; 0 when healthy
        self._writes_failed = False  # whether writes failed in the current incident
        self._next_reopen = 0.0
        self._reopen()

    @property
    def healthy(self) -> bool:
        """Whether the database is open and its last call worked."""
        return self._store is not None and self._failures == 0

    def load(self, user_key: str) -> UserState:
        """See :class:`StateStore`; a fresh state when the database cannot be read."""
        return self._run("read a user's state", lambda store: store.load(user_key), UserState(user_key), writes=False)

    def save(self, state: UserState) -> None:
        """See :class:`StateStore`; dropped when the database cannot be written."""
        self._run("save a user's state", lambda store: store.save(state), None)

    def count(self, metric: str, language: str, intent: str = "") -> None:
        """See :class:`StateStore`; dropped when the database cannot be written."""
        self._run("count", lambda store: store.count(metric, language, intent), None)

    def log_message(self, text: str, language: str | None, intent: str, confidence: float) -> None:
        """See :class:`StateStore`; dropped when the database cannot be written."""
        if self._store is not None and not self._store.keep_message_texts:
            return  # a write that does not happen must not end an incident of failed writes
        self._run("keep a message text", lambda store: store.log_message(text, language, intent, confidence), None)

    def counters(self) -> list[Counter]:
        """See :class:`StateStore`; empty when the database cannot be read."""
        return self._run("read the counters", lambda store: store.counters(), [], writes=False)

    def forget(self, user_key: str) -> bool:
        """See :class:`StateStore`; raises ``StorageUnavailable`` when it could not be done."""
        result = self._run("forget a user", lambda store: store.forget(user_key), None)
        if result is None:
            raise StorageUnavailable(f"state database {self.path} unavailable: nothing was deleted")
        return result

    def purge_expired(self) -> int:
        """Delete rows unused for the retention period; 0 when the database cannot be written."""
        return self._run("purge expired rows", lambda store: store.purge_expired(), 0)

    def check_health(self) -> None:
        """Periodic check: reopen after failures, restore a file deleted or replaced under us."""
        store = self._store
        if store is None or self._failures:
            self._reopen()
            return
        if store.path != ":memory:" and _inode(store.path) != store.inode:
            self._restore_deleted(store)
            return
        self._run("check the database", lambda current: current.probe(), None, writes=False)

    def close(self) -> None:
        """See :class:`StateStore`."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def _run(self, what: str, action: Callable[[SQLiteStore], T], default: T, *, writes: bool = True) -> T:
        store = self._store
        if store is None and self._clock() >= self._next_reopen:
            store = self._reopen()
        if store is None:
            self._failed(what, None)
            return default
        try:
            result = action(store)
        except (sqlite3.Error, OSError) as exc:
            self._failed(what, exc)
            self._writes_failed = self._writes_failed or writes
            return default
        # A full disk still lets us read: only a write that works ends an incident of failed writes.
        if self._failures and (writes or not self._writes_failed):
            logger.warning("State database %s works again (%d call(s) done without it)", self.path, self._failures)
            self._failures = 0
            self._writes_failed = False
        return result

    def _failed(self, what: str, exc: BaseException | None) -> None:
        self._failures += 1
        if self._failures == 1:
            logger.warning(
                "State database %s: cannot %s (%s); answering without it (default language, "
                "counters dropped) until it works again",
                self.path,
                what,
                exc if exc is not None else "not open",
            )
        else:
            logger.debug("State database %s still failing (%s)", self.path, what)

    def _reopen(self) -> SQLiteStore | None:
        """(Re)open the database; on failure report it with its path and try again later."""
        self._next_reopen = self._clock() + self._reopen_after_s
        if self._store is not None:
            self._store.close()
            self._store = None
        try:
            self._store = self._open_store()
        except (sqlite3.Error, OSError) as exc:
            if not self._failures:
                logger.error(
                    "State database %s cannot be opened (%s): answering without it (default language, "
                    "nothing remembered) and trying again every %.0f s",
                    self.path,
                    exc,
                    self._reopen_after_s,
                )
            self._failures = max(self._failures, 1)
            return None
        if self._failures:
            logger.warning("State database %s opened again", self.path)
            self._failures = 0
            self._writes_failed = False
        return self._store

    def _restore_deleted(self, store: SQLiteStore) -> None:
        """The file was deleted or replaced: write ours back unless a new file is already there."""
        if not Path(store.path).exists():
            logger.error("State database %s was deleted while in use: writing it back from the open copy", store.path)
            try:
                store.restore_file()
            except (sqlite3.Error, OSError) as exc:
                logger.error("State database %s could not be written back (%s)", store.path, exc)
        else:
            logger.warning("State database %s was replaced while in use: opening the new file", store.path)
        self._reopen()


def open_state_store(path: Path | str, retention_days: int = 180, keep_message_texts: bool = False) -> ResilientStore:
    """The bot's store: a resilient ``SQLiteStore`` at ``path`` (reported, not raised, when unusable)."""
    return ResilientStore(lambda: SQLiteStore(path, retention_days, keep_message_texts), str(path))


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        if path != ":memory:":
            status = db.execute("PRAGMA quick_check").fetchone()
            if status is None or status[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {status[0] if status else 'no answer'}")
        db.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL never corrupts the file; a power cut may lose the last writes (a
        # language choice), and each write no longer waits for the disk inside the event loop.
        db.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are overwritten, not just unlinked: /forget leaves nothing to recover.
        db.execute("PRAGMA secure_delete=ON")
        db.executescript(_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """A damaged file, as opposed to one we may not open or write (reported, never moved)."""
    return not isinstance(exc, sqlite3.OperationalError)


def _move_aside(path: Path) -> Path:
    """Rename the file (and its WAL and shared-memory files) to ``<name>.damaged-<time>``."""
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(Path(f"{target}{suffix}"))
    return target


def _inode(path: str) -> int | None:
    try:
        return None if path == ":memory:" else os.stat(path).st_ino
    except OSError:
        return None


def storable_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (which SQLite cannot encode) become U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _today() -> str:
    # Day granularity on purpose: we do not need to know when exactly someone wrote.
    return dt.date.today().isoformat()
