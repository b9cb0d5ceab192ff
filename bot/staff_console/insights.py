"""What the console learns from the bot: daily anonymous counts, and the questions it missed.

The bot process records through :class:`QuestionRecorder` (hooked into the dialogue core); the
console reads the same SQLite file. Counts carry no user id. Question texts are kept only when the
operator enables it (``KEEP_MISSED_QUESTIONS``), without any user id, and deleted after the
retention period.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.storage import storable_text
from nlu.types import FALLBACK_INTENT, ParseResult

logger = logging.getLogger(__name__)

Today = Callable[[], dt.date]

MISSED_STATES = ("open", "assigned", "dismissed", "new_topic")
GUESSES_KEPT = 3
# A 👎 comes right after the answer it judges; the question waits this long in memory for it.
_FEEDBACK_WINDOW_SECONDS = 30 * 60
_PENDING_LIMIT = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS daily_counts (
    day TEXT NOT NULL,
    city TEXT NOT NULL,
    metric TEXT NOT NULL,
    language TEXT NOT NULL,
    intent TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, city, metric, language, intent)
);
CREATE TABLE IF NOT EXISTS missed_questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    day TEXT NOT NULL,
    city TEXT NOT NULL,
    language TEXT NOT NULL,
    reason TEXT NOT NULL,
    text TEXT NOT NULL,
    guesses TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    intent TEXT
);
"""


@dataclass(frozen=True)
class Guess:
    """One of the model's best intents for a missed question."""

    intent: str
    confidence: float


@dataclass(frozen=True)
class MissedQuestion:
    """A question that ended in a fallback (``reason`` fallback) or a 👎 (``reason`` feedback_down)."""

    id: int
    day: dt.date
    city: str
    language: str
    reason: str
    text: str
    guesses: tuple[Guess, ...]
    status: str
    intent: str | None


@dataclass(frozen=True)
class DailyCount:
    """One day's count of a metric (question, fallback, feedback_down) per language and intent."""

    day: dt.date
    metric: str
    language: str
    intent: str
    count: int


class InsightStore:
    """The console's SQLite file; each call is one short transaction, safe across threads."""

    def __init__(self, path: Path | str, today: Today, retention_days: int = 30) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.today = today
        self.retention_days = retention_days
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL never corrupts the file and a crash of the process loses nothing; a
            # power cut may lose the last counts. FULL made each question wait for the disk (about
            # 1 ms) inside the bot's event loop.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=2000")  # the bot and the console share the file
            self._db.executescript(_SCHEMA)

    def count(self, city: str, metric: str, language: str, intent: str = "") -> None:
        """Add one to today's count."""
        with self._lock:
            self._db.execute(
                "INSERT INTO daily_counts VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT(day, city, metric, language, intent) "
                "DO UPDATE SET count = count + 1",
                (self.today().isoformat(), city, metric, language, intent),
            )

    def daily(self, city: str, since: dt.date) -> list[DailyCount]:
        """Counts from ``since`` on, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT day, metric, language, intent, count FROM daily_counts WHERE city = ? AND day >= ? "
                "ORDER BY day, metric, language, intent",
                (city, since.isoformat()),
            ).fetchall()
        return [DailyCount(dt.date.fromisoformat(row[0]), row[1], row[2], row[3], row[4]) for row in rows]

    def keep_missed(self, city: str, language: str, reason: str, text: str, guesses: list[Guess]) -> None:
        """Keep a missed question's text (no user id) for staff to sort."""
        payload = json.dumps([[guess.intent, round(guess.confidence, 3)] for guess in guesses])
        with self._lock:
            self._db.execute(
                "INSERT INTO missed_questions (day, city, language, reason, text, guesses) VALUES (?, ?, ?, ?, ?, ?)",
                (self.today().isoformat(), city, language, reason, text[:500], payload),
            )

    def missed(self, city: str, language: str | None = None, status: str = "open") -> list[MissedQuestion]:
        """Missed questions of a city, newest first."""
        query = "SELECT * FROM missed_questions WHERE city = ? AND status = ?"
        parameters: list[str] = [city, status]
        if language:
            query += " AND language = ?"
            parameters.append(language)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC LIMIT 500", parameters).fetchall()
        return [_missed(row) for row in rows]

    def missed_counts(self, city: str) -> dict[str, int]:
        """Open missed questions per language."""
        with self._lock:
            rows = self._db.execute(
                "SELECT language, COUNT(*) FROM missed_questions WHERE city = ? AND status = 'open' GROUP BY language",
                (city,),
            ).fetchall()
        return {str(language): int(count) for language, count in rows}

    def get(self, question_id: int) -> MissedQuestion | None:
        """One missed question."""
        with self._lock:
            row = self._db.execute("SELECT * FROM missed_questions WHERE id = ?", (question_id,)).fetchone()
        return _missed(row) if row else None

    def set_status(self, question_id: int, status: str, intent: str | None = None) -> None:
        """Assigned (to ``intent``), dismissed, or a new topic needed."""
        if status not in MISSED_STATES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            self._db.execute(
                "UPDATE missed_questions SET status = ?, intent = ? WHERE id = ?", (status, intent, question_id)
            )

    def purge_expired(self) -> int:
        """Delete question texts older than the retention period; returns how many."""
        cutoff = (self.today() - dt.timedelta(days=self.retention_days)).isoformat()
        with self._lock:
            cursor = self._db.execute("DELETE FROM missed_questions WHERE day < ?", (cutoff,))
        return cursor.rowcount

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _missed(row: tuple[object, ...]) -> MissedQuestion:
    guesses = tuple(Guess(str(name), float(confidence)) for name, confidence in json.loads(str(row[6])))
    return MissedQuestion(
        id=int(str(row[0])),
        day=dt.date.fromisoformat(str(row[1])),
        city=str(row[2]),
        language=str(row[3]),
        reason=str(row[4]),
        text=str(row[5]),
        guesses=guesses,
        status=str(row[7]),
        intent=str(row[8]) if row[8] is not None else None,
    )


class QuestionRecorder:
    """The dialogue core's hook: counts every question, keeps missed ones when enabled.

    For a 👎, the question that got the answer is needed; it is held in memory (keyed by the
    channel's user key, never written) for a short while, and only when keeping texts is enabled.
    """

    def __init__(self, store: InsightStore, city: str, keep_texts: bool, clock: Callable[[], float]) -> None:
        self.store = store
        self.city = city
        self.keep_texts = keep_texts
        self.clock = clock
        self._last_question: OrderedDict[str, tuple[float, str, list[Guess]]] = OrderedDict()
        self._failing = False

    def parsed(self, user_key: str, text: str, language: str, parse: ParseResult) -> None:
        """A typed question and the model's verdict; a failing figures database never stops the answer."""
        self._safely("record a question", lambda: self._parsed(user_key, storable_text(text), language, parse))

    def feedback_down(self, user_key: str, language: str, intent: str) -> None:
        """A 👎 under the answer to ``intent``; a failing figures database never stops the reply."""
        self._safely("record a 👎", lambda: self._feedback_down(user_key, language, intent))

    def _safely(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except (sqlite3.Error, OSError) as exc:
            if not self._failing:  # one warning per incident, not per message
                logger.warning("Staff figures: could not %s (%s); figures are dropped until it works", what, exc)
            self._failing = True
        else:
            if self._failing:
                logger.warning("Staff figures: the database works again")
            self._failing = False

    def _parsed(self, user_key: str, text: str, language: str, parse: ParseResult) -> None:
        intent = parse["intent"]["name"]
        guesses = [
            Guess(score["name"], float(score["confidence"]))
            for score in parse["intent_ranking"]
            if score["name"] != FALLBACK_INTENT
        ][:GUESSES_KEPT]
        if intent == FALLBACK_INTENT:
            self.store.count(self.city, "fallback", language)
            if self.keep_texts:
                self.store.keep_missed(self.city, language, "fallback", text, guesses)
            return
        self.store.count(self.city, "question", language, intent)
        if self.keep_texts:
            self._last_question[user_key] = (self.clock(), text, guesses)
            self._last_question.move_to_end(user_key)
            while len(self._last_question) > _PENDING_LIMIT:
                self._last_question.popitem(last=False)

    def _feedback_down(self, user_key: str, language: str, intent: str) -> None:
        self.store.count(self.city, "feedback_down", language, intent)
        pending = self._last_question.pop(user_key, None)
        if pending is None or self.clock() - pending[0] > _FEEDBACK_WINDOW_SECONDS:
            return
        _at, text, guesses = pending
        self.store.keep_missed(self.city, language, "feedback_down", text, guesses)
