"""Accuracy on in-scope messages, out-of-scope false accepts, fallbacks, per language and per intent.

A test set mixes in-scope messages (a catalogue intent) and out-of-scope ones (``out_of_scope`` and
its kinds, such as ``insult``). The two sides are scored apart: an in-scope message should get its
intent and rarely fall back; an out-of-scope message should never get a confident in-scope answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlu.loading import Example
from nlu.types import FALLBACK_INTENT, ParseResult

DEFAULT_OUT_OF_SCOPE_INTENTS = frozenset({"out_of_scope"})


@dataclass(frozen=True)
class _Scored:
    language: str
    truth: str
    predicted: str  # the best real intent, even when the model fell back
    fell_back: bool
    truth_out_of_scope: bool
    predicted_out_of_scope: bool

    @property
    def rejected(self) -> bool:
        """Not answered as an in-scope question: a fallback or an out-of-scope kind."""
        return self.fell_back or self.predicted_out_of_scope


@dataclass(frozen=True)
class SideFigures:
    """The figures of one group of messages (all, or one language)."""

    n_in_scope: int
    n_out_of_scope: int
    accuracy: float | None  # in-scope messages whose best real intent is right
    in_scope_fallback_rate: float | None  # in-scope messages that fell back
    in_scope_rejection_rate: float | None  # ... that fell back or got an out-of-scope kind
    oos_false_accept_rate: float | None  # out-of-scope messages answered as an in-scope intent

    @classmethod
    def of(cls, rows: Sequence[_Scored]) -> SideFigures:
        """Compute the figures of ``rows``; a side with no messages has ``None`` rates."""
        inside = [row for row in rows if not row.truth_out_of_scope]
        outside = [row for row in rows if row.truth_out_of_scope]
        return cls(
            n_in_scope=len(inside),
            n_out_of_scope=len(outside),
            accuracy=_share(inside, lambda row: row.predicted == row.truth),
            in_scope_fallback_rate=_share(inside, lambda row: row.fell_back),
            in_scope_rejection_rate=_share(inside, lambda row: row.rejected),
            oos_false_accept_rate=_share(outside, lambda row: not row.rejected),
        )

    def to_json(self) -> dict[str, Any]:
        """Plain data, rates rounded to 4 digits."""
        return {
            "n_in_scope": self.n_in_scope,
            "n_out_of_scope": self.n_out_of_scope,
            "accuracy": _round(self.accuracy),
            "in_scope_fallback_rate": _round(self.in_scope_fallback_rate),
            "in_scope_rejection_rate": _round(self.in_scope_rejection_rate),
            "oos_false_accept_rate": _round(self.oos_false_accept_rate),
        }


@dataclass
class EvaluationReport:
    """Figures for one test set."""

    n: int
    overall: SideFigures
    per_language: dict[str, SideFigures]
    macro_f1: float  # over every intent of the test set, out-of-scope ones included
    per_intent_f1: dict[str, float]
    confusions: list[tuple[str, str, int]]  # (true, predicted, count), most frequent first
    fallback_rate: float  # all messages that fell back
    accuracy_with_fallback: float  # in-scope messages answered right without falling back
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """In-scope accuracy (0 when the test has no in-scope message)."""
        return self.overall.accuracy or 0.0

    @property
    def per_language_accuracy(self) -> dict[str, float]:
        """In-scope accuracy of each language that has in-scope messages."""
        return {lang: f.accuracy for lang, f in self.per_language.items() if f.accuracy is not None}

    @property
    def per_language_n(self) -> dict[str, int]:
        """Messages per language."""
        return {lang: f.n_in_scope + f.n_out_of_scope for lang, f in self.per_language.items()}

    def worst_intents(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` intents with the lowest F1."""
        return sorted(self.per_intent_f1.items(), key=lambda item: (item[1], item[0]))[:k]

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "n": self.n,
            **self.overall.to_json(),
            "macro_f1": round(self.macro_f1, 4),
            "accuracy_with_fallback": _round(self.accuracy_with_fallback),
            "fallback_rate": round(self.fallback_rate, 4),
            "per_language": {
                language: {"n": self.per_language_n[language], **figures.to_json()}
                for language, figures in sorted(self.per_language.items())
            },
            "per_intent_f1": {intent: round(f1, 4) for intent, f1 in sorted(self.per_intent_f1.items())},
            "worst_intents": [[intent, round(f1, 4)] for intent, f1 in self.worst_intents()],
            "confusions": [list(item) for item in self.confusions[:10]],
            **self.extra,
        }


def parse_prediction(parse: ParseResult) -> tuple[str, bool]:
    """(the best real intent, whether it fell back) of a parse, as :func:`evaluate` scores it."""
    fell_back = parse["intent"]["name"] == FALLBACK_INTENT
    return parse["intent_ranking"][1 if fell_back else 0]["name"], fell_back


def evaluate(
    examples: Sequence[Example],
    predict: Callable[[str], tuple[str, bool]],
    out_of_scope_intents: Collection[str] = DEFAULT_OUT_OF_SCOPE_INTENTS,
) -> EvaluationReport:
    """Score ``predict(text) -> (best real intent, fell_back)`` on ``examples``.

    ``out_of_scope_intents`` are the intents that mean "not a question I answer" (``out_of_scope``
    and its kinds): predicting one of them for an out-of-scope message is a correct rejection.
    """
    if not examples:
        raise ValueError("the test set has no examples")
    rejecting = frozenset(out_of_scope_intents)
    rows = []
    for example in examples:
        best, fell_back = predict(example.text)
        rows.append(
            _Scored(
                language=example.language or "?",
                truth=example.intent,
                predicted=best,
                fell_back=fell_back,
                truth_out_of_scope=example.intent in rejecting,
                predicted_out_of_scope=best in rejecting,
            )
        )
    by_language: dict[str, list[_Scored]] = {}
    for row in rows:
        by_language.setdefault(row.language, []).append(row)
    truth = [row.truth for row in rows]
    predicted = [row.predicted for row in rows]
    per_intent_f1 = {label: _f1(truth, predicted, label) for label in sorted(set(truth))}
    confusions = Counter((row.truth, row.predicted) for row in rows if row.truth != row.predicted)
    inside = [row for row in rows if not row.truth_out_of_scope]
    return EvaluationReport(
        n=len(rows),
        overall=SideFigures.of(rows),
        per_language={language: SideFigures.of(group) for language, group in by_language.items()},
        macro_f1=sum(per_intent_f1.values()) / len(per_intent_f1),
        per_intent_f1=per_intent_f1,
        confusions=[(t, p, count) for (t, p), count in confusions.most_common()],
        fallback_rate=sum(row.fell_back for row in rows) / len(rows),
        accuracy_with_fallback=_share(inside, lambda row: row.predicted == row.truth and not row.fell_back) or 0.0,
    )


def _share(rows: Sequence[_Scored], condition: Callable[[_Scored], bool]) -> float | None:
    return sum(condition(row) for row in rows) / len(rows) if rows else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _f1(truth: Sequence[str], predicted: Sequence[str], label: str) -> float:
    true_positive = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
    if true_positive == 0:
        return 0.0
    precision = true_positive / sum(p == label for p in predicted)
    recall = true_positive / sum(t == label for t in truth)
    return 2 * precision * recall / (precision + recall)
