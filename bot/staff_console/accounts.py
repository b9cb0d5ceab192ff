"""Staff accounts: names, roles, languages and cities, with Argon2 password hashes in a JSON file.

The file lives outside ``responses/`` (setting ``STAFF_USERS_FILE``) and is written atomically
with owner-only permissions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.staff_console.files import write_atomically

ROLES = ("translator", "reviewer", "admin")
# Verifying against this keeps the time of a login for an unknown name like that of a real one.
_DUMMY_PASSWORD = "not-a-real-password"


class AccountError(ValueError):
    """A user that cannot be added as asked."""


@dataclass(frozen=True)
class StaffUser:
    """One staff member. Empty ``languages``/``cities`` mean all (reviewers and admins only)."""

    name: str
    role: str
    password_hash: str = field(repr=False)
    languages: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        """Admins manage users and see everything."""
        return self.role == "admin"

    @property
    def can_review(self) -> bool:
        """Reviewers and admins may mark an answer reviewed."""
        return self.role in {"reviewer", "admin"}

    def may_edit(self, city: str, language: str) -> bool:
        """Translators only in their languages; everyone only in their cities."""
        if self.cities and city not in self.cities:
            return False
        return not self.languages or language in self.languages

    def may_see_city(self, city: str) -> bool:
        """A user limited to some cities does not see the others."""
        return not self.cities or city in self.cities


class UserStore:
    """The accounts file; reread on every lookup so ``staff-user add`` takes effect at once."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash = self.hasher.hash(_DUMMY_PASSWORD)

    def users(self) -> list[StaffUser]:
        """Every account, sorted by name."""
        if not self.path.is_file():
            return []
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        return sorted(
            (
                StaffUser(
                    name=str(entry["name"]),
                    role=str(entry["role"]),
                    password_hash=str(entry["password_hash"]),
                    languages=tuple(entry.get("languages", ())),
                    cities=tuple(entry.get("cities", ())),
                )
                for entry in raw.get("users", [])
            ),
            key=lambda user: user.name,
        )

    def get(self, name: str) -> StaffUser | None:
        """The account called ``name``."""
        return next((user for user in self.users() if user.name == name), None)

    def add(
        self, name: str, role: str, password: str, languages: tuple[str, ...] = (), cities: tuple[str, ...] = ()
    ) -> StaffUser:
        """Create or replace the account ``name``."""
        if not name.strip() or any(char.isspace() for char in name):
            raise AccountError("the name must be one word without spaces")
        if role not in ROLES:
            raise AccountError(f"the role must be one of {', '.join(ROLES)}")
        if role == "translator" and not languages:
            raise AccountError("a translator needs --languages (for example --languages ar,fa)")
        if len(password) < 10:
            raise AccountError("the password must have at least 10 characters")
        user = StaffUser(name, role, self.hasher.hash(password), languages, cities)
        others = [existing for existing in self.users() if existing.name != name]
        self._write([*others, user])
        return user

    def remove(self, name: str) -> bool:
        """Delete the account ``name``; True if it existed."""
        users = self.users()
        kept = [user for user in users if user.name != name]
        self._write(kept)
        return len(kept) != len(users)

    def authenticate(self, name: str, password: str) -> StaffUser | None:
        """The user when the password matches; as slow for unknown names as for known ones."""
        user = self.get(name)
        try:
            self.hasher.verify(user.password_hash if user else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def _write(self, users: list[StaffUser]) -> None:
        payload = {
            "users": [
                {**asdict(user), "languages": list(user.languages), "cities": list(user.cities)} for user in users
            ]
        }
        write_atomically(self.path, json.dumps(payload, ensure_ascii=False, indent=2) + "\n", mode=0o600)
