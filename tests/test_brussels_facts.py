"""The corrected Brussels facts (issue 9), as a user sees them in each of the 12 languages.

Each answer is asked for through the dialogue core (the path of a topic button), so what is checked
is the rendered text: facts filled in from ``responses/brussels/facts.yml``.
"""

from __future__ import annotations

import pytest

from bot import messages as m
from bot.catalogue import Catalogue
from bot.content import ContentStore
from bot.dialogue import DialogueCore
from bot.storage import UserState
from tests.test_dialogue import links, texts

LANGUAGES = ("fr", "nl", "en", "ar", "es", "pt", "tr", "ro", "pl", "uk", "ru", "fa")


def answer_text(core: DialogueCore, language: str, intent: str) -> tuple[str, list[str]]:
    reply = core.handle_action(UserState("fact-check", language=language), m.intent_action(intent))
    assert reply.intent == intent
    return texts(reply), links(reply)


def value(content: ContentStore, key: str) -> str:
    fact = content.facts.get(key)
    assert fact is not None, key
    return str(fact.value)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_lost_card_is_blocked_with_doc_stop_not_the_police_line(
    core: DialogueCore, content: ContentStore, language: str
) -> None:
    text, _links = answer_text(core, language, "residence_permit")
    assert value(content, "doc_stop_line") in text
    assert value(content, "police_101") not in text.split("Source")[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_violence_answer_has_112_first_and_the_sexual_violence_centre(
    core: DialogueCore, content: ContentStore, language: str
) -> None:
    text, _links = answer_text(core, language, "domestic_violence")
    digits = [word.strip("*:.,()") for word in text.split() if any(char.isdigit() for char in word)]
    assert digits[0].startswith("112")
    assert value(content, "cpvs_phone") in text and value(content, "cpvs_address") in text
    answer = content.get(language, "domestic_violence")
    assert answer is not None and set(answer.fact_keys) >= {"emergency_112", "police_101", "cpvs_phone"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_corrected_facts_reach_every_language(core: DialogueCore, content: ContentStore, language: str) -> None:
    shelter, _ = answer_text(core, language, "emergency_shelter")
    assert value(content, "samusocial_line") in shelter
    bank, _ = answer_text(core, language, "bank_account")
    assert "Ombudsfin" in bank
    _deposit, deposit_links = answer_text(core, language, "rental_deposit")
    assert value(content, "fund_rental_guarantee") in deposit_links
    medical, _ = answer_text(core, language, "urgent_medical_aid")
    assert "112" in medical
    housing = content.get(language, "social_housing")
    assert housing is not None and "social_housing_confirm_every" in housing.fact_keys
    asylum, _ = answer_text(core, language, "asylum_application")
    assert value(content, "asylum_registration_address") in asylum


def test_dutch_emergency_answer_calls_101_the_urgent_police_line(core: DialogueCore) -> None:
    text, _links = answer_text(core, "nl", "emergency")
    assert "geen noodgeval" not in text and "101" in text


def test_no_bot_self_description_claims_staff_checked_draft_answers(
    content: ContentStore, catalogue: Catalogue
) -> None:
    for language in catalogue.languages:
        for intent in ("bot_challenge", "help", "greet"):
            answer = content.get(language, intent)
            assert answer is not None and answer.is_draft
    english = content.get("en", "bot_challenge")
    assert english is not None and "checked" not in english.text.lower().replace("not yet checked", "")
