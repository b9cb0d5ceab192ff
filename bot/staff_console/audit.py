"""The audit log: who changed, reviewed, assigned or administered what, one JSON object per line."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class AuditLog:
    """Append-only JSON lines; ``recent`` reads the end back for the console."""

    def __init__(self, path: Path, now: Callable[[], dt.datetime]) -> None:
        self.path = path
        self.now = now
        self._lock = threading.Lock()

    def record(self, user: str, action: str, **details: str) -> None:
        """Append one entry: when, who, what, and details such as city, language, intent, file."""
        entry = {"at": self.now().isoformat(timespec="seconds"), "user": user, "action": action, **details}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` entries, newest first."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()[-limit:]
        return [json.loads(line) for line in reversed(lines) if line.strip()]
