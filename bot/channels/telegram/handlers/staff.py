"""Staff commands, for the Telegram user ids in ``STAFF_USER_IDS``: /reload and /stats.

Their replies are in English (an office tool, not a newcomer's conversation) and hold no user ids.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from pathlib import Path

from telegram import Update
from telegram.ext import ContextTypes

from bot import messages as m
from bot.channels.telegram.handlers.common import answer, get_services
from bot.content import LoadReport
from bot.dialogue import N_
from bot.services import Services
from bot.storage import Counter

logger = logging.getLogger(__name__)

# The background watcher and /reload may run at the same time; reloads run one at a time.
_reload_lock = threading.Lock()

STAFF_COMMAND_DESCRIPTIONS = {
    "reload": N_("Reload the answers (staff)"),
    "stats": N_("Usage figures (staff)"),
}


def _reload_now(services: Services) -> LoadReport:
    with _reload_lock:
        return services.content.reload()


async def reload_content(services: Services) -> LoadReport:
    """Reload the answer files off the event loop (parsing YAML takes tens of milliseconds)."""
    return await asyncio.to_thread(_reload_now, services)


async def reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reload the answers now and report answers, errors (file:line) and files kept at last good."""
    services = get_services(context)
    report = await reload_content(services)
    logger.info("Answers reloaded by staff: %d error(s)", len(report.errors))
    text = reload_summary(report, len(services.content.answers()), services.content.city_dir)
    await answer(update, context, m.Reply([m.OutgoingMessage(text, "en")]))


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Counts per intent and language, feedback and the fallback rate (no user ids)."""
    services = get_services(context)
    counters = await asyncio.to_thread(services.store.counters)
    await answer(update, context, m.Reply([m.OutgoingMessage(stats_summary(counters), "en")]))


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
