"""Accuracy, macro-F1, per-language and per-intent figures, and the most confused pairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlu.loading import Example


@dataclass
class EvaluationReport:
    """Figures for one test set."""

    n: int
    accuracy: float
    macro_f1: float
    per_intent_f1: dict[str, float]
    per_language_accuracy: dict[str, float]
    per_language_n: dict[str, int]
    confusions: list[tuple[str, str, int]]  # (true, predicted, count), most frequent first
    fallback_rate: float = 0.0
    accuracy_with_fallback: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def worst_intents(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` intents with the lowest F1."""
        return sorted(self.per_intent_f1.items(), key=lambda item: (item[1], item[0]))[:k]

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "accuracy_with_fallback": round(self.accuracy_with_fallback, 4),
            "fallback_rate": round(self.fallback_rate, 4),
            "per_language": {
                language: {"accuracy": round(accuracy, 4), "n": self.per_language_n[language]}
                for language, accuracy in sorted(self.per_language_accuracy.items())
            },
            "per_intent_f1": {intent: round(f1, 4) for intent, f1 in sorted(self.per_intent_f1.items())},
            "worst_intents": [[intent, round(f1, 4)] for intent, f1 in self.worst_intents()],
            "confusions": [list(item) for item in self.confusions[:10]],
            **self.extra,
        }


def evaluate(
    examples: Sequence[Example],
    predict: Callable[[str], tuple[str, bool]],
) -> EvaluationReport:
    """Score ``predict(text) -> (top intent, fell_back)`` on ``examples``."""
    if not examples:
        raise ValueError("the test set has no examples")
    predictions = [predict(example.text) for example in examples]
    truth = [example.intent for example in examples]
    predicted = [intent for intent, _ in predictions]
    fell_back = [flag for _, flag in predictions]
    correct = [t == p for t, p in zip(truth, predicted, strict=True)]
    labels = sorted(set(truth))
    per_intent_f1 = {label: _f1(truth, predicted, label) for label in labels}
    by_language: dict[str, list[bool]] = {}
    for example, ok in zip(examples, correct, strict=True):
        by_language.setdefault(example.language or "?", []).append(ok)
    confusions = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if t != p)
    n = len(examples)
    return EvaluationReport(
        n=n,
        accuracy=sum(correct) / n,
        macro_f1=sum(per_intent_f1.values()) / len(per_intent_f1),
        per_intent_f1=per_intent_f1,
        per_language_accuracy={lang: sum(oks) / len(oks) for lang, oks in by_language.items()},
        per_language_n={lang: len(oks) for lang, oks in by_language.items()},
        confusions=[(t, p, count) for (t, p), count in confusions.most_common()],
        fallback_rate=sum(fell_back) / n,
        accuracy_with_fallback=sum(ok and not fb for ok, fb in zip(correct, fell_back, strict=True)) / n,
    )


def _f1(truth: Sequence[str], predicted: Sequence[str], label: str) -> float:
    true_positive = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
    if true_positive == 0:
        return 0.0
    precision = true_positive / sum(p == label for p in predicted)
    recall = true_positive / sum(t == label for t in truth)
    return 2 * precision * recall / (precision + recall)
