"""The Telegram front end: a python-telegram-bot ``Application`` around the dialogue core.

``run_telegram(settings)`` (what ``newcomer-bot run`` calls with a token) builds the application,
creates the services in ``post_init`` and closes them in ``post_shutdown``, then polls Telegram, or,
when ``WEBHOOK_URL`` is set, serves a webhook on an aiohttp server (with ``/healthz``) that accepts
only requests carrying the ``X-Telegram-Bot-Api-Secret-Token``. SIGINT/SIGTERM stop it gracefully:
no new updates are taken, the ones already taken are answered, then everything is closed.
Every update is journaled before Telegram is told it arrived and replayed after a crash
(``bot.journal``); Bot API calls are retried where that cannot duplicate a message
(``transport``); periodic work (retention purge, database health, journal compaction) runs on
python-telegram-bot's JobQueue. Nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging
import signal
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web
from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.channels.telegram.handlers import buttons, commands, errors, handoff, messages, staff
from bot.channels.telegram.handlers.common import SERVICES_KEY, USER_MEDIA
from bot.channels.telegram.message_log import MessageIdRecorder
from bot.channels.telegram.transport import JournalingRequest, ReplayingRequest, RetryingRequest, http_request
from bot.i18n import endonym, is_rtl
from bot.journal import HANDLING, UpdateJournal
from bot.logging_setup import install_log_masking
from bot.messages import ACTION_FORGET_CONFIRM
from bot.services import Services, create_deployment, create_services
from bot.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

TelegramApp = Application[
    ExtBot[int],
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]
ServicesFactory = Callable[[Settings], Awaitable[Services]]

ALLOWED_UPDATES: Final = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
POLL_TIMEOUT_SECONDS: Final = 20  # long polling: getUpdates is held open until an update comes
RATE_LIMIT_RETRIES: Final = 3  # a 429 with retry_after is waited out and retried, not lost
STARTUP_ATTEMPTS: Final = 5  # getMe/deleteWebhook tries when Telegram is unreachable at start-up
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
WATCHER_KEY: Final = "content_watcher"  # application.bot_data key of the content-reload task
STAFF_CONSOLE_KEY: Final = "staff_console"  # the staff console's runner, when served in-process
JOURNAL_KEY: Final = "update_journal"  # application.bot_data key of the UpdateJournal
JOURNAL_FILE: Final = "updates-journal.sqlite3"  # next to the state database
PURGE_INTERVAL_SECONDS: Final = 6 * 3600  # retention is in days: four purges a day keep it
HEALTH_INTERVAL_SECONDS: Final = 30.0  # how soon a failed or deleted database is noticed
COMPACT_INTERVAL_SECONDS: Final = 5.0  # handled update payloads leave the journal's log this fast

# The non-text messages that get "I can only read text" (service messages such as "user joined"
# are not listed: they need no answer).
NON_TEXT = USER_MEDIA | filters.VENUE | filters.POLL | filters.Dice.ALL


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Different chats are handled concurrently; one chat's updates one at a time, in order.

    A user who taps "French" and then types a question must get the answer in French: their
    updates never overtake each other. Waiting for one's own chat does not hold a worker slot.
    """

    # 16 concurrent updates keep up with Telegram's flood limit (30 messages/s) at 0.5 s per
    # update; more mostly adds HTTP connection-pool overhead (see benchmarks/telegram_throughput.py).
    def __init__(self, workers: int = 16, max_pending: int = 4096, journal: UpdateJournal | None = None) -> None:
        super().__init__(max_pending)
        self.workers = workers
        # Each update is handled once (by update_id), and marked handled in the journal after.
        self.journal = journal
        self._slots: asyncio.Semaphore | None = None
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}

    async def initialize(self) -> None:
        """Create the worker slots (in the running event loop)."""
        self._slots = asyncio.Semaphore(self.workers)

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle the update once (by ``update_id``), marking it handled in the journal after."""
        journal = self.journal
        if journal is None or not isinstance(update, Update):
            await self._in_turn(update, coroutine)
            return
        # The chat's turn is taken before anything awaits: a journal call that has to wait for
        # the disk must not let the chat's next update overtake this one.
        await self._in_turn(update, self._once(journal, update, coroutine))

    async def _once(self, journal: UpdateJournal, update: Update, coroutine: Awaitable[Any]) -> None:
        """Claim the update, handle it, mark it handled; skip it if it was handled already."""
        update_id = update.update_id
        if not await journal.unblocked(lambda: journal.claim(update_id)):
            logger.debug("Update %d handled already: skipped", update_id)
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            return
        handling = HANDLING.set(journal.handling(update_id))
        try:
            await coroutine
        except asyncio.CancelledError:
            journal.release(update_id)
            raise
        finally:
            HANDLING.reset(handling)
        await journal.unblocked(lambda: journal.done(update_id))
        query = update.callback_query
        if query is not None and query.data == ACTION_FORGET_CONFIRM:
            # The user's earlier updates may still be readable in the journal's log: clear it now.
            await asyncio.to_thread(journal.compact)

    async def _in_turn(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` after the same chat's earlier updates, within the worker limit."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._slots:
                await coroutine
            return
        lock, users = self._chats.get(chat.id) or (asyncio.Lock(), 0)
        self._chats[chat.id] = (lock, users + 1)
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            lock, users = self._chats[chat.id]
            if users == 1:
                del self._chats[chat.id]
            else:
                self._chats[chat.id] = (lock, users - 1)


def build_application(
    settings: Settings,
    *,
    services_factory: ServicesFactory = create_services,
    rate_limiter: AIORateLimiter | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    update_processor: BaseUpdateProcessor | None = None,
    journal_path: Path | str | None = None,
) -> TelegramApp:
    """The application with every handler; services are created later, in ``post_init``.

    The keyword arguments are for tests and benchmarks (an in-memory request, other limits,
    ``":memory:"`` for the journal). Bot API calls always go through ``RetryingRequest``.
    """
    if not settings.telegram_bot_token:
        raise SettingsError("TELEGRAM_BOT_TOKEN is not set")
    # Every request passes the rate limiter: the recorder there sees the ids of the bot's messages
    # in private chats, for "Delete this chat".
    recorder = MessageIdRecorder(rate_limiter or AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
    handoff_channel = handoff.HandoffChannel(settings, recorder)

    async def post_init(application: TelegramApp) -> None:
        services = await services_factory(settings)
        application.bot_data[SERVICES_KEY] = services
        await handoff_channel.start(application.bot, services)
        await asyncio.to_thread(_warm_up, services)
        schedule_maintenance(application, services)
        await set_commands(application, services)
        if settings.content_reload_seconds > 0:
            application.bot_data[WATCHER_KEY] = asyncio.create_task(
                watch_content(services, settings.content_reload_seconds), name="content-watcher"
            )
        if settings.staff_with_bot:
            from bot.staff_console.app import start_console

            # In-process, a retrained model is swapped straight into the bot's backend.
            application.bot_data[STAFF_CONSOLE_KEY] = await start_console(settings, [services.embedded])

    journal = open_journal(settings, journal_path)
    processor = update_processor or PerChatUpdateProcessor()
    if isinstance(processor, PerChatUpdateProcessor):
        processor.journal = journal
    updates_request = get_updates_request or http_request(pool_size=1)
    bot_request = request if isinstance(request, RetryingRequest) else RetryingRequest(request or http_request())
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_base_url)
        .rate_limiter(recorder)
        .concurrent_updates(processor)
        .request(bot_request if journal is None else ReplayingRequest(bot_request, journal))
        .get_updates_request(updates_request if journal is None else JournalingRequest(updates_request, journal))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if settings.webhook_url:
        builder = builder.updater(None)  # updates arrive on our own aiohttp server instead
    application = builder.build()
    if journal is not None:
        application.bot_data[JOURNAL_KEY] = journal
    register_handlers(application, settings.staff_user_ids)
    # The hand-off and erase handlers sit in groups around these (group 0): -2 records message
    # ids, -1 relays the messages of open conversations and the staff group before the core can
    # answer them, 1 offers "Delete this chat" after the core confirmed /forget.
    handoff.register(application, handoff_channel)
    return application


def register_handlers(application: TelegramApp, staff_user_ids: frozenset[int]) -> None:
    """Every handler, in one place, in order.

    Order matters: within a group, python-telegram-bot gives each update to the FIRST handler
    whose filters match and skips the rest, so the specific handlers come before the general ones.
    1. Edited messages first: an edited "/start" or question must not be handled as a new one.
    2. Staff commands, limited to the allowlist, before the unknown-command catch-all, so for
       everyone else /reload and /stats are simply unknown commands.
    3. The user commands, then 4. any other command ("unknown"), before free text.
    5. Button presses (callback queries). 6. Free text (never a command) goes to the core.
    7. Photos, voice, stickers, locations, files: "I read text" and the menu.
    One error handler catches what any of them raises.
    """
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, messages.edited))
    if staff_user_ids:
        staff_only = filters.User(user_id=staff_user_ids)
        application.add_handler(CommandHandler("reload", staff.reload, filters=staff_only))
        application.add_handler(CommandHandler("stats", staff.stats, filters=staff_only))
    for command in commands.USER_COMMANDS:
        application.add_handler(CommandHandler(command.name, command.callback))
    application.add_handler(MessageHandler(filters.COMMAND, commands.unknown))
    application.add_handler(CallbackQueryHandler(buttons.button))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, messages.text))
    application.add_handler(MessageHandler(NON_TEXT, messages.non_text))
    application.add_error_handler(errors.on_error)


async def set_commands(application: TelegramApp, services: Services) -> None:
    """The command menu in every language (and the staff commands in the staff's chats)."""
    translations, settings = services.translations, services.settings

    def listing(language: str, extra: dict[str, str] | None = None) -> list[BotCommand]:
        described = [(c.name, c.description) for c in commands.USER_COMMANDS]
        described += list((extra or {}).items())
        return [BotCommand(name, translations.gettext(language, text)[:256]) for name, text in described]

    default = settings.default_language
    menus = [application.bot.set_my_commands(listing(default))]
    menus += [
        application.bot.set_my_commands(listing(language), language_code=language)
        for language in services.catalogue.languages
    ]
    staff_menus = [
        application.bot.set_my_commands(
            listing(default, staff.STAFF_COMMAND_DESCRIPTIONS), scope=BotCommandScopeChat(user_id)
        )
        for user_id in sorted(settings.staff_user_ids)  # a private chat's id is the user's id
    ]
    results = await asyncio.gather(*menus, *staff_menus, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, TelegramError):
            raise result
    # The bot works without its command menu, so failures are only reported.
    failed = [r for r in results[: len(menus)] if isinstance(r, TelegramError)]
    if failed:
        logger.warning("%d of %d command menus not set: %s", len(failed), len(menus), failed[0])
    failed_staff = [r for r in results[len(menus) :] if isinstance(r, TelegramError)]
    if failed_staff:
        logger.info(
            "Staff command menu not set in %d chat(s) (%s): normal until they write to the bot",
            len(failed_staff),
            failed_staff[0],
        )


async def watch_content(services: Services, interval: float) -> None:
    """Reload the answer files when they change (checked every ``interval`` s), until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            if services.model_watcher is not None:
                await asyncio.to_thread(services.model_watcher.check)
            if not await asyncio.to_thread(services.content.changed_files):
                continue
            report = await staff.reload_content(services)
            logger.info(
                "Answer files changed: %d answers, %d error(s), %d file(s) kept at last good",
                len(services.content.answers()),
                len(report.errors),
                len(report.kept_last_good),
            )
        except Exception:
            logger.exception("Content reload failed; trying again in %s s", interval)


async def post_shutdown(application: TelegramApp) -> None:
    """Stop the content watcher and the staff console, and close the services and the journal."""
    console = application.bot_data.pop(STAFF_CONSOLE_KEY, None)
    if isinstance(console, web.AppRunner):
        await console.cleanup()
    watcher = application.bot_data.pop(WATCHER_KEY, None)
    if isinstance(watcher, asyncio.Task):
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    handoff_channel = application.bot_data.get(handoff.HANDOFF_KEY)
    if isinstance(handoff_channel, handoff.HandoffChannel):
        await handoff_channel.stop()
    services = application.bot_data.pop(SERVICES_KEY, None)
    if isinstance(services, Services):
        await services.close()
    journal = application.bot_data.pop(JOURNAL_KEY, None)
    if isinstance(journal, UpdateJournal):
        journal.close()


def open_journal(settings: Settings, path: Path | str | None = None) -> UpdateJournal | None:
    """The update journal next to the state database; None (reported) when it cannot be opened."""
    where = path if path is not None else settings.state_db_path.with_name(JOURNAL_FILE)
    try:
        return UpdateJournal(where)
    except (OSError, sqlite3.Error) as exc:
        logger.error("Update journal %s cannot be opened (%s): updates may be lost in a crash", where, exc)
        return None


def schedule_maintenance(application: TelegramApp, services: Services) -> None:
    """Periodic work on python-telegram-bot's JobQueue: retention purge, database health, journal."""
    jobs = application.job_queue
    if jobs is None:
        raise RuntimeError("python-telegram-bot's JobQueue is missing: install python-telegram-bot[job-queue]")
    store, retention_days = services.store, services.settings.state_retention_days

    async def purge(context: ContextTypes.DEFAULT_TYPE) -> None:
        purged = await asyncio.to_thread(store.purge_expired)
        if purged:
            logger.info("Retention: %d user row(s) unused for %d days deleted", purged, retention_days)

    async def check_health(context: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.to_thread(store.check_health)

    jobs.run_repeating(purge, PURGE_INTERVAL_SECONDS, first=PURGE_INTERVAL_SECONDS, name="retention-purge")
    jobs.run_repeating(check_health, HEALTH_INTERVAL_SECONDS, name="database-health")
    journal = application.bot_data.get(JOURNAL_KEY)
    if isinstance(journal, UpdateJournal):

        async def compact(context: ContextTypes.DEFAULT_TYPE) -> None:
            await asyncio.to_thread(journal.compact)

        jobs.run_repeating(compact, COMPACT_INTERVAL_SECONDS, name="journal-compaction")
    handoff_channel = application.bot_data.get(handoff.HANDOFF_KEY)
    if isinstance(handoff_channel, handoff.HandoffChannel):

        async def handoff_maintenance(context: ContextTypes.DEFAULT_TYPE) -> None:
            await handoff_channel.maintain(context.bot, services)

        interval = handoff.PURGE_INTERVAL_SECONDS
        jobs.run_repeating(handoff_maintenance, interval, first=interval, name="handoff-maintenance")


async def replay_journal(application: TelegramApp) -> int:
    """Queue the updates a crash left unhandled, before any new one; returns how many."""
    journal = application.bot_data.get(JOURNAL_KEY)
    if not isinstance(journal, UpdateJournal):
        return 0
    pending = journal.pending()
    for payload in pending:
        update = Update.de_json(payload, application.bot)
        if update is not None:
            await application.update_queue.put(update)
    if pending:
        logger.warning("Handling %d update(s) received but not answered before the last stop", len(pending))
    return len(pending)


async def serve(
    application: TelegramApp,
    settings: Settings,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> None:
    """Run the bot until ``stop`` is set, then shut down gracefully (polling or webhook)."""
    await _initialize(application, stop)
    runner: web.AppRunner | None = None
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await replay_journal(application)
        if settings.webhook_url:
            runner = await _start_webhook_server(application, settings)
            await application.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            mode = f"webhook, listening on {settings.webhook_listen}:{settings.webhook_port}"
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                timeout=POLL_TIMEOUT_SECONDS,
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=STARTUP_ATTEMPTS,
            )
            mode = "polling"
        await application.start()
        logger.info("Telegram bot @%s running (%s)", application.bot.username, mode)
        if ready is not None:
            ready.set()
        await stop.wait()
        logger.info("Stopping: answering the updates already received")
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if runner is not None:
            await runner.cleanup()  # no new webhook requests; queued updates are still answered
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
        logger.info("Telegram bot stopped")


def run_telegram(settings: Settings) -> None:
    """Run the Telegram bot until SIGINT or SIGTERM (the entry point ``newcomer-bot run`` uses)."""
    for name in ("httpx", "httpcore"):  # request URLs contain the token
        http_logger = logging.getLogger(name)
        if http_logger.getEffectiveLevel() < logging.WARNING:
            http_logger.setLevel(logging.WARNING)
    # And in case anything logs it anyway, or a user's text, at any level:
    install_log_masking([settings.telegram_bot_token or "", settings.webhook_secret or ""])
    try:
        asyncio.run(_run(settings))
    except InvalidToken:
        # PTB's message for this error contains the token: never print it.
        raise SystemExit("newcomer-bot: Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)") from None
    except NetworkError as exc:  # only at start-up: once running, PTB retries on its own
        raise SystemExit(
            f"newcomer-bot: cannot reach the Bot API ({exc}); check TELEGRAM_BASE_URL, the network"
        ) from None


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():  # a second Ctrl-C: stop waiting for a graceful shutdown
            loop.remove_signal_handler(signum)
            signal.raise_signal(signum)
            return
        logger.info("Received %s, shutting down gracefully", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # platforms without signal handlers
            loop.add_signal_handler(signum, on_signal, signum)
    if len(settings.cities) <= 1:
        await serve(build_application(settings), settings, stop)
        return
    # Several cities: one bot (token) per city in this process, sharing one state database.
    deployment = await create_deployment(settings)
    try:
        await asyncio.gather(
            *(
                serve(build_application(city_settings, services_factory=_prepared(services)), city_settings, stop)
                for services in deployment.cities.values()
                for city_settings in (services.settings,)
            )
        )
    finally:
        await deployment.close()


def _prepared(services: Services) -> ServicesFactory:
    """A factory handing out services created beforehand (one city of a deployment)."""

    async def factory(_settings: Settings) -> Services:
        return services

    return factory


def _warm_up(services: Services) -> None:
    """Load the language names and text directions (CLDR data) now, not on the first user's time."""
    for language in services.catalogue.languages:
        endonym(language)
        is_rtl(language)


async def _initialize(application: TelegramApp, stop: asyncio.Event) -> None:
    """``initialize`` (getMe), retried with backoff while Telegram is unreachable."""
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        try:
            await application.initialize()
            return
        except InvalidToken:
            raise
        except NetworkError as exc:  # includes TimedOut
            if attempt == STARTUP_ATTEMPTS or stop.is_set():
                raise
            delay = 2 ** (attempt - 1)
            logger.warning("Telegram unreachable at start-up (%s); retrying in %d s", exc, delay)
            await asyncio.sleep(delay)


def _webhook_app(application: TelegramApp, settings: Settings) -> web.Application:
    secret = (settings.webhook_secret or "").encode()
    path = urlsplit(settings.webhook_url or "").path or "/"

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secret or not hmac.compare_digest(given, secret):
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            valid = isinstance(data, dict) and type(data.get("update_id")) is int
            update = Update.de_json(data, application.bot) if valid else None
        except Exception:  # not JSON, or not an update: nothing of it reaches the handlers
            update = None
        if update is None:
            logger.warning("Webhook request without a valid update refused")
            return web.Response(status=400, text="bad update")
        journal = application.bot_data.get(JOURNAL_KEY)
        # Journaled before the 200: after a crash it is replayed, and a repeat is not queued twice.
        if isinstance(journal, UpdateJournal) and not await _journal_update(journal, data):
            return web.Response(text="ok")
        await application.update_queue.put(update)
        return web.Response(text="ok")

    async def healthz(request: web.Request) -> web.Response:
        running = application.running
        return web.Response(status=200 if running else 503, text="ok" if running else "starting")

    app = web.Application()
    app.router.add_post(path, receive)
    app.router.add_get("/healthz", healthz)
    return app


async def _journal_update(journal: UpdateJournal, data: dict[str, Any]) -> bool:
    """Record a webhook update; False when it is a repeat (already journaled)."""
    try:
        return bool(await asyncio.to_thread(journal.record, [data]))
    except sqlite3.Error as exc:
        logger.error(
            "Update journal %s failing (%s): update %s taken unjournaled", journal.path, exc, data["update_id"]
        )
        return True


async def _start_webhook_server(application: TelegramApp, settings: Settings) -> web.AppRunner:
    # No access log: webhook paths often contain a secret.
    app = _webhook_app(application, settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_listen, settings.webhook_port).start()
    return runner
