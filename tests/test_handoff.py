"""The hand-off and erase services of the core, without Telegram: injected clock, in-memory tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from bot import handoff as ho
from bot import messages as m
from bot.erase import ACTION_ERASE_CONFIRM, EraseService
from bot.handoff_store import HandoffStore
from bot.i18n import Translations

START = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def handoff_store() -> Iterator[HandoffStore]:
    store = HandoffStore(":memory:")
    yield store
    store.close()


@pytest.fixture
def service(handoff_store: HandoffStore, translations: Translations, clock: FakeClock) -> ho.HandoffService:
    options = ho.HandoffOptions(staff_user_ids=frozenset({42}), female_counsellor_ids=frozenset({77}))
    return ho.HandoffService(handoff_store, translations, options, clock=clock)


def actions(reply: m.Reply) -> list[str]:
    return [b.action for msg in reply.messages for row in msg.buttons for b in row if isinstance(b, m.Button)]


def text(reply: m.Reply) -> str:
    return "\n".join(message.text for message in reply.messages)


def open_conversation(
    service: ho.HandoffService, user_key: str = "1001", action: str = ho.ACTION_CONSENT
) -> ho.Opening:
    opening = service.consent(user_key, "fr", action, "find_housing", "Amina")
    assert isinstance(opening, ho.Opening)
    return opening


def test_offer_says_what_is_shared_and_for_how_long(service: ho.HandoffService) -> None:
    reply = service.offer("1001", "en")
    assert "72 hours" in text(reply) and "your last question" in text(reply) and "Not your name" in text(reply)
    assert actions(reply) == [ho.ACTION_CONSENT, ho.ACTION_CONSENT_WOMAN, ho.ACTION_CONSENT_NAME, ho.ACTION_DECLINE]
    assert service.store.by_user("1001") is None  # nothing stored before consent


def test_consent_opens_a_pseudonymous_conversation(service: ho.HandoffService) -> None:
    opening = open_conversation(service)
    code = opening.conversation.case_code
    assert len(code) == ho.CASE_CODE_LENGTH and set(code) <= set(ho.CASE_ALPHABET)
    assert opening.topic_name == f"{code} · fr · find_housing"
    assert "Amina" not in opening.topic_name + opening.staff_intro
    assert code in text(opening.user_reply)
    assert actions(opening.user_reply) == [ho.end_action(code)]
    assert opening.suggested_counsellors == ()


def test_the_first_name_is_shown_only_when_the_user_chose_so(service: ho.HandoffService) -> None:
    opening = open_conversation(service, action=ho.ACTION_CONSENT_NAME)
    assert opening.topic_name.endswith(" · Amina")


def test_woman_counsellor_request_marks_the_topic_and_suggests_only_women(service: ho.HandoffService) -> None:
    opening = open_conversation(service, action=ho.ACTION_CONSENT_WOMAN)
    assert ho.WOMAN_MARK in opening.topic_name and ho.WOMAN_MARK in opening.staff_intro
    assert opening.suggested_counsellors == (77,)


def test_woman_counsellor_request_without_one_configured_is_answered_honestly(
    handoff_store: HandoffStore, translations: Translations, clock: FakeClock
) -> None:
    service = ho.HandoffService(handoff_store, translations, ho.HandoffOptions(), clock=clock)
    reply = service.consent("1001", "en", ho.ACTION_CONSENT_WOMAN, None)
    assert isinstance(reply, m.Reply)
    assert "no woman counsellor is available" in text(reply)
    assert actions(reply) == [ho.ACTION_CONSENT, ho.ACTION_DECLINE]
    assert handoff_store.by_user("1001") is None


def test_out_of_hours_the_user_is_told_when_the_office_opens(
    handoff_store: HandoffStore, translations: Translations, clock: FakeClock
) -> None:
    service = ho.HandoffService(
        handoff_store,
        translations,
        clock=clock,
        is_open=lambda now: now.hour >= 9,
        opens_at_text=lambda now, language: "Tuesday 9:00",
    )
    clock.now = START.replace(hour=7)
    assert "It opens Tuesday 9:00" in text(service.offer("1001", "en"))
    opening = service.consent("1001", "en", ho.ACTION_CONSENT, None)
    assert isinstance(opening, ho.Opening)
    assert "You can leave a message" in text(opening.user_reply)
    assert "out of office hours" in opening.staff_intro
    clock.now = START.replace(hour=10)
    assert "closed" not in text(service.offer("1002", "en"))


def test_the_last_question_is_shared_only_when_recent(service: ho.HandoffService, clock: FakeClock) -> None:
    asked = clock().timestamp()
    assert service.shares_last_question(asked)
    clock.advance(minutes=31)
    assert not service.shares_last_question(asked)
    assert not service.shares_last_question(None)


def test_user_messages_are_routed_with_a_notice_once(service: ho.HandoffService) -> None:
    assert service.route_user_message("1001", "en") is None  # no conversation: the core answers
    open_conversation(service)
    assert service.route_user_message("1001", "en") is None  # no topic yet
    service.attach_topic("1001", 55)
    first, second = service.route_user_message("1001", "en"), service.route_user_message("1001", "en")
    assert first is not None and first.notice is not None and "/end" in text(first.notice)
    assert second is not None and second.notice is None and second.conversation.topic_id == 55


def test_only_staff_reach_a_topic_and_only_its_own_user(service: ho.HandoffService) -> None:
    open_conversation(service, "1001")
    open_conversation(service, "1002")
    service.attach_topic("1001", 55)
    service.attach_topic("1002", 56)
    assert service.route_staff_message(55, sender_id=9, in_staff_chat=False) is None
    to_first = service.route_staff_message(55, sender_id=42, in_staff_chat=False)
    to_second = service.route_staff_message(56, sender_id=9, in_staff_chat=True)
    assert to_first is not None and to_first.user_key == "1001"
    assert to_second is not None and to_second.user_key == "1002"
    assert service.close_by_staff(55, sender_id=9, in_staff_chat=False, language_of="fr") is None
    assert service.store.by_user("1001").is_open  # type: ignore[union-attr]


def test_a_forged_end_button_cannot_close_another_users_conversation(service: ho.HandoffService) -> None:
    first = open_conversation(service, "1001").conversation
    second = open_conversation(service, "1002").conversation
    assert service.end_by_user("1002", "en", first.case_code) is None
    assert service.store.by_user("1001").is_open  # type: ignore[union-attr]
    closing = service.end_by_user("1002", "en", second.case_code)
    assert closing is not None and closing.conversation.user_key == "1002"
    assert "ended" in text(closing.user_reply) and second.case_code in closing.staff_text


def test_ended_conversations_are_deleted_after_the_retention(service: ho.HandoffService, clock: FakeClock) -> None:
    open_conversation(service)
    service.end_by_user("1001", "en")
    clock.advance(hours=71)
    assert service.purge() == 0
    clock.advance(hours=2)
    assert service.purge() == 1
    assert service.store.by_user("1001") is None


def test_silent_conversations_are_closed_after_the_idle_days(service: ho.HandoffService, clock: FakeClock) -> None:
    open_conversation(service, "1001")
    open_conversation(service, "1002")
    clock.advance(days=20)
    service.attach_topic("1002", 56)
    assert service.route_staff_message(56, sender_id=42, in_staff_chat=False) is not None  # a counsellor writes
    clock.advance(days=11)
    closings = service.close_idle(lambda user_key: "en")
    assert [c.conversation.user_key for c in closings] == ["1001"]
    assert "long silence" in text(closings[0].user_reply) and "30 days" in closings[0].staff_text
    assert not service.store.by_user("1001").is_open  # type: ignore[union-attr]
    assert service.store.by_user("1002").is_open  # type: ignore[union-attr]


def test_forget_ends_the_conversation_and_deletes_the_mapping_now(service: ho.HandoffService) -> None:
    open_conversation(service)
    service.attach_topic("1001", 55)
    closing = service.forget("1001")
    assert closing is not None and closing.conversation.topic_id == 55
    assert service.store.by_user("1001") is None and service.store.by_topic(55) is None
    assert service.forget("1001") is None


def test_a_second_consent_does_not_open_a_second_conversation(service: ho.HandoffService) -> None:
    first = open_conversation(service).conversation
    again = service.consent("1001", "en", ho.ACTION_CONSENT, None)
    assert isinstance(again, m.Reply) and first.case_code in text(again)


def test_deleted_rows_are_overwritten(handoff_store: HandoffStore) -> None:
    assert handoff_store._db.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_erase_keeps_ids_48_hours_and_counts_what_became_too_old(
    handoff_store: HandoffStore, translations: Translations, clock: FakeClock
) -> None:
    erase = EraseService(handoff_store, translations, clock=clock)
    for message_id in (1, 2, 3):
        erase.record(1001, message_id)
    clock.advance(hours=47)
    erase.record(1001, 4)
    erase.record(2002, 1)  # another chat: never mixed in
    assert (erase.plan(1001).message_ids, erase.plan(1001).too_old) == ((1, 2, 3, 4), 0)
    clock.advance(minutes=55)  # 1-3 are within 10 minutes of the limit: counted, not claimed
    assert (erase.plan(1001).message_ids, erase.plan(1001).too_old) == ((4,), 3)
    clock.advance(minutes=10)  # 1-3 are past 48 hours: their ids are dropped, only counted
    plan = erase.plan(1001)
    assert (plan.message_ids, plan.too_old) == ((4,), 3)
    assert handoff_store.message_ids(1001, 0) == [4]
    reply = erase.finish(plan, failed=0, language="en")
    assert "Messages deleted: 1." in text(reply)
    assert "Messages I could not delete (older than 48 hours, or refused by Telegram): 3." in text(reply)
    assert "press and hold" in text(reply)
    after = erase.plan(1001)
    assert (after.message_ids, after.too_old) == ((), 0)
    assert erase.plan(2002).message_ids == (1,)


def test_erase_asks_before_deleting(handoff_store: HandoffStore, translations: Translations) -> None:
    erase = EraseService(handoff_store, translations)
    assert actions(erase.offer("fr")) == [ACTION_ERASE_CONFIRM, m.ACTION_MENU]
    assert actions(erase.offer_after_forget("fr")) == [m.ACTION_ERASE_CHAT]


def test_handoff_settings_are_read_from_the_environment() -> None:
    from bot.settings import Settings, SettingsError

    settings = Settings.from_env(
        environ={"STAFF_CHAT_ID": "-1001234", "FEMALE_COUNSELLOR_IDS": "7, 8", "HANDOFF_RETENTION_HOURS": "24"}
    )
    assert (settings.staff_chat_id, settings.female_counsellor_ids) == (-1001234, frozenset({7, 8}))
    assert settings.handoff_retention_hours == 24
    defaults = Settings.from_env(environ={})
    assert (defaults.staff_chat_id, defaults.female_counsellor_ids, defaults.handoff_retention_hours) == (
        None,
        frozenset(),
        72,
    )
    with pytest.raises(SettingsError):
        Settings.from_env(environ={"HANDOFF_RETENTION_HOURS": "-1"})
