"""The dialogue core on a fixture city: roles instead of intent names, facts filled in, the office
card, emergency numbers first, disabled and added intents, the city's name; two cities in one
process keep separate state."""

from __future__ import annotations

from pathlib import Path

from bot import messages as m
from bot.content import ContentStore
from bot.dialogue import DialogueCore
from bot.services import create_deployment
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import UserState
from tests.test_dialogue import actions, links, texts


def test_welcome_names_the_city_and_claims_no_review(riverton_core: DialogueCore) -> None:
    reply = riverton_core.start(UserState("u"), "en")
    assert "life in Riverton for newcomers" in texts(reply)
    assert "checked" not in texts(reply) and "reception office" not in texts(reply)
    assert "la vie à Riverton-sur-Loire" in texts(riverton_core.start(UserState("v", language="fr")))


def test_facts_are_filled_in_and_links_come_from_the_registry(riverton_core: DialogueCore) -> None:
    reply = riverton_core.handle_action(UserState("u", language="fr"), m.intent_action("residence_permit"))
    assert "bloquez-la avec 00800 1111 2222 (gratuit" in texts(reply) and "{{" not in texts(reply)
    assert "Délai : 8\xa0jours." in texts(reply)
    assert links(reply) == ["https://example.org/welcome"]
    assert reply.source == "Fixture source" and "Source\xa0: Fixture source" in texts(reply)
    assert "Version provisoire\xa0: ce texte n'a pas encore été vérifié" in texts(reply)  # drafts say so


def test_emergency_numbers_come_first(riverton_core: DialogueCore) -> None:
    reply = riverton_core.handle_action(UserState("u", language="en"), m.intent_action("emergency"))
    answer = reply.messages[-1].text.splitlines()
    assert answer[:2] == ["**112** European emergency number", "**15** SAMU"]
    assert answer[3] == "Answer about emergency."


def test_office_and_handoff_roles_show_the_office_card(riverton_core: DialogueCore) -> None:
    office = riverton_core.handle_action(UserState("u", language="en"), m.intent_action("reception_office"))
    card = office.messages[-1]
    assert card.text.startswith("**Welcome desk**") and "Open now, until" in card.text
    handoff = riverton_core.handle_action(UserState("u", language="en"), m.ACTION_HUMAN)
    assert handoff.messages[-1].text.startswith("**Welcome desk**")
    assert m.ACTION_COUNSELLOR in actions(handoff)
    assert m.ACTION_COUNSELLOR not in actions(
        riverton_core.handle_action(UserState("u", language="en"), m.intent_action("find_job"))
    )


async def test_a_disabled_intent_says_not_here_and_what_instead(riverton_core: DialogueCore) -> None:
    reply = await riverton_core.handle_text(UserState("u", language="en"), "I want to learn Dutch, Dutch classes")
    assert reply.intent == "dutch_course"
    first = reply.messages[0]
    assert first.text == "This does not apply in Riverton.\nSee instead:"
    assert first.buttons[0] == (m.Button("french_course (en)", m.intent_action("french_course")),)
    # The pack's own answer for the intent, if it has one, is shown under it.
    assert reply.messages[1].text.startswith("Answer about dutch_course.")
    french = riverton_core.handle_action(UserState("u", language="fr"), m.intent_action("dutch_course"))
    assert french.messages[0].text.startswith("Ceci ne s'applique pas à Riverton-sur-Loire.")


def test_added_intents_are_in_their_topic_and_disabled_ones_are_not(
    riverton_core: DialogueCore, riverton: ContentStore
) -> None:
    services_menu = riverton_core.handle_action(UserState("u", language="fr"), m.topic_action("services"))
    assert m.intent_action("domiciliation") in actions(services_menu)
    courses_menu = riverton_core.handle_action(UserState("u", language="fr"), m.topic_action("courses"))
    assert m.intent_action("dutch_course") not in actions(courses_menu)
    own = riverton_core.handle_action(UserState("u"), m.intent_action("domiciliation"))
    assert "Une adresse administrative gratuite" in texts(own)
    labels = [b.label for row in riverton_core.menu("ar").buttons for b in row]
    assert labels[:4] == ["الاستقبال والأوراق", "المساعدة والخدمات", "السكن", "الدورات"]  # from the catalogue


def test_answer_falls_back_to_the_city_original_language(riverton_core: DialogueCore) -> None:
    reply = riverton_core.handle_action(UserState("u", language="es"), m.intent_action("emergency"))
    assert "Here it is in" not in texts(reply)  # the notice is in Spanish
    assert reply.messages[-1].language == "fr"


async def test_two_cities_in_one_process_keep_separate_state(cities_dir: Path) -> None:
    settings = Settings.from_env(
        environ={
            "CONTENT_DIR": str(cities_dir),
            "CITIES": "riverton,hilltown",
            "MODEL_CACHE_DIR": str(PROJECT_ROOT / "var" / "models"),
        }
    )
    deployment = await create_deployment(settings, state_db=":memory:")
    try:
        riverton, hilltown = deployment.cities["riverton"], deployment.cities["hilltown"]
        assert riverton.store.database is hilltown.store.database  # one database
        same_user = "42"
        state = riverton.store.load(same_user)
        riverton.core.handle_action(state, m.language_action("ar"))
        assert riverton.store.load(same_user).language == "ar"
        assert hilltown.store.load(same_user).language is None  # the other city's bot knows nothing
        assert "life in Hilltown" in texts(hilltown.core.start(hilltown.store.load(same_user), "en"))
        # The added intent is known to Riverton's model only.
        assert "domiciliation" in riverton.embedded.model.intents
        assert "domiciliation" not in hilltown.embedded.model.intents
        parse = await riverton.nlu.parse("je n'ai pas d'adresse pour recevoir mon courrier")
        assert parse["intent"]["name"] == "domiciliation"
        assert riverton.store.forget(same_user) and not hilltown.store.forget(same_user)
    finally:
        await deployment.close()
