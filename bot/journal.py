"""The update journal: no Telegram update is lost when the bot crashes.

An update is written here (SQLite, fsynced) before Telegram is told it arrived (the next
``getUpdates`` offset, or the webhook's 200), marked handled once answered, and the ones not yet
handled are handed back at start. Handled updates keep only their ``update_id`` (no text, no user)
for a day, the time Telegram may deliver an update again, so a repeat is recognised and skipped:
handling is idempotent by ``update_id``.

The Bot API answers to the calls made while handling an update (the reply's messages) are kept
until the update is handled. When an interrupted update is handled again, its calls that had
already succeeded are answered from the journal instead of being made again: a crash between the
first and the last message of a reply does not send the first one twice.

A call is also marked the moment its request is handed to the network, before any answer
(``call_written``; cleared by ``call_refused`` when the Bot API answers with an error). A crash
in between leaves a call that Telegram received but whose answer the bot never read: the Bot API
has no idempotency key, so sending it again would show the user the message twice. It is not
sent again: a request fully handed over reaches Telegram even when the process dies (the kernel
still delivers it), so treating it as delivered loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

logger = logging.getLogger(__name__)

KEEP_HANDLED_SECONDS: Final = 24 * 3600  # Telegram keeps an unconfirmed update for 24 hours
# The stored "answer" of a call whose request was sent and whose answer never came (a real answer
# is never empty).
WRITTEN: Final = b""

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    update_id INTEGER PRIMARY KEY,
    payload TEXT,          -- the update's JSON until it is handled, then NULL
    received REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    update_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,  -- the call's place among those made while handling the update
    method TEXT NOT NULL,
    response BLOB NOT NULL,  -- the Bot API's answer, or WRITTEN while it is awaited
    PRIMARY KEY (update_id, seq)
);
"""


@dataclass
class Handling:
    """The update being handled in this task, and its calls that succeeded before a crash."""

    update_id: int
    # seq -> (method, answer, or WRITTEN: sent before the crash, answer not read)
    earlier: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    calls: int = 0

    def next_call(self) -> int:
        """The place of the next Bot API call."""
        self.calls += 1
        return self.calls


# Set by the update processor around the handling of each update (per asyncio task).
HANDLING: ContextVar[Handling | None] = ContextVar("handling", default=None)


class UpdateJournal:
    """Durable record of received updates, in one SQLite file (or ``:memory:`` in tests)."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        if self.path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._in_progress: set[int] = set()
        # Recorded (or handed back by pending()) and not yet handled: claim() needs no query.
        self._unhandled: set[int] = set()
        self._failing = False
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # Marking updates handled need not wait for the disk (a crash of the process loses no
            # committed write in WAL mode); recording them does: see record().
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Handled payloads are overwritten, not just unlinked (they hold user texts).
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)

    async def unblocked(self, call: Callable[[], T]) -> T:
        """``call`` (a method of this journal) now, or in a thread while the journal is busy.

        ``record`` holds the journal while its commit waits for the disk; the event loop must not
        wait with it. The common case stays in the loop: a thread hop costs more than the call.
        """
        if self._lock.locked():
            return await asyncio.to_thread(call)
        return call()

    def record(self, updates: Iterable[dict[str, Any]]) -> list[int]:
        """Store updates before they are acknowledged; returns the ids that were new."""
        rows = [(u["update_id"], json.dumps(u, ensure_ascii=False), self._clock()) for u in updates]
        if not rows:
            return []
        with self._lock:
            known = self._known([row[0] for row in rows])
            fresh = [row for row in rows if row[0] not in known]
            # FULL for this commit only: a recorded update survives a power cut too.
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO updates (update_id, payload, received) VALUES (?, ?, ?)", fresh
                )
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._unhandled.update(row[0] for row in fresh)
        return [row[0] for row in fresh]

    def claim(self, update_id: int) -> bool:
        """Whether to handle this update now: False if it is handled or being handled already."""
        with self._lock:
            if update_id in self._in_progress:
                return False
            if update_id in self._unhandled:
                self._in_progress.add(update_id)
                return True
            try:
                row = self._db.execute("SELECT payload FROM updates WHERE update_id = ?", (update_id,)).fetchone()
            except sqlite3.Error as exc:
                self._failed(exc)  # unknown: answering twice is better than not at all
                row = None
            if row is not None and row[0] is None:
                return False
            self._in_progress.add(update_id)
        return True

    def done(self, update_id: int) -> None:
        """The update is handled: drop its content, keep its id to recognise a repeat."""
        with self._lock:
            self._in_progress.discard(update_id)
            self._unhandled.discard(update_id)
            try:
                self._db.execute("BEGIN")
                self._db.execute(
                    "INSERT INTO updates (update_id, payload, received) VALUES (?, NULL, ?) "
                    "ON CONFLICT(update_id) DO UPDATE SET payload = NULL",
                    (update_id, self._clock()),
                )
                self._db.execute("DELETE FROM calls WHERE update_id = ?", (update_id,))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._failed(exc)
                return
            if self._failing:
                logger.warning("Update journal %s works again", self.path)
                self._failing = False

    def handling(self, update_id: int) -> Handling:
        """What to set in ``HANDLING`` for this update: with its calls that succeeded earlier.

        Asked for every update, not only the replayed ones: an update handled while its batch was
        being written, then delivered again by Telegram after a crash, has calls here too.
        """
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, method, response FROM calls WHERE update_id = ?", (update_id,)
                ).fetchall()
        except sqlite3.Error as exc:
            self._failed(exc)
            rows = []
        return Handling(update_id, {seq: (method, bytes(response)) for seq, method, response in rows})

    def call_written(self, handling: Handling, seq: int, method: str) -> None:
        """The call's request is being handed to the network: from now on, never make it again."""
        self.call_succeeded(handling, seq, method, WRITTEN)

    def call_succeeded(self, handling: Handling, seq: int, method: str, response: bytes) -> None:
        """Keep a Bot API answer until the update is handled (to replay it after a crash)."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO calls (update_id, seq, method, response) VALUES (?, ?, ?, ?)",
                    (handling.update_id, seq, method, response),
                )
            except sqlite3.Error as exc:
                self._failed(exc)

    def call_refused(self, handling: Handling, seq: int) -> None:
        """The Bot API answered the written call with an error: it did nothing, it may be made again."""
        with self._lock:
            try:
                self._db.execute(
                    "DELETE FROM calls WHERE update_id = ? AND seq = ? AND response = ?",
                    (handling.update_id, seq, WRITTEN),
                )
            except sqlite3.Error as exc:
                self._failed(exc)

    def release(self, update_id: int) -> None:
        """Handling was interrupted (shutdown): the update stays pending, replayed at next start."""
        with self._lock:
            self._in_progress.discard(update_id)

    def pending(self) -> list[dict[str, Any]]:
        """Updates recorded but not handled (a crash came between), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT payload FROM updates WHERE payload IS NOT NULL ORDER BY update_id"
            ).fetchall()
            updates = [json.loads(row[0]) for row in rows]
            self._unhandled.update(u["update_id"] for u in updates)
        return updates

    def compact(self) -> int:
        """Forget handled ids older than a day and empty the write-ahead log; returns rows deleted.

        The log still holds copies of handled payloads until a checkpoint: run this often (the
        bot does every few seconds) so a user's texts do not stay readable on disk.
        """
        cutoff = self._clock() - KEEP_HANDLED_SECONDS
        with self._lock:
            cursor = self._db.execute("DELETE FROM updates WHERE payload IS NULL AND received < ?", (cutoff,))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return cursor.rowcount

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _failed(self, exc: sqlite3.Error) -> None:
        if not self._failing:
            logger.error("Update journal %s failing (%s): a crash now may repeat or lose updates", self.path, exc)
        self._failing = True

    def _known(self, update_ids: Sequence[int]) -> set[int]:
        marks = ",".join("?" * len(update_ids))
        rows = self._db.execute(f"SELECT update_id FROM updates WHERE update_id IN ({marks})", update_ids)
        return {row[0] for row in rows}
