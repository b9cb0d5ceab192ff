"""The console's aiohttp application: shared state, middlewares (headers, sessions, login, CSRF), serving."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from aiohttp import web
from argon2 import PasswordHasher

from bot.catalogue import Catalogue, load_catalogue
from bot.i18n import Translations, endonym
from bot.settings import Settings
from bot.staff_console import content_access
from bot.staff_console.accounts import StaffUser, UserStore
from bot.staff_console.audit import AuditLog
from bot.staff_console.content_access import ContentStore
from bot.staff_console.insights import InsightStore
from bot.staff_console.retraining import Retrainer
from bot.staff_console.security import Clock, LoginThrottle, Session, SessionStore, csrf_matches
from nlu.embedded import EmbeddedBackend

logger = logging.getLogger(__name__)

SESSION_COOKIE = "staff_session"
PUBLIC_PATHS = ("/login", "/static/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_HEADERS = {
    # No script at all; styles and images only from the console itself.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class ConsoleConfig:
    """Where the console finds and keeps things; built from the bot's settings in production."""

    content_dir: Path
    catalogue_path: Path
    nlu_data_dir: Path
    model_dir: Path
    users_file: Path
    audit_file: Path
    insights_db: Path | str
    keep_missed_questions: bool = False
    missed_retention_days: int = 30
    secure_cookies: bool = False  # force Secure cookies behind a TLS proxy that forwards plain HTTP

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleConfig:
        """The console's view of the settings."""
        return cls(
            content_dir=settings.content_dir,
            catalogue_path=settings.catalogue_path,
            nlu_data_dir=settings.nlu_data_dir,
            model_dir=settings.model_cache_dir,
            users_file=settings.staff_users_file,
            audit_file=settings.staff_audit_log,
            insights_db=settings.staff_db_path,
            keep_missed_questions=settings.keep_missed_questions,
            missed_retention_days=settings.missed_retention_days,
            secure_cookies=settings.staff_secure_cookies,
        )


@dataclass
class Console:
    """Everything the request handlers share."""

    config: ConsoleConfig
    catalogue: Catalogue
    translations: Translations
    users: UserStore
    sessions: SessionStore
    throttle: LoginThrottle
    audit: AuditLog
    insights: InsightStore
    retrainer: Retrainer
    clock: Clock
    stores: dict[str, ContentStore] = field(default_factory=dict)

    def now(self) -> dt.datetime:
        """The current local time, from the injected clock."""
        return dt.datetime.fromtimestamp(self.clock()).astimezone()

    def today(self) -> dt.date:
        """Today's date, from the injected clock."""
        return self.now().date()

    def cities(self) -> list[str]:
        """The city packs under the content folder."""
        return content_access.cities(self.config.content_dir)

    def city_dir(self, city: str) -> Path:
        """``responses/<city>``."""
        return self.config.content_dir / city

    def store(self, city: str) -> ContentStore:
        """The city's answers as the bot sees them, reloaded when a file changed."""
        store = self.stores.get(city)
        if store is None:
            store = self.stores[city] = content_access.open_store(self.city_dir(city), self.catalogue)
        else:
            content_access.refresh(store)
        return store


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates", jinja2.Environment)


@dataclass
class RequestState:
    """What the middlewares learn about one request: its session, its user, cookie changes."""

    session: Session | None = None
    user: StaffUser | None = None
    set_cookie: bool = False
    clear_cookie: bool = False


STATE: web.RequestKey[RequestState] = web.RequestKey("staff_state", RequestState)


def create_app(
    config: ConsoleConfig,
    clock: Clock = time.time,
    hasher: PasswordHasher | None = None,
    backends: Mapping[str, Sequence[EmbeddedBackend]] | None = None,
) -> web.Application:
    """The console application; ``backends`` (by city) are swapped to the city's retrained model."""
    from bot.staff_console import views

    catalogue = load_catalogue(config.catalogue_path)
    console = Console(
        config=config,
        catalogue=catalogue,
        translations=Translations.load(catalogue.languages),
        users=UserStore(config.users_file, hasher),
        sessions=SessionStore(clock),
        throttle=LoginThrottle(clock),
        audit=AuditLog(config.audit_file, lambda: dt.datetime.fromtimestamp(clock()).astimezone()),
        insights=InsightStore(
            config.insights_db,
            lambda: dt.datetime.fromtimestamp(clock()).date(),
            config.missed_retention_days,
        ),
        retrainer=Retrainer(
            config.nlu_data_dir, config.model_dir, lambda: dt.datetime.fromtimestamp(clock()).astimezone(), backends
        ),
        clock=clock,
    )
    app = web.Application(middlewares=[_headers, _sessions, _login_required, _csrf])
    app[CONSOLE] = console
    app[TEMPLATES] = _templates()
    app.router.add_static("/static/", Path(__file__).parent / "static", name="static")
    app.add_routes(views.routes)
    app.on_startup.append(_purge_expired)
    app.on_cleanup.append(_close)
    return app


async def _purge_expired(app: web.Application) -> None:
    removed = app[CONSOLE].insights.purge_expired()
    if removed:
        logger.info("Deleted %d missed question(s) past their retention period", removed)


async def _close(app: web.Application) -> None:
    console = app[CONSOLE]
    for city in list(console.retrainer.status):
        await console.retrainer.wait(city)
    console.insights.close()


def session_of(request: web.Request) -> Session | None:
    """The request's session, if it has one."""
    return request[STATE].session


def user_of(request: web.Request) -> StaffUser:
    """The logged-in user (the login middleware guarantees one outside the public pages)."""
    user = request[STATE].user
    if user is None:
        raise web.HTTPForbidden(text="Please log in.")
    return user


def start_session(request: web.Request, user: str | None) -> Session:
    """A fresh session (a new id at login stops session fixation); its cookie is set on the response."""
    console = request.app[CONSOLE]
    old = session_of(request)
    if old is not None:
        console.sessions.end(old.id)
    session = console.sessions.new(user)
    request[STATE].session = session
    request[STATE].set_cookie = True
    return session


def end_session(request: web.Request) -> None:
    """Log out: the session is gone on the server and its cookie is removed."""
    session = session_of(request)
    if session is not None:
        request.app[CONSOLE].sessions.end(session.id)
    request[STATE].session = None
    request[STATE].clear_cookie = True


def flash(request: web.Request, message: str) -> None:
    """A one-time notice shown on the next page."""
    session = session_of(request)
    if session is not None:
        session.flash.append(message)


async def _finish(
    request: web.Request, handler: Handler, finish: Callable[[web.StreamResponse], None]
) -> web.StreamResponse:
    """Run ``handler`` and let ``finish`` change the response, raised (redirect, error) or returned."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        finish(exc)
        raise
    finish(response)
    return response


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    def add_headers(response: web.StreamResponse) -> None:
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")

    return await _finish(request, handler, add_headers)


@web.middleware
async def _sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = request.app[CONSOLE]
    request[STATE] = RequestState(console.sessions.get(request.cookies.get(SESSION_COOKIE)))

    def cookies(response: web.StreamResponse) -> None:
        session = session_of(request)
        if request[STATE].clear_cookie:
            response.del_cookie(SESSION_COOKIE, path="/")
        if request[STATE].set_cookie and session is not None:
            response.set_cookie(
                SESSION_COOKIE,
                session.id,
                path="/",
                httponly=True,
                samesite="Strict",
                secure=request.secure or console.config.secure_cookies,
            )

    return await _finish(request, handler, cookies)


@web.middleware
async def _login_required(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PUBLIC_PATHS):
        return await handler(request)
    session = session_of(request)
    user = request.app[CONSOLE].users.get(session.user) if session is not None and session.user else None
    if user is None:
        if request.method == "GET":
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/" else "/login")
        raise web.HTTPForbidden(text="Your session has ended. Please log in again.")
    request[STATE].user = user
    return await handler(request)


@web.middleware
async def _csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        session = session_of(request)
        form = await request.post()
        token = form.get("csrf_token")
        if session is None or not csrf_matches(session, token if isinstance(token, str) else None):
            raise web.HTTPForbidden(
                text="This form has expired or did not come from the console. Reload the page and try again."
            )
    return await handler(request)


def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.staff_console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["endonym"] = endonym
    environment.globals["is_rtl"] = content_access.is_rtl
    return environment


def render(request: web.Request, template: str, context: dict[str, object], status: int = 200) -> web.Response:
    """An HTML page from a template, with the user, the CSRF token, the cities and notices filled in."""
    page = request.app[TEMPLATES].get_template(template).render({**_template_context(request), **context})
    return web.Response(text=page, status=status, content_type="text/html")


def _template_context(request: web.Request) -> dict[str, object]:
    console = request.app[CONSOLE]
    session = session_of(request)
    user = request[STATE].user
    notices = list(session.flash) if session is not None else []
    if session is not None:
        session.flash.clear()
    visible = [city for city in console.cities() if user is not None and user.may_see_city(city)]
    return {
        "user": user,
        "csrf_token": session.csrf_token if session is not None else "",
        "cities": visible,
        "notices": notices,
    }


def run_console(settings: Settings) -> None:
    """``newcomer-bot staff``: serve the console until interrupted."""
    app = create_app(ConsoleConfig.from_settings(settings))
    print(f"Staff console on http://{settings.staff_host}:{settings.staff_port}/ (Ctrl+C to stop)")
    web.run_app(app, host=settings.staff_host, port=settings.staff_port, print=None)


async def start_console(settings: Settings, backends: Sequence[EmbeddedBackend]) -> web.AppRunner:
    """Serve the console inside the bot's event loop; ``backends`` serve ``settings.city`` and get its new models."""
    config = ConsoleConfig.from_settings(settings)
    runner = web.AppRunner(create_app(config, backends={settings.city: backends}))
    await runner.setup()
    await web.TCPSite(runner, settings.staff_host, settings.staff_port).start()
    logger.info("Staff console on http://%s:%s/", settings.staff_host, settings.staff_port)
    return runner
