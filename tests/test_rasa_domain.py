"""nlu/domain.yml (for ``rasa data validate``) lists exactly the intents of the catalogue."""

from __future__ import annotations

from pathlib import Path

import yaml

from nlu.loading import load_training_data

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ROOT / "nlu" / "domain.yml"
CATALOGUE = ROOT / "nlu" / "catalogue.yml"


def catalogue_intents() -> list[str]:
    catalogue = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    return [intent for topic in catalogue["topics"].values() for intent in topic]


def domain() -> dict[str, object]:
    loaded = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_domain_lists_exactly_the_catalogue_intents_in_order() -> None:
    assert domain()["intents"] == catalogue_intents()


def test_domain_is_nlu_only() -> None:
    assert set(domain()) == {"version", "intents"}
    assert domain()["version"] == "3.1"


def test_every_training_intent_is_in_the_domain() -> None:
    intents = domain()["intents"]
    assert isinstance(intents, list)
    data = load_training_data(ROOT / "nlu" / "data")
    assert sorted(set(data.intents) - set(intents)) == []
