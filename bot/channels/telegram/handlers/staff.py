"""Staff commands, for the Telegram user ids in ``STAFF_USER_IDS``: /reload and /stats.

The reports themselves are channel-neutral (bot/staff_reports.py); these handlers only route them.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot import messages as m
from bot import staff_reports
from bot.channels.telegram.handlers.common import answer, get_services
from bot.content import LoadReport
from bot.dialogue import N_
from bot.services import Services

logger = logging.getLogger(__name__)

STAFF_COMMAND_DESCRIPTIONS = {
    "reload": N_("Reload the answers (staff)"),
    "stats": N_("Usage figures (staff)"),
}


async def reload_content(services: Services) -> LoadReport:
    """Reload this city's answers (one reload at a time, off the event loop)."""
    return await staff_reports.reload_content(services.content)


async def reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reload the answers now and report answers, errors (file:line) and files kept at last good."""
    services = get_services(context)
    report = await reload_content(services)
    logger.info("Answers reloaded by staff: %d error(s)", len(report.errors))
    text = staff_reports.reload_summary(report, len(services.content.answers()), services.content.city_dir)
    await answer(update, context, m.Reply([m.OutgoingMessage(text, "en")]))


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Counts per intent and language, feedback and the fallback rate (no user ids)."""
    services = get_services(context)
    counters = await asyncio.to_thread(services.store.counters)
    await answer(update, context, m.Reply([m.OutgoingMessage(staff_reports.stats_summary(counters), "en")]))
