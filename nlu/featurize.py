"""Text → sparse TF-IDF features: word 1–2-grams and character n-grams inside word boundaries.

Character n-grams carry typos, missing accents, inflections and scripts without a tokenizer we
could ship (Arabic, Persian); word n-grams carry the exact keywords. The same code turns one text
into features at serving time and many texts into a matrix at training time.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scipy import sparse

_WORD = re.compile(r"\w+")
# Letters that Arabic and Persian keyboards write differently for the same word.
_SCRIPT_FOLDING = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ی",
        "ي": "ی",
        "ك": "ک",
        "ة": "ه",
        "ـ": None,  # tatweel, a purely visual stretch
        "\u200c": " ",  # zero-width non-joiner, common in Persian
    }
)


@dataclass(frozen=True)
class FeatureConfig:
    """How texts become features; part of the model cache key."""

    word_max_n: int = 2
    char_min_n: int = 2
    char_max_n: int = 5
    min_df: int = 1
    max_chars: int = 400  # longer messages are cut: the question is nearly always near the start

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for hashing and saving."""
        return asdict(self)


def normalize(text: str, max_chars: int = 400) -> str:
    """Fold case, accents, Arabic-script letter variants, control characters and spacing."""
    text = unicodedata.normalize("NFKC", text[: max_chars * 2]).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    kept = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category == "Mn":  # accents, Arabic harakat
            continue
        kept.append(" " if category[0] in {"C", "Z"} else char)
    folded = "".join(kept).translate(_SCRIPT_FOLDING)
    return " ".join(folded.split())[:max_chars]


def extract_features(text: str, config: FeatureConfig) -> Counter[str]:
    """Count the n-gram features of one raw text."""
    words = _WORD.findall(normalize(text, config.max_chars))
    counts: Counter[str] = Counter()
    for n in range(1, config.word_max_n + 1):
        counts.update("w " + " ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    for word in words:
        counts.update(_char_ngrams(word, config.char_min_n, config.char_max_n))
    return counts


@lru_cache(maxsize=200_000)
def _char_ngrams(word: str, low: int, high: int) -> tuple[str, ...]:
    """Character n-grams of `` word `` (padded); cached, as the same words recur in every message."""
    padded = f" {word} "
    size = len(padded)
    return tuple(padded[i : i + n] for n in range(low, min(high, size) + 1) for i in range(size - n + 1))


class Featurizer:
    """A fitted vocabulary with inverse document frequencies."""

    def __init__(self, config: FeatureConfig, vocabulary: dict[str, int], idf: npt.NDArray[np.float32]) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.idf = idf

    @classmethod
    def fit(cls, texts: Sequence[str], config: FeatureConfig) -> Featurizer:
        """Learn the vocabulary and idf weights from training texts."""
        return cls.fit_transform(texts, config)[0]

    @classmethod
    def fit_transform(cls, texts: Sequence[str], config: FeatureConfig) -> tuple[Featurizer, sparse.csr_matrix]:
        """Fit on ``texts`` and return their matrix too, extracting each text's n-grams only once."""
        counts = [extract_features(text, config) for text in texts]
        document_frequency: Counter[str] = Counter()
        for features in counts:
            document_frequency.update(features.keys())
        kept = sorted(f for f, df in document_frequency.items() if df >= config.min_df)
        vocabulary = {feature: index for index, feature in enumerate(kept)}
        n_docs = len(texts)
        idf = np.array([math.log((1 + n_docs) / (1 + document_frequency[f])) + 1.0 for f in kept], dtype=np.float32)
        featurizer = cls(config, vocabulary, idf)
        return featurizer, featurizer._matrix([featurizer._weigh(features) for features in counts])

    @property
    def size(self) -> int:
        """Number of features."""
        return len(self.vocabulary)

    def transform_one(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """Indices and L2-normalised sublinear TF-IDF values of the known features of ``text``."""
        return self._weigh(extract_features(text, self.config))

    def _weigh(self, features: Counter[str]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        vocabulary = self.vocabulary
        indices = []
        counts = []
        for feature, count in features.items():
            index = vocabulary.get(feature)
            if index is not None:
                indices.append(index)
                counts.append(count)
        index_array = np.array(indices, dtype=np.intp)
        values = ((1.0 + np.log(np.array(counts, dtype=np.float32))) * self.idf[index_array]).astype(np.float32)
        norm = float(np.sqrt(values @ values))
        if norm > 0:
            values /= norm
        return index_array, values

    def known_word_share(self, text: str) -> float:
        """Share of the text's words seen in training (0 for gibberish, 1 for familiar words)."""
        words = _WORD.findall(normalize(text, self.config.max_chars))
        if not words:
            return 0.0
        return sum(("w " + word) in self.vocabulary for word in words) / len(words)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """A CSR matrix with one row per text."""
        return self._matrix([self.transform_one(text) for text in texts])

    def _matrix(self, rows: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]]) -> sparse.csr_matrix:
        from scipy import sparse  # only training builds matrices; serving stays light

        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(indices) for indices, _ in rows], out=indptr[1:])
        indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, dtype=np.intp)
        values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, dtype=np.float32)
        return sparse.csr_matrix((values, indices, indptr), shape=(len(rows), self.size))
