"""Speed and memory of the embedded intent model and of the terminal bot; prints figures.

    .venv/bin/python benchmarks/nlu_speed.py [--data nlu/data] [--test nlu/heldout] [--repeat 5]

Targets (issue 2): parse p50 <= 0.5 ms and p99 <= 2 ms in-process; training <= 10 s;
RSS of `newcomer-bot chat` <= 200 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.embedded import EmbeddedBackend  # noqa: E402
from nlu.langid import LanguageDetector  # noqa: E402
from nlu.loading import load_training_data  # noqa: E402
from nlu.training import train_model  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report_latency(label: str, backend: EmbeddedBackend, texts: list[str], repeat: int) -> None:
    """Time ``parse_sync`` on every text, ``repeat`` times, after a warm-up pass."""
    for text in texts[:200]:
        backend.parse_sync(text)
    timings = []
    for _ in range(repeat):
        for text in texts:
            begin = time.perf_counter()
            backend.parse_sync(text)
            timings.append((time.perf_counter() - begin) * 1000)
    print(
        f"{label}, {len(timings)} calls: p50 {percentile(timings, 0.5):.3f} ms, "
        f"p99 {percentile(timings, 0.99):.3f} ms, mean {statistics.fmean(timings):.3f} ms"
    )


def report_chat_memory(texts: list[str]) -> None:
    """Peak RSS of `newcomer-bot chat` answering 300 messages, the way a user runs it."""
    lines = "\n".join(texts[:300]) + "\n"
    begin = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "newcomer-bot"), "--env-file", os.devnull, "chat", "--lang", "fr"],
        input=lines,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    elapsed = time.perf_counter() - begin
    # Measured before this process grows: a forked child's maximum RSS can include its parent's pages.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        f"newcomer-bot chat, 300 messages: peak RSS {peak_kib / 1024:.0f} MB, "
        f"{elapsed:.1f} s wall including start-up ({len(result.stdout.splitlines())} output lines)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "nlu" / "data")
    parser.add_argument("--test", type=Path, default=ROOT / "nlu" / "heldout")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the test texts")
    args = parser.parse_args()

    report_chat_memory([example.text for example in load_training_data(args.test).examples])
    data = load_training_data(args.data)
    started = time.perf_counter()
    model = train_model(data.examples)
    training_seconds = time.perf_counter() - started
    print(
        f"training: {len(data.examples)} examples, {len(model.intents)} intents, "
        f"{model.featurizer.size} features: {training_seconds:.2f} s"
    )

    texts = [example.text for example in load_training_data(args.test).examples]
    backend = EmbeddedBackend(model)
    report_latency("parse (intent only)", backend, texts, args.repeat)
    detector = LanguageDetector(["fr", "nl", "en", "ar", "es", "pt", "tr", "ro", "pl", "uk", "ru", "fa"])
    report_latency("parse + language", EmbeddedBackend(model, detector=detector), texts, args.repeat)


if __name__ == "__main__":
    main()
