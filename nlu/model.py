"""The trained intent model: a linear classifier over TF-IDF features, saved as one ``.npz`` file.

Serving needs only numpy: a parse gathers the weight rows of the text's features and adds them,
which takes tens of microseconds, so it runs inline in the event loop without blocking it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nlu.featurize import FeatureConfig, Featurizer

FORMAT_VERSION = 1


@dataclass
class IntentModel:
    """Weights of a one-vs-rest linear model, with a softmax temperature for confidences."""

    featurizer: Featurizer
    intents: list[str]
    weights: npt.NDArray[np.float32]  # (n_features, n_intents)
    bias: npt.NDArray[np.float32]  # (n_intents,)
    temperature: float

    def margins(self, text: str) -> npt.NDArray[np.float64]:
        """Raw linear scores of every intent for ``text``."""
        indices, values = self.featurizer.transform_one(text)
        margins = (values @ self.weights[indices] if len(indices) else 0.0) + self.bias
        return np.asarray(margins, dtype=np.float64)

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Confidence of every intent for ``text``, summing to 1."""
        scaled = self.margins(text) * self.temperature
        scaled -= scaled.max()
        exp = np.exp(scaled)
        return np.asarray(exp / exp.sum(), dtype=np.float64)

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Intents with confidences, most likely first."""
        probabilities = self.probabilities(text)
        order = np.argsort(-probabilities, kind="stable")
        return [(self.intents[i], float(probabilities[i])) for i in order]

    def save(self, path: Path) -> None:
        """Write the model to ``path`` atomically (a half-written cache is never read)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        vocabulary = sorted(self.featurizer.vocabulary, key=self.featurizer.vocabulary.__getitem__)
        meta = {
            "format": FORMAT_VERSION,
            "intents": self.intents,
            "temperature": self.temperature,
            "features": self.featurizer.config.to_dict(),
        }
        temporary = path.with_suffix(".tmp.npz")
        np.savez(
            temporary,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            vocabulary=np.frombuffer("\n".join(vocabulary).encode(), dtype=np.uint8),
            idf=self.featurizer.idf,
            weights=self.weights,
            bias=self.bias,
        )
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"{path}: model format {meta.get('format')} is not {FORMAT_VERSION}")
            words = archive["vocabulary"].tobytes().decode().split("\n")
            featurizer = Featurizer(
                FeatureConfig(**meta["features"]),
                {feature: index for index, feature in enumerate(words)},
                archive["idf"].astype(np.float32),
            )
            return cls(
                featurizer=featurizer,
                intents=list(meta["intents"]),
                weights=np.ascontiguousarray(archive["weights"], dtype=np.float32),
                bias=archive["bias"].astype(np.float32),
                temperature=float(meta["temperature"]),
            )
