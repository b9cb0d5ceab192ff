"""The out-of-scope trade-off: false accepts against in-scope recall as the fallback threshold moves.

For each FallbackClassifier threshold (the other rules of ``nlu/config.yml`` kept as they are) it
prints the share of out-of-scope messages answered as an in-scope intent (overall and in the worst
language), the in-scope recall (right intent, not rejected) and the in-scope fallback rate.

* ``--split dev`` (default; the one thresholds are chosen on): the embedded model is trained on
  ``nlu/data`` minus a fixed tenth of its in-scope examples; the slice is the in-scope side and
  ``nlu/dev`` (never trained on) the out-of-scope side.
* ``--split cv``: cross-validation at the configured rules (no curve): the same hash cuts the
  in-scope examples into tenths, and each of the first five is left out and scored in turn (the
  first is the dev slice), with ``nlu/dev`` as the out-of-scope side, for each SGD seed of
  ``--seeds``. Prints each fit and the mean: the fold-to-fold spread (about 1 point) is larger
  than most differences worth measuring, so compare means over the same folds and seeds.
* ``--split heldout``: trained on all of ``nlu/data``, scored on ``nlu/heldout``, to report the
  chosen point. Never choose on it.
* ``--split blind-dev`` / ``--split blind-test``: trained on all of ``nlu/data``, scored on
  ``nlu/blind/dev`` or ``nlu/blind/test``: in-scope and out-of-scope messages written by people who
  never saw the training data (fourth round, docs/decisions/out-of-scope.md). Choose on blind-dev;
  blind-test only reports.
* ``--seeds 13,1``: with a curve, each seed's model is scored and the figures are averaged (a
  language's false-accept rate too, before its worst is taken).
* ``--out-of-scope-mass M``: the curve with ``out_of_scope_mass`` M instead of the config's.
* ``--rasa-url http://127.0.0.1:5005``: the same curve for a running Rasa server (trained on all
  of ``nlu/data``). With ``--split dev`` its out-of-scope side is ``nlu/dev`` and its in-scope side
  ``nlu/heldout``'s in-scope messages (Rasa cannot leave a slice out without a second 30-min
  training); with ``--split heldout`` it is scored on ``nlu/heldout``.

    .venv/bin/python benchmarks/oos_tradeoff.py [--split dev|cv|heldout|blind-dev|blind-test] [--seeds 13,1]
                                                [--out-of-scope-mass M] [--rasa-url URL] [--json-out F]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlu.evaluation import evaluate, parse_prediction  # noqa: E402
from nlu.loading import Example, load_training_data  # noqa: E402
from nlu.out_of_scope import FallbackConfig, apply_fallback, load_fallback_config  # noqa: E402
from nlu.rasa_backend import RasaBackend  # noqa: E402
from nlu.training import TrainingConfig, train_model  # noqa: E402
from nlu.types import IntentScore, ParseResult  # noqa: E402

THRESHOLDS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8)
DEV_SLICE_MODULUS = 10  # one in-scope training example in 10 is left out for the dev figures
CV_FOLDS = 5  # tenths left out in turn by --split cv: 5 fits per seed, about 9,000 in-scope scores
BLIND_SPLITS = {"blind-dev": ROOT / "nlu" / "blind" / "dev", "blind-test": ROOT / "nlu" / "blind" / "test"}
CV_FIGURES = ("accuracy", "in_scope_fallback_rate", "oos_false_accept_rate", "worst_language_false_accept")

# A parse before any fallback rule, and the known-word share when the backend has one.
RawParse = tuple[ParseResult, float | None]


def dev_split(
    examples: Sequence[Example], rejecting: Sequence[str], fold: int = 0
) -> tuple[list[Example], list[Example]]:
    """(training examples, in-scope slice left out of training); ``fold`` 0 is the dev slice.

    An example is in the slice by a hash of its language and text, so adding training data does not
    reshuffle the slice and figures stay comparable across data versions.
    """

    def in_slice(example: Example) -> bool:
        key = f"{example.language}\0{example.text}".encode()
        return example.intent not in rejecting and zlib.crc32(key) % DEV_SLICE_MODULUS == fold

    return [e for e in examples if not in_slice(e)], [e for e in examples if in_slice(e)]


def embedded_parses(
    train: Sequence[Example], test: Sequence[Example], seed: int = TrainingConfig.seed
) -> list[RawParse]:
    model = train_model(train, TrainingConfig(seed=seed))
    parses: list[RawParse] = []
    for example in test:
        ranking: list[IntentScore] = [{"name": n, "confidence": c} for n, c in model.rank(example.text)[:10]]
        parse: ParseResult = {"text": example.text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
        parses.append((parse, model.featurizer.known_word_share(example.text)))
    return parses


async def rasa_parses(url: str, test: Sequence[Example]) -> list[RawParse]:
    client = RasaBackend(url, timeout_s=30)
    try:
        return [(await client.parse(example.text), None) for example in test]
    finally:
        await client.close()


def replay(predictions: Sequence[tuple[str, bool]]) -> Callable[[str], tuple[str, bool]]:
    """``evaluate``'s predict, answering ``predictions`` in the order of the test messages."""
    answers = iter(predictions)
    return lambda _text: next(answers)


def curve(test: Sequence[Example], parses: Sequence[RawParse], config: FallbackConfig) -> list[dict[str, Any]]:
    """One row per threshold: the figures of ``nlu.evaluation`` with that threshold."""
    rows = []
    for threshold in sorted({*THRESHOLDS, config.threshold}):
        at = dataclasses.replace(config, threshold=threshold)
        predictions = [parse_prediction(apply_fallback(parse, at, share)) for parse, share in parses]
        report = evaluate(test, replay(predictions), config.out_of_scope_intents).to_json()
        per_language = {
            language: figures["oos_false_accept_rate"]
            for language, figures in report["per_language"].items()
            if figures["oos_false_accept_rate"] is not None
        }
        rows.append(
            {
                "threshold": threshold,
                "chosen": threshold == config.threshold,
                "oos_false_accept_rate": report["oos_false_accept_rate"],
                "worst_language_false_accept": max(per_language.values()),
                "language_false_accept": per_language,
                "in_scope_recall": round(report["accuracy_with_fallback"], 4),
                "in_scope_fallback_rate": report["in_scope_fallback_rate"],
                "in_scope_rejection_rate": report["in_scope_rejection_rate"],
                "accuracy": report["accuracy"],
            }
        )
    return rows


def mean_curve(curves: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows of several seeds' curves averaged; the worst language is taken after averaging."""
    rows = []
    for same_threshold in zip(*curves, strict=True):
        first = same_threshold[0]
        languages = first["language_false_accept"]
        per_language = {
            language: round(statistics.fmean(row["language_false_accept"][language] for row in same_threshold), 4)
            for language in languages
        }
        numbers = {
            key: round(statistics.fmean(row[key] for row in same_threshold), 4)
            for key, value in first.items()
            if isinstance(value, float) and key not in ("threshold", "worst_language_false_accept")
        }
        worst = max(per_language.values())
        rows.append({**first, **numbers, "worst_language_false_accept": worst, "language_false_accept": per_language})
    return rows


def cross_validate(
    data: Sequence[Example], dev_oos: Sequence[Example], config: FallbackConfig, seeds: Sequence[int]
) -> dict[str, Any]:
    """The figures at the configured threshold of each (seed, fold) fit, and their means."""
    runs = []
    for seed in seeds:
        for fold in range(CV_FOLDS):
            train, in_scope = dev_split(data, config.out_of_scope_intents, fold)
            test = [*in_scope, *dev_oos]
            chosen = next(row for row in curve(test, embedded_parses(train, test, seed), config) if row["chosen"])
            runs.append({"seed": seed, "fold": fold, **{figure: chosen[figure] for figure in CV_FIGURES}})
            print(" ".join(f"{key} {value}" for key, value in runs[-1].items()), flush=True)
    mean = {figure: round(statistics.fmean(run[figure] for run in runs), 4) for figure in CV_FIGURES}
    print("mean " + " ".join(f"{figure} {value:.4f}" for figure, value in mean.items()))
    return {"runs": runs, "mean": mean}


def print_curve(title: str, rows: Sequence[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print("threshold  false-accept  worst lang  in-scope recall  in-scope fallback  rejected  accuracy")
    for row in rows:
        mark = "  <- nlu/config.yml" if row["chosen"] else ""
        cells = [
            f"{row['threshold']:>9.2f}",
            f"{row['oos_false_accept_rate']:>13.3f}",
            f"{row['worst_language_false_accept']:>11.3f}",
            f"{row['in_scope_recall']:>16.3f}",
            f"{row['in_scope_fallback_rate']:>18.3f}",
            f"{row['in_scope_rejection_rate']:>9.3f}",
            f"{row['accuracy']:>9.3f}",
        ]
        print(" ".join(cells) + mark)
    chosen = next(row for row in rows if row["chosen"])
    languages = " ".join(f"{language} {rate:.3f}" for language, rate in sorted(chosen["language_false_accept"].items()))
    print(f"false-accept per language at {chosen['threshold']}: {languages}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "cv", "heldout", *BLIND_SPLITS], default="dev")
    parser.add_argument("--seeds", help="SGD seeds, comma-separated (default: 13,1 for --split cv, else 13)")
    parser.add_argument("--out-of-scope-mass", type=float, help="override the config's out_of_scope_mass")
    parser.add_argument("--config", type=Path, default=ROOT / "nlu" / "config.yml")
    parser.add_argument("--rasa-url", help="also draw the curve of the Rasa server at this URL")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    config = load_fallback_config(args.config)
    if args.out_of_scope_mass is not None:
        config = dataclasses.replace(config, out_of_scope_mass=args.out_of_scope_mass)
    default_seeds = "13,1" if args.split == "cv" else str(TrainingConfig.seed)
    seeds = [int(seed) for seed in (args.seeds or default_seeds).split(",")]
    data = load_training_data(ROOT / "nlu" / "data").examples
    dev_oos = load_training_data(ROOT / "nlu" / "dev").examples
    heldout = load_training_data(ROOT / "nlu" / "heldout").examples
    if args.split == "cv" and args.rasa_url:
        parser.error("--split cv trains the embedded model only")
    results: dict[str, Any] = {"split": args.split, "config": dataclasses.asdict(config)}
    if args.split == "cv":
        results["embedded"] = cross_validate(data, dev_oos, config, seeds)
    else:
        results.update(tradeoff_curves(args.split, args.rasa_url, data, dev_oos, heldout, config, seeds))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


def tradeoff_curves(
    split: str,
    rasa_url: str | None,
    data: Sequence[Example],
    dev_oos: Sequence[Example],
    heldout: Sequence[Example],
    config: FallbackConfig,
    seeds: Sequence[int],
) -> dict[str, Any]:
    """The embedded model's curve on ``split`` (averaged over ``seeds``) and, with ``rasa_url``, Rasa's."""
    if split == "dev":
        train, in_scope = dev_split(data, config.out_of_scope_intents)
        test = [*in_scope, *dev_oos]
    elif split in BLIND_SPLITS:
        train, test = list(data), load_training_data(BLIND_SPLITS[split]).examples
    else:
        train, test = list(data), list(heldout)
    curves = {"embedded": mean_curve([curve(test, embedded_parses(train, test, seed), config) for seed in seeds])}
    print_curve(f"embedded, {split} split ({len(test)} messages, seeds {seeds})", curves["embedded"])
    if rasa_url:
        if split == "heldout":
            rasa_test, described = list(heldout), "nlu/heldout"
        elif split in BLIND_SPLITS:
            rasa_test, described = list(test), str(BLIND_SPLITS[split].relative_to(ROOT))
        else:
            rasa_test = [*(e for e in heldout if e.intent not in config.out_of_scope_intents), *dev_oos]
            described = "nlu/dev out-of-scope + nlu/heldout in-scope"
        curves["rasa"] = curve(rasa_test, asyncio.run(rasa_parses(rasa_url, rasa_test)), config)
        print_curve(f"rasa, {described} ({len(rasa_test)} messages)", curves["rasa"])
    return curves


if __name__ == "__main__":
    raise SystemExit(main())
