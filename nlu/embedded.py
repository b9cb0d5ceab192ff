"""Serving the embedded model: cache on disk, Rasa's parse shape, Rasa's fallback behaviour."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
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


def fingerprint(data: TrainingData, data_root: Path, config: TrainingConfig, extra_roots: Sequence[Path] = ()) -> str:
    """A hash of the training files and the hyperparameters: the model cache key."""
    settings = {"config": asdict(config), "training_version": TRAINING_VERSION, "format": FORMAT_VERSION}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    # Shared files keep their plain relative name (so existing caches stay valid); a city's get a prefix.
    roots = [("", data_root)] + [(f"city-{n}/", root) for n, root in enumerate(extra_roots)]
    for file in sorted(data.files):
        prefix, root = next(((p, r) for p, r in roots if r.is_dir() and file.is_relative_to(r)), ("", None))
        relative = prefix + str(file.relative_to(root)) if root else file.name
        digest.update(relative.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def load_city_training_data(data_path: Path, city_nlu_dir: Path | None) -> TrainingData:
    """The shared training data plus a city's own examples (``responses/<city>/nlu/<lang>/*.yml``)."""
    data = load_training_data(data_path)
    if city_nlu_dir is not None and city_nlu_dir.is_dir() and any(city_nlu_dir.rglob("*.y*ml")):
        city = load_training_data(city_nlu_dir)
        data.examples.extend(city.examples)
        data.files.extend(city.files)
        for name in ("synonyms", "regexes", "lookups"):
            getattr(data, name).update(getattr(city, name))
        data.entity_annotations += city.entity_annotations
    return data


def load_or_train(
    data_path: Path, cache_dir: Path | None, config: TrainingConfig | None = None, city_nlu_dir: Path | None = None
) -> tuple[IntentModel, TrainingData]:
    """Load the cached model for this data (and city) and config, training (and caching) it when missing.

    A city's model is the shared data plus the city's own examples, so its added intents are known
    to that city only; the cache key covers both, so each city gets its own cached model.
    """
    config = config or TrainingConfig()
    data = load_city_training_data(data_path, city_nlu_dir)
    extra_roots = (city_nlu_dir,) if city_nlu_dir is not None else ()
    key = fingerprint(data, data_path, config, extra_roots)
    cache_file = cache_dir / f"intent-model-{key}.npz" if cache_dir else None
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

    def swap_model(self, model: IntentModel) -> None:
        """Serve ``model`` from the next message on: a retrained model, without a restart."""
        self.model = model

    def parse_sync(self, text: str) -> ParseResult:
        """Classify ``text`` (tens of microseconds: no need for a worker thread)."""
        model = self.model  # one model for the whole parse, even if a swap happens meanwhile
        ranking: list[IntentScore] = [
            {"name": name, "confidence": confidence} for name, confidence in model.rank(text)[:RANKING_LENGTH]
        ]
        parse: ParseResult = {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
        result = apply_fallback(parse, self.fallback, model.featurizer.known_word_share(text))
        language = self.detector.detect(text).language if self.detector else None
        result["language"] = language
        return result

    async def parse(self, text: str) -> ParseResult:
        """See :meth:`parse_sync`."""
        return self.parse_sync(text)

    async def close(self) -> None:
        """Nothing to release: the model is plain arrays."""
