"""Sessions, CSRF tokens and login throttling, all in memory and driven by an injected clock.

Sessions are server-side: the cookie carries only a random id, so nothing in it can be forged or
read, and logging out really ends the session. A restart logs everyone out, which is acceptable
for a small office tool.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]  # seconds, monotonic enough for expiry (time.time in production)

SESSION_IDLE_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000  # anyone may open the login page; memory stays bounded
MAX_TRACKED_NAMES = 10_000
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60


@dataclass
class Session:
    """One browser's session; ``user`` is None before login (the login form still needs CSRF)."""

    id: str
    csrf_token: str
    last_seen: float
    user: str | None = None
    flash: list[str] = field(default_factory=list)


class SessionStore:
    """Random session ids mapped to sessions, expiring after ``idle_seconds`` without use."""

    def __init__(self, clock: Clock, idle_seconds: float = SESSION_IDLE_SECONDS) -> None:
        self.clock = clock
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}

    def new(self, user: str | None = None) -> Session:
        """A fresh session with its own CSRF token."""
        self._drop_expired()
        if len(self._sessions) >= MAX_SESSIONS:
            # Dict order is creation order: the oldest sessions go first.
            for stale in list(self._sessions)[: len(self._sessions) - MAX_SESSIONS + 1]:
                del self._sessions[stale]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock(), user)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, touched; None when unknown or expired."""
        session = self._sessions.get(session_id or "")
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > self.idle_seconds:
            del self._sessions[session.id]
            return None
        session.last_seen = now
        return session

    def end(self, session_id: str) -> None:
        """Forget the session (logout)."""
        self._sessions.pop(session_id, None)

    def end_user(self, user: str) -> None:
        """End every session of ``user`` (password change, account removed)."""
        for session in [s for s in self._sessions.values() if s.user == user]:
            del self._sessions[session.id]

    def _drop_expired(self) -> None:
        now = self.clock()
        for session in [s for s in self._sessions.values() if now - s.last_seen > self.idle_seconds]:
            del self._sessions[session.id]


def csrf_matches(session: Session, submitted: str | None) -> bool:
    """Constant-time comparison of the submitted token with the session's."""
    return bool(submitted) and hmac.compare_digest(session.csrf_token, str(submitted))


class LoginThrottle:
    """After ``max_failures`` wrong passwords for a name, that name is locked for ``lock_seconds``.

    Counting per name (known or not) stops password guessing from many addresses; the lock ends
    by itself, so an attacker cannot keep staff out for longer than the lock period per attempt burst.
    """

    def __init__(self, clock: Clock, max_failures: int = MAX_FAILURES, lock_seconds: float = LOCK_SECONDS) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.lock_seconds = lock_seconds
        self._failures: dict[str, list[float]] = {}

    def locked_for(self, name: str) -> float:
        """Seconds until ``name`` may try again (0 when not locked)."""
        recent = self._recent(name)
        if len(recent) < self.max_failures:
            return 0.0
        return max(0.0, recent[-1] + self.lock_seconds - self.clock())

    def failed(self, name: str) -> None:
        """Record a wrong password for ``name``."""
        if len(self._failures) >= MAX_TRACKED_NAMES:
            self._failures = {key: times for key, times in self._failures.items() if self._recent(key)}
        self._failures[self._key(name)] = [*self._recent(name), self.clock()][-self.max_failures :]

    def succeeded(self, name: str) -> None:
        """A good password clears the count."""
        self._failures.pop(self._key(name), None)

    def _recent(self, name: str) -> list[float]:
        now = self.clock()
        return [at for at in self._failures.get(self._key(name), []) if now - at < self.lock_seconds]

    @staticmethod
    def _key(name: str) -> str:
        return name.strip().casefold()
