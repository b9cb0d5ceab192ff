"""The database is never on the critical path: damaged, missing, full or deleted, answers go on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.storage import ResilientStore, SQLiteStore, StorageUnavailable, UserState, open_state_store


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warnings_from_storage(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.storage" and r.levelno >= logging.WARNING]


def test_a_damaged_file_is_moved_aside_and_a_fresh_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    store = SQLiteStore(path)
    assert store.moved_aside is not None and store.moved_aside.read_bytes().startswith(b"SQLite format 3")
    store.save(UserState("1", "nl"))
    assert store.load("1").language == "nl"
    store.close()
    message = warnings_from_storage(caplog)[0]
    assert str(path) in message and str(store.moved_aside) in message and "damaged" in message


def test_a_database_that_cannot_be_opened_is_reported_with_its_path_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's directory should be")
    path = blocker / "state.sqlite3"
    clock = Clock()
    store = ResilientStore(lambda: SQLiteStore(path), str(path), clock=clock, reopen_after_s=30)
    assert not store.healthy
    for _ in range(50):
        assert store.load("7") == UserState("7")
        store.save(UserState("7", "ar"))
        store.count("question", "fr", "find_job")
    with pytest.raises(StorageUnavailable):
        store.forget("7")
    reports = warnings_from_storage(caplog)
    assert len(reports) == 1 and str(path) in reports[0]

    blocker.unlink()  # the operator fixes it
    clock.now += 29
    store.save(UserState("7", "ar"))
    assert not store.healthy  # not tried again before its time
    clock.now += 1
    store.save(UserState("7", "ar"))
    assert store.healthy and store.load("7").language == "ar"
    assert "opened again" in warnings_from_storage(caplog)[-1]
    store.close()


def test_a_full_disk_drops_writes_with_one_warning_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    inner = SQLiteStore(path)
    store = ResilientStore(lambda: inner, str(path))
    pages = inner._db.execute("PRAGMA page_count").fetchone()[0]
    inner._db.execute(f"PRAGMA max_page_count={pages}")  # the file may not grow: "disk is full"
    for user in range(300):
        store.save(UserState(f"user-{user}", "fr"))
        store.count("question", "fr", f"intent-{user}")
    assert store.load("user-299") == UserState("user-299")
    assert len(warnings_from_storage(caplog)) == 1
    assert "full" in warnings_from_storage(caplog)[0]

    inner._db.execute("PRAGMA max_page_count=1073741823")
    store.save(UserState("user-1", "fr"))
    assert store.healthy and store.load("user-1").language == "fr"
    assert "works again" in warnings_from_storage(caplog)[-1]
    store.close()


def test_a_file_deleted_while_running_is_written_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.sqlite3"
    store = open_state_store(path)
    store.save(UserState("1", "uk"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store.check_health()
    assert path.exists() and any("deleted" in m and str(path) in m for m in warnings_from_storage(caplog))
    store.save(UserState("2", "tr"))
    store.close()
    reopened = SQLiteStore(path)
    assert reopened.load("1").language == "uk" and reopened.load("2").language == "tr"
    reopened.close()


def test_the_bot_starts_on_a_damaged_database(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"not a database at all" * 500)
    store = open_state_store(path)
    assert store.healthy
    store.save(UserState("1", "fr"))
    assert store.load("1").language == "fr"
    assert [p.name for p in tmp_path.iterdir() if ".damaged-" in p.name]
    store.close()


def test_forget_leaves_nothing_readable_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SQLiteStore(path)
    user_key = "918273645"
    for number in range(200):
        store.save(UserState(f"{900000000 + number}", "fr", "find_job"))
    store.save(UserState(user_key, "ar", "find_housing"))
    store._db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # some copies in the main file, some in the log
    store.save(UserState(user_key, "fa", "interpreter"))
    assert store.forget(user_key) is True
    for file in tmp_path.iterdir():
        assert user_key.encode() not in file.read_bytes(), file.name
    assert store.load("900000001").language == "fr"
    store.close()


def test_lone_surrogates_are_stored_safely(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.sqlite3", keep_message_texts=True)
    store.log_message("bonjour \ud800 et \udfff, 😀 \ud83d\ude00", "fr", "greet", 0.9)
    (stored,) = store._db.execute("SELECT text FROM message_log").fetchone()
    assert stored == "bonjour \ufffd et \ufffd, 😀 😀"
    store.close()
