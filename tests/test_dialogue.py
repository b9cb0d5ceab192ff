"""The dialogue core: answers, menus, language handling, bad input, privacy — never a dead end."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot import messages as m
from bot.dialogue import CoreOptions, DialogueCore
from bot.storage import UserState
from nlu.out_of_scope import FallbackConfig, apply_fallback
from nlu.types import IntentScore, ParseResult


def texts(reply: m.Reply) -> str:
    return "\n".join(message.text for message in reply.messages)


def actions(reply: m.Reply) -> list[str]:
    return [b.action for msg in reply.messages for row in msg.buttons for b in row if isinstance(b, m.Button)]


def links(reply: m.Reply) -> list[str]:
    return [b.url for msg in reply.messages for row in msg.buttons for b in row if isinstance(b, m.LinkButton)]


def assert_way_on(reply: m.Reply) -> None:
    """Every reply offers at least one button: the menu, a suggestion or a person."""
    assert actions(reply), texts(reply)


@pytest.mark.parametrize(
    ("language", "question", "intent"),
    [
        ("fr", "je cherche un logement", "find_housing"),
        ("nl", "waar kan ik nederlands leren", "dutch_course"),
        ("en", "I need a free lawyer", "legal_aid"),
        ("ar", "زوجي يضربني", "domestic_violence"),
    ],
)
async def test_question_gets_the_curated_answer_in_the_users_language(
    core: DialogueCore, language: str, question: str, intent: str
) -> None:
    state = UserState("u1", language=language)
    reply = await core.handle_text(state, question)
    answer = core.content.get(language, intent)
    assert answer is not None
    assert reply.intent == intent
    assert answer.filled_text(core.content.facts) in texts(reply)
    assert [link.url for link in answer.links] == links(reply)
    assert m.feedback_action(True, intent) in actions(reply)
    assert m.ACTION_MENU in actions(reply) and m.ACTION_HUMAN in actions(reply)
    for follow_up in answer.follow_up:
        assert m.intent_action(follow_up) in actions(reply)
    assert state.last_intent == intent
    assert reply.messages[0].rtl == (language == "ar")


async def test_answer_names_source_and_draft_state(core: DialogueCore) -> None:
    reply = await core.handle_text(UserState("u", language="en"), "I need a free lawyer")
    answer = core.content.get("en", "legal_aid")
    assert answer is not None and answer.is_draft
    assert f"Source: {answer.source}" in texts(reply)
    assert "Draft" in texts(reply)


async def test_first_message_sets_the_language_from_the_text(core: DialogueCore) -> None:
    state = UserState("new")
    reply = await core.handle_text(state, "Bonjour, je cherche un cours de français pour adultes")
    assert state.language == "fr"
    assert reply.messages[0].language == "fr"
    assert core.store.load("new").language == "fr"


async def test_other_language_gets_answer_in_chosen_language_and_an_offer(core: DialogueCore) -> None:
    state = UserState("u", language="fr")
    reply = await core.handle_text(state, "Hallo, ik zoek een sociale woning voor mijn gezin in Brussel")
    assert reply.messages[0].language == "fr"
    offer = reply.messages[-1]
    assert offer.language == "nl"
    assert m.language_action("nl") in [b.action for row in offer.buttons for b in row if isinstance(b, m.Button)]
    assert state.language == "fr"


async def test_greet_shows_the_menu_without_feedback(core: DialogueCore) -> None:
    reply = await core.handle_text(UserState("u", language="en"), "hello")
    assert reply.intent == "greet"
    assert m.topic_action("housing") in actions(reply)
    assert not [a for a in actions(reply) if a.startswith("fb:")]


async def test_change_language_intent_shows_the_picker(core: DialogueCore) -> None:
    reply = await core.handle_text(UserState("u", language="en"), "can you speak arabic please")
    assert reply.intent == "change_language"
    assert m.language_action("ar") in actions(reply)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😀😀😀", "\x00\x01\x02", "?!?!", "x" * 10_000, "\u202e\u200b", "blorp zzkx qwv"],
)
async def test_bad_input_gets_a_localized_reply_with_a_way_on(
    core: DialogueCore, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reply = await core.handle_text(UserState("u", language="ar"), text)
    assert reply.messages
    assert reply.messages[0].language == "ar"
    assert_way_on(reply)
    if text.strip():
        assert all(text not in record.getMessage() for record in caplog.records)


async def test_unsupported_language_is_answered_in_the_users_language(core: DialogueCore) -> None:
    reply = await core.handle_text(UserState("u", language="nl"), "我在布鲁塞尔找房子")
    assert {message.language for message in reply.messages} == {"nl"}
    assert_way_on(reply)


async def test_mixed_scripts_and_arabizi(core: DialogueCore) -> None:
    reply = await core.handle_text(UserState("u", language="ar"), "salam bghit nt3allam lfransawiya")
    assert reply.intent == "french_course"
    mixed = await core.handle_text(UserState("u", language="ar"), "أريد CPAS aide sociale")
    assert mixed.messages and mixed.messages[0].language == "ar"


class FlatRanking:
    """An NLU answer with no intent near the threshold, whatever the model of the day says."""

    name = "embedded"

    async def parse(self, text: str) -> ParseResult:
        ranking: list[IntentScore] = [{"name": n, "confidence": 0.05} for n in ("find_housing", "social_aid")]
        parse: ParseResult = {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
        return apply_fallback(parse, FallbackConfig(threshold=0.3))

    async def close(self) -> None:
        """Nothing to close."""


async def test_fallback_offers_the_topics_and_a_person(core: DialogueCore) -> None:
    flat = DialogueCore(
        core.catalogue, FlatRanking(), core.detector, core.content, core.translations, core.store, core.options
    )
    reply = await flat.handle_text(UserState("u", language="en"), "the thing with the paper")
    assert reply.intent == "nlu_fallback"
    assert m.ACTION_HUMAN in actions(reply)
    assert m.topic_action("housing") in actions(reply)


async def test_a_vague_message_gets_a_way_on(core: DialogueCore) -> None:
    for text in ("the thing with the paper", "the thing", "about the form"):
        assert_way_on(await core.handle_text(UserState("u", language="en"), text))


def test_menu_topics_and_intent_buttons(core: DialogueCore) -> None:
    state = UserState("u", language="fr")
    menu = core.handle_action(state, m.ACTION_MENU)
    assert [m.topic_action(t) for t in core.catalogue.menu_topics] == actions(menu)[:4]
    topic = core.handle_action(state, m.topic_action("housing"))
    assert set(actions(topic)) >= {m.intent_action(i) for i in core.catalogue.topics["housing"]}
    answer = core.handle_action(state, m.intent_action("rental_deposit"))
    assert core.content.get("fr", "rental_deposit").text in texts(answer)  # type: ignore[union-attr]
    assert all(len(action.encode()) <= 64 for action in actions(menu) + actions(topic) + actions(answer))


@pytest.mark.parametrize(
    "action", ["lang:xx", "topic:nope", "intent:../../etc", "fb:maybe:greet", "orig:fr", "garbage", ""]
)
def test_stale_or_forged_buttons_get_a_polite_menu(core: DialogueCore, action: str) -> None:
    reply = core.handle_action(UserState("u", language="fr"), action)
    assert m.ACTION_MENU in actions(reply) or m.topic_action("housing") in actions(reply)


def test_language_choice_is_saved_and_confirmed_in_that_language(core: DialogueCore) -> None:
    state = UserState("u", language="fr")
    reply = core.handle_action(state, m.language_action("uk"))
    assert state.language == "uk" and core.store.load("u").language == "uk"
    assert "Українська" in texts(reply)
    assert reply.messages[0].language == "uk"


def test_feedback_is_counted_without_user_ids(core: DialogueCore) -> None:
    state = UserState("secret-user-42", language="en")
    core.handle_action(state, m.feedback_action(True, "find_job"))
    down = core.handle_action(state, m.feedback_action(False, "find_job"))
    assert m.ACTION_HUMAN in actions(down)
    counters = {(c.metric, c.language, c.intent): c.count for c in core.store.counters()}
    assert counters[("feedback_up", "en", "find_job")] == 1
    assert counters[("feedback_down", "en", "find_job")] == 1
    assert all("secret-user-42" not in repr(c) for c in core.store.counters())


def test_forget_deletes_the_state(core: DialogueCore) -> None:
    state = UserState("u", language="fa")
    core.store.save(state)
    assert m.ACTION_FORGET_CONFIRM in actions(core.confirm_forget(state))
    reply = core.handle_action(state, m.ACTION_FORGET_CONFIRM)
    assert core.store.load("u").language is None
    assert reply.messages[0].language == "fa"
    assert state.language is None


def test_start_offers_the_language_picker_with_the_hint_selected(core: DialogueCore) -> None:
    reply = core.start(UserState("u"), suggested_language="pt-BR")
    picker = reply.messages[-1]
    labels = [b.label for row in picker.buttons for b in row]
    assert "✓ Português" in labels and len(labels) == 12


def test_privacy_says_what_is_kept(core: DialogueCore) -> None:
    text = texts(core.privacy(UserState("u", language="en")))
    assert "180 days" in text and "/forget" in text


def test_non_text_messages_get_the_menu(core: DialogueCore) -> None:
    assert_way_on(core.non_text(UserState("u", language="tr")))


@pytest.fixture
def reviewed_french(content_dir: Path) -> None:
    path = content_dir / "brussels" / "fr" / "services.yml"
    text = path.read_text(encoding="utf-8")
    start = text.index("legal_aid:")
    end = text.index("status: draft", start)
    reviewed = "status: reviewed\n  reviewed_by: Test Staff\n  reviewed_on: 2026-11-20"
    path.write_text(text[:end] + reviewed + text[end + len("status: draft") :], encoding="utf-8")


async def test_draft_translation_offers_the_checked_original(reviewed_french: None, core: DialogueCore) -> None:
    core.content.reload()
    reply = await core.handle_text(UserState("u", language="pl"), "potrzebuję darmowego adwokata")
    assert reply.intent == "legal_aid"
    assert m.original_action("legal_aid", "fr") in actions(reply)
    original = core.handle_action(UserState("u", language="pl"), m.original_action("legal_aid", "fr"))
    assert core.content.get("fr", "legal_aid").text in texts(original)  # type: ignore[union-attr]


@pytest.mark.parametrize("core_options", [CoreOptions(serve_drafts=False)])
async def test_without_drafts_only_reviewed_text_is_served(reviewed_french: None, core: DialogueCore) -> None:
    core.content.reload()
    reply = await core.handle_text(UserState("u", language="pl"), "potrzebuję darmowego adwokata")
    assert core.content.get("fr", "legal_aid").text in texts(reply)  # type: ignore[union-attr]
    assert "Draft" not in texts(reply)
    other = await core.handle_text(UserState("u", language="pl"), "szukam mieszkania do wynajęcia")
    assert core.content.get("pl", "find_housing").text not in texts(other)  # type: ignore[union-attr]
    assert_way_on(other)


@pytest.mark.parametrize("core_options", [CoreOptions(female_counsellor_available=True)])
async def test_handoff_mentions_a_woman_counsellor_only_when_offered(core: DialogueCore) -> None:
    reply = core.handle_action(UserState("u", language="en"), m.ACTION_HUMAN)
    assert "woman counsellor" in texts(reply)


async def test_handoff_without_the_setting_promises_no_woman_counsellor(core: DialogueCore) -> None:
    reply = core.handle_action(UserState("u", language="en"), m.ACTION_HUMAN)
    assert "woman counsellor" not in texts(reply)


def test_safety_answers_and_privacy_offer_to_delete_the_chat(core: DialogueCore) -> None:
    state = UserState("u-safe", language="ar")
    for intent in ("domestic_violence", "women_support"):
        assert m.ACTION_ERASE_CHAT in actions(core.handle_action(state, m.intent_action(intent))), intent
    assert m.ACTION_ERASE_CHAT not in actions(core.handle_action(state, m.intent_action("find_job")))
    assert m.ACTION_ERASE_CHAT in actions(core.privacy(state))
