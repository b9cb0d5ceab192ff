"""Serving the embedded model: cache on disk, Rasa's parse shape, Rasa's fallback behaviour."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

from nlu.langid import LanguageDetector
from nlu.loading import TrainingData, load_training_data
from nlu.model import FORMAT_VERSION, IntentModel
from nlu.out_of_scope import FallbackConfig, apply_fallback, load_fallback_config
from nlu.training import TRAINING_VERSION, TrainingConfig, train_model
from nlu.types import IntentScore, ParseResult

__all__ = ["EmbeddedBackend", "FallbackConfig", "load_fallback_config", "load_or_train"]

logger = logging.getLogger(__name__)

RANKING_LENGTH = 10  # as Rasa's DIETClassifier ``ranking_length`` default


def fingerprint(data: TrainingData, data_root: Path, config: TrainingConfig) -> str:
    """A hash of the training files and the hyperparameters: the model cache key."""
    settings = {"config": asdict(config), "training_version": TRAINING_VERSION, "format": FORMAT_VERSION}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for file in sorted(data.files):
        relative = file.relative_to(data_root) if data_root.is_dir() else Path(file.name)
        digest.update(str(relative).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def load_or_train(
    data_path: Path, cache_dir: Path | None, config: TrainingConfig | None = None
) -> tuple[IntentModel, TrainingData]:
    """Load the cached model for this data and config, training (and caching) it when missing."""
    config = config or TrainingConfig()
    data = load_training_data(data_path)
    cache_file = cache_dir / f"intent-model-{fingerprint(data, data_path, config)}.npz" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            model = IntentModel.load(cache_file)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("Ignoring unreadable model cache %s: %s", cache_file, exc)
        else:
            logger.info("Loaded cached intent model %s", cache_file.name)
            return model, data
    model = train_model(data.examples, config)
    if cache_file is not None:
        model.save(cache_file)
        logger.info("Cached intent model as %s", cache_file)
    return model, data


class EmbeddedBackend:
    """The default NLU backend: the in-process model, answering in Rasa's ``/model/parse`` shape."""

    name = "embedded"

    def __init__(
        self,
        model: IntentModel,
        fallback: FallbackConfig | None = None,
        detector: LanguageDetector | None = None,
    ) -> None:
        self.model = model
        self.fallback = fallback or FallbackConfig()
        self.detector = detector

    def parse_sync(self, text: str) -> ParseResult:
        """Classify ``text`` (tens of microseconds: no need for a worker thread)."""
        ranking: list[IntentScore] = [
            {"name": name, "confidence": confidence} for name, confidence in self.model.rank(text)[:RANKING_LENGTH]
        ]
        parse: ParseResult = {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
        result = apply_fallback(parse, self.fallback, self.model.featurizer.known_word_share(text))
        language = self.detector.detect(text).language if self.detector else None
        result["language"] = language
        return result

    async def parse(self, text: str) -> ParseResult:
        """See :meth:`parse_sync`."""
        return self.parse_sync(text)

    async def close(self) -> None:
        """Nothing to release: the model is plain arrays."""
