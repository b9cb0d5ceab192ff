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
_CHAR_GRAM_CACHE_SIZE = 100_000  # words; emptied when full (a few tens of MB at most)
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


class _CharFolding(dict[int, str | None]):
    """A ``str.translate`` table filled in as characters are met (one ``unicodedata`` call each)."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        folded: str | None
        if category == "Mn":  # accents, Arabic harakat
            folded = None
        elif category[0] in {"C", "Z"}:  # controls, format characters, every kind of space
            folded = " "
        else:
            folded = _SCRIPT_FOLDING.get(code, char)
        self[code] = folded
        return folded


_FOLDING = _CharFolding()


def normalize(text: str, max_chars: int = 400) -> str:
    """Fold case, accents, Arabic-script letter variants, control characters and spacing."""
    text = unicodedata.normalize("NFKC", text[: max_chars * 2]).casefold()
    folded = unicodedata.normalize("NFD", text).translate(_FOLDING)
    return " ".join(folded.split())[:max_chars]


def extract_features(text: str, config: FeatureConfig) -> Counter[str]:
    """Count the n-gram features of one raw text."""
    words = _WORD.findall(normalize(text, config.max_chars))
    counts: Counter[str] = Counter(_word_ngrams(words, config.word_max_n))
    for word in words:
        counts.update(_char_ngrams(word, config.char_min_n, config.char_max_n))
    return counts


def _word_ngrams(words: Sequence[str], max_n: int) -> list[str]:
    """The word 1- to ``max_n``-gram features, named apart from character n-grams."""
    return ["w " + " ".join(words[i : i + n]) for n in range(1, max_n + 1) for i in range(len(words) - n + 1)]


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
        self._char_gram_cache: dict[str, npt.NDArray[np.intp]] = {}

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
        """Indices and L2-normalised sublinear TF-IDF values of the known features of ``text``.

        The features of ``extract_features``, counted by vocabulary index: each word's known
        character n-grams are looked up once and kept (the same words recur in every message).
        """
        words = _WORD.findall(normalize(text, self.config.max_chars))
        vocabulary = self.vocabulary
        word_grams = [
            index for gram in _word_ngrams(words, self.config.word_max_n) if (index := vocabulary.get(gram)) is not None
        ]
        found = np.concatenate([np.array(word_grams, dtype=np.intp), *map(self._known_char_grams, words)])
        indices, counts = np.unique(found, return_counts=True)
        return indices, self._values(indices, counts)

    def _known_char_grams(self, word: str) -> npt.NDArray[np.intp]:
        known = self._char_gram_cache.get(word)
        if known is None:
            vocabulary = self.vocabulary
            grams = _char_ngrams(word, self.config.char_min_n, self.config.char_max_n)
            known = np.array([i for gram in grams if (i := vocabulary.get(gram)) is not None], dtype=np.intp)
            if len(self._char_gram_cache) >= _CHAR_GRAM_CACHE_SIZE:
                self._char_gram_cache.clear()
            self._char_gram_cache[word] = known
        return known

    def _values(self, indices: npt.NDArray[np.intp], counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        values = ((1.0 + np.log(counts.astype(np.float32))) * self.idf[indices]).astype(np.float32)
        norm = float(np.sqrt(values @ values))
        if norm > 0:
            values /= norm
        return values

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
        return index_array, self._values(index_array, np.array(counts, dtype=np.intp))

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
