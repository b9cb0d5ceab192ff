"""Staff reports, channel-neutral: what /reload and /stats say, and the one-at-a-time reload.

Their texts are in English (an office tool, not a newcomer's conversation) and hold no user ids;
any channel that offers staff commands renders them like any other reply.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from pathlib import Path

from bot.content import ContentStore, LoadReport
from bot.storage import Counter

# The background watcher and /reload may run at the same time; reloads run one at a time.
_reload_lock = threading.Lock()


def _reload_now(content: ContentStore) -> LoadReport:
    with _reload_lock:
        return content.reload()


async def reload_content(content: ContentStore) -> LoadReport:
    """Reload the answer files off the event loop (parsing YAML takes tens of milliseconds)."""
    return await asyncio.to_thread(_reload_now, content)


def reload_summary(report: LoadReport, answers: int, content_dir: Path) -> str:
    """The /reload reply, in the answers' markup."""

    def where(path: Path) -> str:
        return str(path.relative_to(content_dir)) if path.is_relative_to(content_dir) else str(path)

    lines = [f"**Answers reloaded**: {answers} answers in use, {report.files_loaded} file(s) read."]
    errors = report.errors
    warnings = [p for p in report.problems if p.severity != "error"]
    if errors:
        lines += ["", f"**Errors** ({len(errors)}):"]
        lines += [f"- {where(p.path)}:{p.line}: {p.message}" for p in errors]
    else:
        lines += ["", "No errors."]
    if report.kept_last_good:
        lines += ["", "**Kept at their last good version** until fixed:"]
        lines += [f"- {where(path)}" for path in report.kept_last_good]
    if warnings:
        lines += ["", f"{len(warnings)} warning(s): see `newcomer-bot check`."]
    return "\n".join(lines)


def stats_summary(counters: list[Counter]) -> str:
    """The /stats reply, in the answers' markup: aggregate counts only."""
    totals: dict[str, int] = defaultdict(int)
    per_language: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_intent: dict[str, int] = defaultdict(int)
    feedback: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for counter in counters:
        totals[counter.metric] += counter.count
        per_language[counter.language][counter.metric] += counter.count
        if counter.metric in {"question", "button"} and counter.intent:
            per_intent[counter.intent] += counter.count
        if counter.metric in {"feedback_up", "feedback_down"} and counter.intent:
            feedback[counter.intent][0 if counter.metric == "feedback_up" else 1] += counter.count

    def rate(fallbacks: int, questions: int) -> str:
        asked = fallbacks + questions
        return f"{fallbacks / asked:.1%}" if asked else "n/a"

    lines = [
        "**Usage figures** (counts only, no user ids)",
        f"Questions typed: {totals['question'] + totals['fallback']}, "
        f"not understood: {totals['fallback']} "
        f"(fallback rate {rate(totals['fallback'], totals['question'])})",
        f"Answers opened with buttons: {totals['button']}",
        f"Feedback: 👍 {totals['feedback_up']}  👎 {totals['feedback_down']}",
    ]
    others = {
        k: v
        for k, v in sorted(totals.items())
        if k not in {"question", "fallback", "button", "feedback_up", "feedback_down"}
    }
    if others:
        lines.append("Other: " + ", ".join(f"{name} {count}" for name, count in others.items()))
    if per_language:
        lines += ["", "**Per language** (questions, fallback rate, buttons):"]
        by_use = sorted(per_language.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        for language, metrics in by_use:
            asked = metrics["question"] + metrics["fallback"]
            fallback_rate = rate(metrics["fallback"], metrics["question"])
            lines.append(f"- {language}: {asked}, {fallback_rate}, {metrics['button']}")
    if per_intent:
        lines += ["", "**Per intent** (questions and buttons):"]
        lines += [
            f"- {intent}: {count}" for intent, count in sorted(per_intent.items(), key=lambda item: (-item[1], item[0]))
        ]
    if feedback:
        lines += ["", "**Feedback per intent** (👍 / 👎):"]
        lines += [f"- {intent}: {up} / {down}" for intent, (up, down) in sorted(feedback.items())]
    return "\n".join(lines)
