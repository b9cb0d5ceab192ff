"""What the hand-off and the chat eraser remember, in their own SQLite tables (no message texts).

- ``handoff``: one row per user with a conversation: the pseudonymous case code, the forum topic
  it lives in, its state and timestamps. Deleted ``retention`` after the conversation ends, or at
  once by ``/forget``.
- ``message_ids``: the ids (never the texts) of the messages in a private chat during the last
  48 hours, so "Delete this chat" can delete them; ``older_messages`` counts, per chat, the ids
  dropped when they became too old to delete, so the bot can say what it could not delete.

The file may be the one ``StateStore`` uses: this class opens its own connection.
``secure_delete`` overwrites deleted rows with zeros instead of leaving them in free pages.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ConversationState = Literal["open", "closed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff (
    user_key TEXT PRIMARY KEY,
    case_code TEXT NOT NULL UNIQUE,
    topic_id INTEGER UNIQUE,
    state TEXT NOT NULL,
    notice_sent INTEGER NOT NULL DEFAULT 0,
    opened_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS message_ids (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX IF NOT EXISTS message_ids_at ON message_ids (at);
CREATE TABLE IF NOT EXISTS older_messages (
    chat_id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Conversation:
    """One user's conversation with the office; times are Unix seconds."""

    user_key: str
    case_code: str
    topic_id: int | None
    state: ConversationState
    notice_sent: bool
    opened_at: float
    updated_at: float

    @property
    def is_open(self) -> bool:
        """True while messages are relayed."""
        return self.state == "open"


class HandoffStore:
    """The two small tables above, behind one lock (calls are sub-millisecond)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    # ----- conversations -------------------------------------------------------------------------

    def by_user(self, user_key: str) -> Conversation | None:
        """The user's conversation (open or recently closed)."""
        return self._one("WHERE user_key = ?", (user_key,))

    def by_topic(self, topic_id: int) -> Conversation | None:
        """The conversation living in forum topic ``topic_id``."""
        return self._one("WHERE topic_id = ?", (topic_id,))

    def by_case(self, case_code: str) -> Conversation | None:
        """The conversation with this case code."""
        return self._one("WHERE case_code = ?", (case_code,))

    def put(self, conversation: Conversation) -> None:
        """Insert or replace the user's conversation."""
        c = conversation
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO handoff "
                "(user_key, case_code, topic_id, state, notice_sent, opened_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (c.user_key, c.case_code, c.topic_id, c.state, int(c.notice_sent), c.opened_at, c.updated_at),
            )

    def delete(self, user_key: str) -> bool:
        """Delete the user's conversation row; True if there was one."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM handoff WHERE user_key = ?", (user_key,))
        return cursor.rowcount > 0

    def delete_closed_before(self, cutoff: float) -> int:
        """Delete conversations closed before ``cutoff``; returns how many."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM handoff WHERE state = 'closed' AND updated_at < ?", (cutoff,))
        return cursor.rowcount

    def open_idle_before(self, cutoff: float) -> list[Conversation]:
        """Open conversations with no message since ``cutoff``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT user_key FROM handoff WHERE state = 'open' AND updated_at < ?", (cutoff,)
            ).fetchall()
        found = [self.by_user(row[0]) for row in rows]
        return [conversation for conversation in found if conversation is not None]

    # ----- message ids for "Delete this chat" ----------------------------------------------------

    def add_message_id(self, chat_id: int, message_id: int, at: float) -> None:
        """Remember that message ``message_id`` exists in private chat ``chat_id`` since ``at``."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO message_ids (chat_id, message_id, at) VALUES (?, ?, ?)",
                (chat_id, message_id, at),
            )

    def message_ids(self, chat_id: int, since: float) -> list[int]:
        """The chat's message ids recorded at or after ``since``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT message_id FROM message_ids WHERE chat_id = ? AND at >= ? ORDER BY message_id",
                (chat_id, since),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def remove_message_ids(self, chat_id: int, message_ids: Iterable[int]) -> None:
        """Forget ids (deleted, or found undeletable)."""
        with self._lock:
            self._db.executemany(
                "DELETE FROM message_ids WHERE chat_id = ? AND message_id = ?",
                [(chat_id, message_id) for message_id in message_ids],
            )

    def expire_message_ids(self, before: float, now: float) -> int:
        """Drop ids recorded before ``before``, adding them to each chat's count of older messages."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO older_messages (chat_id, count, updated_at) "
                "SELECT chat_id, COUNT(*), ? FROM message_ids WHERE at < ? GROUP BY chat_id "
                "ON CONFLICT(chat_id) DO UPDATE SET count = count + excluded.count, updated_at = excluded.updated_at",
                (now, before),
            )
            cursor = self._db.execute("DELETE FROM message_ids WHERE at < ?", (before,))
        return cursor.rowcount

    def older_count(self, chat_id: int) -> int:
        """How many of the chat's messages became too old to delete."""
        with self._lock:
            row = self._db.execute("SELECT count FROM older_messages WHERE chat_id = ?", (chat_id,)).fetchone()
        return int(row[0]) if row else 0

    def clear_older_count(self, chat_id: int) -> None:
        """Forget the count once the user has been told."""
        with self._lock:
            self._db.execute("DELETE FROM older_messages WHERE chat_id = ?", (chat_id,))

    def delete_older_counts_before(self, cutoff: float) -> int:
        """Drop counts not updated since ``cutoff``."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM older_messages WHERE updated_at < ?", (cutoff,))
        return cursor.rowcount

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def _one(self, where: str, args: tuple[object, ...]) -> Conversation | None:
        with self._lock:
            row = self._db.execute(
                "SELECT user_key, case_code, topic_id, state, notice_sent, opened_at, updated_at FROM handoff " + where,
                args,
            ).fetchone()
        if row is None:
            return None
        return Conversation(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6])
