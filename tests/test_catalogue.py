"""The project's copy of the intent catalogue matches the shared specification."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.catalogue import Catalogue, load_catalogue
from bot.settings import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "spec" / "intent-catalogue.yml"


def test_intents_match_the_shared_spec(catalogue: Catalogue) -> None:
    if not SHARED.is_file():
        pytest.skip(f"{SHARED} is not beside this checkout")
    spec = yaml.safe_load(SHARED.read_text(encoding="utf-8"))
    ours = yaml.safe_load((PROJECT_ROOT / "nlu" / "catalogue.yml").read_text(encoding="utf-8"))
    assert ours["languages"] == spec["languages"]
    # Every intent of the spec, in its topic and order; the only additions are the engine-answered
    # out-of-scope kinds (insults, medical questions), which the spec's out_of_scope covered before.
    for topic, intents in spec["topics"].items():
        ours_without_additions = [i for i in catalogue.topics[topic] if i not in catalogue.ui_reply_intents]
        assert ours_without_additions == list(intents), topic
    assert set(catalogue.topics) == set(spec["topics"])


def test_topic_labels_and_roles_are_data(catalogue: Catalogue) -> None:
    for topic in catalogue.menu_topics:
        assert set(catalogue.topic_labels[topic]) == set(catalogue.languages), topic
    assert catalogue.topic_label("housing", "ar") == "السكن" and catalogue.topic_label("housing", "xx") == "Housing"
    assert catalogue.intent_for("handoff") == "human_handoff"
    assert catalogue.has_role("women_support", "safety") and catalogue.has_role("domestic_violence", "safety")
    assert not catalogue.has_role("find_job", "safety")


def test_the_engine_names_no_city_and_no_intent() -> None:
    import re

    city_words = re.compile(r"brussel|bruxelles|belgi|cpas|ocmw|bapa|commune", re.IGNORECASE)
    special = "human_handoff|greet|reception_office|domestic_violence|women_support|find_doctor"
    intent_literal = re.compile(rf"[\"']({special})[\"']")
    for folder in ("bot", "nlu"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            assert not city_words.search(source), path
            assert not intent_literal.search(source), path


def test_a_role_played_by_no_intent_is_refused(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "nlu" / "catalogue.yml").read_text(encoding="utf-8")
    broken = tmp_path / "catalogue.yml"
    broken.write_text(text.replace("  medical: [find_doctor]", "  medical: [find_a_doctor]"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"roles\.medical"):
        load_catalogue(broken)


def test_catalogue_shape(catalogue: Catalogue) -> None:
    assert len(catalogue.intents) == 41  # 39 of the shared spec + insult and medical_advice (issue 11)
    assert catalogue.core_languages == ("fr", "nl", "en", "ar")
    assert len(catalogue.languages) == 12
    assert catalogue.menu_topics == ("reception", "services", "housing", "courses")
    assert catalogue.topic_of("domestic_violence") == "services"
    assert catalogue.is_conversation("greet") and not catalogue.is_conversation("emergency")
