"""The terminal plays both sides of the live hand-off (``chat --staff``), for a demo without Telegram."""

from __future__ import annotations

from tests.test_cli import run_cli


def test_staff_terminal_relays_both_ways_and_closes() -> None:
    lines = [
        "where do I register my address",
        "/counsellor",
        "1",
        "I lost my residence card",
        "and my passport",
        "@Hello, come on Tuesday",
        "@/close",
    ]
    result = run_cli("chat", "--lang", "en", "--staff", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "What is shared" in out and "[1] Yes, write to a counsellor" in out
    assert "[counsellors] new topic «" in out and " · en · " in out  # the topic of the last question
    assert "Your case code is" in out
    assert "[counsellors] user (last question): where do I register my address" in out
    # The user's messages reach the counsellors' view; the bot does not answer them itself (one notice).
    assert "[counsellors] user: I lost my residence card" in out
    assert "[counsellors] user: and my passport" in out
    assert out.count("Your messages go to the counsellor") == 1
    during = out.split("[counsellors] user: I lost my residence card")[1]
    assert "Source:" not in during  # no curated answer while the counsellor is there
    assert "[counsellor] Hello, come on Tuesday" in out
    assert "The counsellor has ended the conversation." in out and "closed. (topic closed)" in out


def test_without_staff_the_terminal_has_no_counsellor_side() -> None:
    result = run_cli("chat", "--lang", "en", stdin="@hello\n")
    assert result.returncode == 0, result.stderr
    assert "[counsellor]" not in result.stdout


def test_delete_this_chat_clears_the_terminal() -> None:
    # /privacy offers "Delete this chat" as its only button: [1].
    result = run_cli("chat", "--lang", "fr", stdin="/privacy\n1\n")
    assert result.returncode == 0, result.stderr
    before, _clear, after = result.stdout.partition("\033[H\033[2J\033[3J")
    assert _clear and "/forget" in before and "Choisissez un thème" in after
