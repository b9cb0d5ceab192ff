"""Training the embedded model: the served weights are the average of several SGD runs."""

from __future__ import annotations

import numpy as np

from nlu.loading import Example
from nlu.training import TrainingConfig, train_model


def small_examples() -> list[Example]:
    texts = {
        "greet": ["hello", "hi there", "good morning", "hey", "salam"],
        "find_housing": ["i need a flat", "looking for a room", "apartment to rent", "where can i live"],
        "french_course": ["learn french", "french classes", "cours de francais", "i want to speak french"],
        "out_of_scope": ["weather tomorrow", "tell me a joke", "who won the match", "asdfgh"],
    }
    return [Example(text, intent, "en", "test") for intent, items in texts.items() for text in items]


def test_the_model_is_the_average_of_runs_with_consecutive_seeds() -> None:
    examples = small_examples()
    averaged = train_model(examples, TrainingConfig(seed=13, ensemble_size=3))
    runs = [train_model(examples, TrainingConfig(seed=seed, ensemble_size=1)) for seed in (13, 14, 15)]

    assert not np.allclose(runs[0].weights, runs[1].weights), "the seeds must give different runs"
    np.testing.assert_allclose(averaged.weights, np.mean([run.weights for run in runs], axis=0), atol=1e-6)
    np.testing.assert_allclose(averaged.bias, np.mean([run.bias for run in runs], axis=0), atol=1e-6)
    assert averaged.weights.shape == runs[0].weights.shape
    assert averaged.rank("a room to rent")[0][0] == "find_housing"
