"""The project's copy of the intent catalogue matches the shared specification."""

from __future__ import annotations

import pytest

from bot.catalogue import Catalogue
from bot.settings import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "spec" / "intent-catalogue.yml"


def test_copy_matches_the_shared_spec() -> None:
    if not SHARED.is_file():
        pytest.skip(f"{SHARED} is not beside this checkout")
    assert (PROJECT_ROOT / "nlu" / "catalogue.yml").read_text() == SHARED.read_text()


def test_catalogue_shape(catalogue: Catalogue) -> None:
    assert len(catalogue.intents) == 41  # 39 of the shared spec + insult and medical_advice (issue 11)
    assert catalogue.core_languages == ("fr", "nl", "en", "ar")
    assert len(catalogue.languages) == 12
    assert catalogue.menu_topics == ("reception", "services", "housing", "courses")
    assert catalogue.topic_of("domestic_violence") == "services"
    assert catalogue.is_conversation("greet") and not catalogue.is_conversation("emergency")
