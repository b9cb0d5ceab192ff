"""The embedded intent model: Rasa's parse shape, ranking invariants, fallback, cache, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest

import nlu.embedded
from nlu.embedded import EmbeddedBackend, FallbackConfig, load_fallback_config, load_or_train
from nlu.featurize import extract_features, normalize
from nlu.loading import Example
from nlu.model import IntentModel
from nlu.training import train_model
from nlu.types import FALLBACK_INTENT

QUESTIONS = [
    "je cherche un logement",
    "ik wil nederlands leren",
    "my husband hits me",
    "أريد تعلم اللغة الفرنسية",
    "",
    "😀😀😀",
    "x" * 10_000,
    "\x00\x07 control \u202e characters",
    "salam bghit nt3allam lfransawiya",
]


@pytest.mark.parametrize("text", QUESTIONS)
async def test_parse_has_rasa_shape_and_sorted_ranking(embedded: EmbeddedBackend, text: str) -> None:
    result = await embedded.parse(text)
    assert set(result) == {"text", "intent", "intent_ranking", "entities", "language"}
    assert result["text"] == text
    assert result["entities"] == []
    ranking = result["intent_ranking"]
    confidences = [item["confidence"] for item in ranking]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    real = [item for item in ranking if item["name"] != FALLBACK_INTENT]
    assert [i["confidence"] for i in real] == sorted((i["confidence"] for i in real), reverse=True)
    assert 0 < len(real) <= 10
    assert result["intent"] == ranking[0]


async def test_clear_questions_get_the_right_intent(embedded: EmbeddedBackend) -> None:
    expected = {
        "je cherche un logement à louer": "find_housing",
        "ik wil nederlands leren": "dutch_course",
        "my husband hits me and I am afraid": "domestic_violence",
        "أريد تعلم اللغة الفرنسية": "french_course",
        "someone is badly hurt call an ambulance": "emergency",
    }
    for text, intent in expected.items():
        assert (await embedded.parse(text))["intent"]["name"] == intent, text


@pytest.mark.parametrize(
    "text",
    [
        "I am tired of everything, I dont want to wake up",
        "je veux mourir",
        "ik wil dood",
        "أريد أن أنتحر",
        "intihar etmek istiyorum",
        "می‌خواهم خودکشی کنم",
    ],
)
async def test_suicidal_thoughts_get_the_answer_with_the_prevention_lines(embedded: EmbeddedBackend, text: str) -> None:
    # None of these is a training example; before the self-harm examples, "ik wil dood" was an insult.
    assert (await embedded.parse(text))["intent"]["name"] == "mental_health"


async def test_below_threshold_the_intent_is_nlu_fallback_with_real_intents_ranked(intent_model: IntentModel) -> None:
    strict = EmbeddedBackend(intent_model, FallbackConfig(threshold=1.0, ambiguity_threshold=0.0))
    result = await strict.parse("je cherche un logement")
    assert result["intent"] == {"name": FALLBACK_INTENT, "confidence": 1.0}
    assert result["intent_ranking"][0]["name"] == FALLBACK_INTENT
    assert result["intent_ranking"][1]["name"] == "find_housing"
    assert (await strict.parse("   "))["intent"]["name"] == FALLBACK_INTENT


def test_threshold_comes_from_the_rasa_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("pipeline:\n- name: DIETClassifier\n- name: FallbackClassifier\n  threshold: 0.55\n")
    assert load_fallback_config(config) == FallbackConfig(threshold=0.55, ambiguity_threshold=0.1)
    assert load_fallback_config(tmp_path / "missing.yml") == FallbackConfig()


def test_saved_model_predicts_the_same(intent_model: IntentModel, tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    intent_model.save(path)
    reloaded = IntentModel.load(path)
    for text in QUESTIONS:
        assert reloaded.rank(text) == intent_model.rank(text)


def tiny_examples() -> list[Example]:
    texts = {
        "greet": ["hello", "hi there", "good morning", "hey"],
        "find_housing": ["i need a flat", "looking for a room", "apartment to rent", "where can i live"],
        "french_course": ["learn french", "french classes", "cours de francais", "i want to speak french"],
    }
    return [Example(t, intent, "en", "test") for intent, items in texts.items() for t in items]


def test_training_is_deterministic_and_probabilities_sum_to_one() -> None:
    first, second = train_model(tiny_examples()), train_model(tiny_examples())
    assert first.rank("a room to rent") == second.rank("a room to rent")
    assert first.rank("a room to rent")[0][0] == "find_housing"
    assert sum(first.probabilities("anything")) == pytest.approx(1.0)


def test_cache_is_keyed_by_data_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data" / "en"
    data.mkdir(parents=True)
    lines = ['version: "3.1"', "nlu:"]
    for example in tiny_examples():
        lines.append(f"- intent: {example.intent}\n  examples: |\n    - {example.text}")
    (data / "nlu.yml").write_text("\n".join(lines) + "\n")
    cache = tmp_path / "cache"
    model, _ = load_or_train(tmp_path / "data", cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_training(*args: object, **kwargs: object) -> IntentModel:
        raise AssertionError("a cached model must not be retrained")

    monkeypatch.setattr(nlu.embedded, "train_model", no_training)
    cached, _ = load_or_train(tmp_path / "data", cache)
    assert cached.rank("hello") == model.rank("hello")
    # Changing the data changes the key: the next load would train again.
    (data / "nlu.yml").write_text((data / "nlu.yml").read_text() + "    - bonjour\n")
    with pytest.raises(AssertionError, match="must not be retrained"):
        load_or_train(tmp_path / "data", cache)


def test_normalize_folds_case_accents_and_arabic_letter_variants() -> None:
    assert normalize("Ça  VA\tété") == "ca va ete"
    assert normalize("إسلام أحمد") == normalize("اسلام احمد")
    assert normalize("كتاب يوم") == normalize("کتاب یوم")
    assert normalize("a\x00b") == "a b"


@pytest.mark.parametrize("text", [*QUESTIONS, "ناموسی نیستی‌ ـ کتـاب", "ЖИТЛО житло житло", "dokter dokter doktor"])
def test_a_served_message_gets_the_features_training_computes(intent_model: IntentModel, text: str) -> None:
    featurizer = intent_model.featurizer
    # Training's path: every n-gram counted by name, then weighed. Serving counts by index.
    expected_indices, expected_values = featurizer._weigh(extract_features(text, featurizer.config))
    for _ in range(2):  # the second time from the per-word cache
        indices, values = featurizer.transform_one(text)
        expected = dict(zip(expected_indices.tolist(), expected_values.tolist(), strict=True))
        assert dict(zip(indices.tolist(), values.tolist(), strict=True)) == pytest.approx(expected, abs=1e-6)
