"""When a parse must fall back: Rasa's FallbackClassifier rules plus the bot's out-of-scope rules.

Every threshold is read from ``nlu/config.yml``: the FallbackClassifier's ``threshold`` and
``ambiguity_threshold`` (Rasa's own keys) and the ``newcomer_bot`` block (ours, ignored by Rasa).
Both backends' clients apply :func:`apply_fallback` to their ranking, so the embedded model and
Rasa's DIET reject by the same rules whatever the Rasa model was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlu.types import FALLBACK_INTENT, IntentScore, ParseResult


@dataclass(frozen=True)
class FallbackConfig:
    """Rejection settings; the defaults are Rasa's FallbackClassifier defaults with no extra rule."""

    threshold: float = 0.4
    ambiguity_threshold: float = 0.1
    # Intents that mean "not a question I answer" (out_of_scope and its kinds).
    out_of_scope_intents: tuple[str, ...] = ("out_of_scope",)
    # Fall back when the out-of-scope intents together get at least this probability.
    out_of_scope_mass: float = 1.01
    # Embedded backend only: when at most this share of the words was seen in training, a guess
    # needs ``unfamiliar_min_confidence`` (character n-grams alone look confident on gibberish).
    unfamiliar_word_share: float = 0.0
    unfamiliar_min_confidence: float = 0.9


def load_fallback_config(rasa_config: Path) -> FallbackConfig:
    """The rejection settings in ``nlu/config.yml``, or the defaults when the file is missing."""
    if not rasa_config.is_file():
        return FallbackConfig()
    loaded = yaml.safe_load(rasa_config.read_text(encoding="utf-8")) or {}
    extra = _bot_settings(loaded.get("newcomer_bot"))
    for component in loaded.get("pipeline") or []:
        if isinstance(component, dict) and component.get("name") == "FallbackClassifier":
            return FallbackConfig(
                threshold=float(component.get("threshold", 0.3)),
                ambiguity_threshold=float(component.get("ambiguity_threshold", 0.1)),
                **extra,
            )
    return FallbackConfig(threshold=0.0, ambiguity_threshold=0.0, **extra)


def _bot_settings(block: object) -> dict[str, Any]:
    if not isinstance(block, dict):
        return {}
    settings: dict[str, Any] = {}
    if "out_of_scope_intents" in block:
        settings["out_of_scope_intents"] = tuple(str(name) for name in block["out_of_scope_intents"])
    for key in ("out_of_scope_mass", "unfamiliar_word_share", "unfamiliar_min_confidence"):
        if key in block:
            settings[key] = float(block[key])
    return settings


def should_fall_back(ranking: list[IntentScore], config: FallbackConfig, known_word_share: float | None = None) -> bool:
    """True when the best real intent of ``ranking`` (most likely first) must not be answered."""
    if not ranking:
        return True
    top = ranking[0]["confidence"]
    runner_up = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
    rejecting = set(config.out_of_scope_intents)
    out_of_scope_mass = sum(score["confidence"] for score in ranking if score["name"] in rejecting)
    unfamiliar = known_word_share is not None and known_word_share <= config.unfamiliar_word_share
    return (
        top < config.threshold
        or top - runner_up < config.ambiguity_threshold
        or (ranking[0]["name"] not in rejecting and out_of_scope_mass >= config.out_of_scope_mass)
        or (unfamiliar and top < config.unfamiliar_min_confidence)
    )


def apply_fallback(parse: ParseResult, config: FallbackConfig, known_word_share: float | None = None) -> ParseResult:
    """``parse`` with the fallback decided again by ``config`` (any earlier fallback is dropped).

    Like Rasa's FallbackClassifier, a fallback comes first and the real intents stay ranked.
    """
    ranking = [score for score in parse["intent_ranking"] if score["name"] != FALLBACK_INTENT]
    result: ParseResult = {**parse}
    if parse["text"].strip() and not should_fall_back(ranking, config, known_word_share):
        result["intent"], result["intent_ranking"] = ranking[0], ranking
        return result
    fallback: IntentScore = {"name": FALLBACK_INTENT, "confidence": config.threshold}
    result["intent"], result["intent_ranking"] = fallback, [fallback, *ranking]
    return result
