"""The console's pages and form handlers."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.staff_console import charts, content_access, editing
from bot.staff_console.accounts import ROLES, AccountError
from bot.staff_console.app import (
    CONSOLE,
    Console,
    end_session,
    flash,
    render,
    session_of,
    start_session,
    user_of,
)
from bot.staff_console.content_access import ContentProblem
from bot.staff_console.insights import MISSED_STATES
from bot.staff_console.preview import Bubble, preview
from bot.staff_console.retraining import add_example, current_model

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()
FIGURE_PERIODS = (7, 30, 90, 365)
LANGUAGES_CHARTED = 6


# ----- login ---------------------------------------------------------------------------------------


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form; a visitor gets a session first, for the form's CSRF token."""
    if session_of(request) is None:
        start_session(request, None)
    return _render(request, "login.html", {"next": _local_path(request.query.get("next")), "error": None})


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    """Check the password; five wrong ones lock the name for a while."""
    console = request.app[CONSOLE]
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    target = _local_path(str(form.get("next", ""))) or "/"
    locked = console.throttle.locked_for(name)
    if locked > 0:
        minutes = int(locked // 60) + 1
        error = f"Too many wrong passwords for this name. Try again in {minutes} minute(s)."
        return _render(request, "login.html", {"next": target, "error": error}, status=429)
    user = console.users.authenticate(name, password)
    if user is None:
        console.throttle.failed(name)
        console.audit.record(name, "login_failed")
        return _render(request, "login.html", {"next": target, "error": "Wrong name or password."}, status=401)
    console.throttle.succeeded(name)
    start_session(request, user.name)
    console.audit.record(user.name, "login")
    raise web.HTTPSeeOther(target)


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End the session."""
    request.app[CONSOLE].audit.record(user_of(request).name, "logout")
    end_session(request)
    raise web.HTTPSeeOther("/login")


# ----- cities and coverage -------------------------------------------------------------------------


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    """The cities the user works on, with their coverage totals."""
    console = request.app[CONSOLE]
    user = user_of(request)
    summaries = []
    for city in console.cities():
        if user.may_see_city(city):
            cells = content_access.coverage(console.store(city))
            summaries.append((city, Counter(cells.values())))
    if len(summaries) == 1:
        raise web.HTTPSeeOther(f"/cities/{summaries[0][0]}")
    return _render(request, "home.html", {"summaries": summaries})


@routes.get("/cities/{city}")
async def coverage_page(request: web.Request) -> web.StreamResponse:
    """The intent × language table, each cell a link to its editor."""
    console, city = _city(request)
    store = console.store(city)
    cells = content_access.coverage(store)
    languages = store.city.languages
    totals = {
        language: Counter(state for (_, lang), state in cells.items() if lang == language) for language in languages
    }
    return _render(
        request,
        "coverage.html",
        {
            "city": city,
            "topics": content_access.topics(store),
            "languages": languages,
            "cells": cells,
            "totals": totals,
            "marks": content_access.COVERAGE_MARKS,
            "problems": store.last_report.problems,
        },
    )


# ----- editor --------------------------------------------------------------------------------------


@routes.get("/cities/{city}/answers/{language}/{intent}")
async def editor_page(request: web.Request) -> web.StreamResponse:
    """The original and the translation side by side, the form, and the Telegram preview."""
    console, city, language, intent = _answer_target(request)
    stored = _stored(console, city, language, intent)
    answer = stored.answer
    form = {
        "title": str(answer.get("title", "")) if answer else "",
        "text": str(answer.get("text", "")) if answer else "",
        "source": str(answer.get("source", "")) if answer else "",
        "link_labels": _link_labels(answer),
        "version": stored.version,
    }
    store = console.store(city)
    served = store.get(language, intent)
    bubbles = preview(served, store, console.catalogue, console.translations) if served else []
    return _editor(request, console, city, language, intent, form, bubbles=bubbles)


@routes.post("/cities/{city}/answers/{language}/{intent}")
async def save_answer(request: web.Request) -> web.StreamResponse:
    """Save (or only preview) the edited answer; a broken or conflicting edit leaves the file untouched."""
    console, city, language, intent = _answer_target(request)
    user = user_of(request)
    form = await request.post()
    edit = editing.AnswerEdit(
        title=str(form.get("title", "")),
        text=str(form.get("text", "")),
        source=str(form.get("source", "")),
        link_labels=tuple(str(value) for value in form.getall("link_label", [])),
    )
    base_version = str(form.get("version", ""))
    submitted: dict[str, Any] = {
        "title": edit.title,
        "text": edit.text,
        "source": edit.source,
        "link_labels": list(edit.link_labels),
        "version": base_version,
    }
    dry_run = form.get("action") == "preview"
    outcome = editing.save(console.store(city), language, intent, edit, base_version, dry_run=dry_run)
    if outcome.conflict:
        current = _stored(console, city, language, intent)
        submitted["version"] = current.version
        return _editor(request, console, city, language, intent, submitted, conflict=current.answer, status=409)
    if outcome.errors:
        return _editor(request, console, city, language, intent, submitted, outcome=outcome, status=422)
    store = console.store(city)
    bubbles = preview(outcome.answer, store, console.catalogue, console.translations) if outcome.answer else []
    if dry_run:
        return _editor(request, console, city, language, intent, submitted, outcome=outcome, bubbles=bubbles)
    console.audit.record(
        user.name, "edit", city=city, language=language, intent=intent, file=_relative(console, outcome.path)
    )
    flash(request, "Saved. The bot answers with the new text within a few seconds (as a draft until reviewed).")
    for warning in outcome.problems:  # advice that does not block, such as a long text
        flash(request, f"Advice: {warning.path.name}, line {warning.line}: {warning.message}")
    raise web.HTTPSeeOther(request.path)


@routes.post("/cities/{city}/answers/{language}/{intent}/review")
async def review_answer(request: web.Request) -> web.StreamResponse:
    """Mark the answer reviewed: reviewers and admins only."""
    console, city, language, intent = _answer_target(request)
    user = user_of(request)
    if not user.can_review:
        raise web.HTTPForbidden(text="Only a reviewer can mark an answer reviewed.")
    form = await request.post()
    outcome = editing.review(
        console.store(city), language, intent, str(form.get("version", "")), user.name, console.today()
    )
    editor = request.path.removesuffix("/review")
    if outcome.conflict:
        flash(request, "Not marked reviewed: the answer changed since you opened it. Read it again first.")
    elif outcome.errors:
        flash(request, "Not marked reviewed: " + "; ".join(str(problem) for problem in outcome.errors))
    else:
        console.audit.record(
            user.name, "review", city=city, language=language, intent=intent, file=_relative(console, outcome.path)
        )
        flash(request, "Marked reviewed.")
    raise web.HTTPSeeOther(editor)


def _editor(
    request: web.Request,
    console: Console,
    city: str,
    language: str,
    intent: str,
    form: dict[str, Any],
    *,
    outcome: editing.SaveOutcome | None = None,
    bubbles: list[Bubble] | None = None,
    conflict: Any = None,
    status: int = 200,
) -> web.StreamResponse:
    store = console.store(city)
    original_language = store.city.original_language
    stored = _stored(console, city, language, intent)
    original = _stored(console, city, original_language, intent).answer if language != original_language else None
    texts = [form["text"], str(original.get("text", "")) if original else ""]
    used = [key for text in texts for key in content_access.fact_keys(text)]
    field_errors: dict[str, list[ContentProblem]] = defaultdict(list)
    other_problems: list[ContentProblem] = []
    if outcome is not None:
        for problem in outcome.problems:
            mine = problem.path == outcome.path and problem.message.startswith(f"{intent}:")
            field = _field_at(outcome.field_lines, problem.line) if mine else None
            (field_errors[field] if field else other_problems).append(problem)
    file_problems = [p for p in store.last_report.problems if p.path == stored.path]
    return _render(
        request,
        "editor.html",
        {
            "city": city,
            "language": language,
            "intent": intent,
            "topic": store.city.topic_of(intent, console.catalogue),
            "original_language": original_language,
            "original": original,
            "stored": stored.answer,
            "path": _relative(console, stored.path),
            "form": form,
            "links": list(stored.answer.get("links") or []) if stored.answer else _links_of(original),
            "facts": content_access.shown_facts(store, used, language),
            "field_errors": field_errors,
            "other_problems": other_problems,
            "file_problems": [] if outcome is not None else file_problems,
            "bubbles": bubbles or [],
            "previewing_candidate": outcome is not None and not outcome.saved,
            "conflict": conflict,
            "can_review": user_of(request).can_review and stored.answer is not None,
            "review_state": _review_state(store.get(language, intent)),
        },
        status=status,
    )


# ----- what the bot missed -------------------------------------------------------------------------


@routes.get("/cities/{city}/missed")
async def missed_page(request: web.Request) -> web.StreamResponse:
    """Questions that ended in a fallback or a 👎, per language, with the model's best guesses."""
    console, city = _city(request)
    user = user_of(request)
    languages = [code for code in console.catalogue.languages if user.may_edit(city, code)]
    language = request.query.get("language") or (languages[0] if len(languages) == 1 else "")
    if language and language not in languages:
        raise web.HTTPForbidden(text="You do not work on this language.")
    status = request.query.get("status", "open")
    if status not in MISSED_STATES:
        raise web.HTTPBadRequest(text="Unknown status.")
    questions = [q for q in console.insights.missed(city, language or None, status) if q.language in languages]
    return _render(
        request,
        "missed.html",
        {
            "city": city,
            "language": language,
            "languages": languages,
            "status": status,
            "statuses": MISSED_STATES,
            "questions": questions,
            "counts": console.insights.missed_counts(city),
            "intents": console.store(city).intents,
            "enabled": console.config.keep_missed_questions,
            "retention_days": console.config.missed_retention_days,
            "model": current_model(console.config.model_dir, city),
            "retraining": console.retrainer.status.get(city),
        },
    )


@routes.post("/cities/{city}/missed/{question_id:\\d+}")
async def sort_missed(request: web.Request) -> web.StreamResponse:
    """Assign a missed question to an intent (a new training example), dismiss it, or ask for a new topic."""
    console, city = _city(request)
    user = user_of(request)
    question = console.insights.get(int(request.match_info["question_id"]))
    if question is None or question.city != city:
        raise web.HTTPNotFound(text="No such question.")
    if not user.may_edit(city, question.language):
        raise web.HTTPForbidden(text="You do not work on this language.")
    form = await request.post()
    action = str(form.get("action", ""))
    if action == "assign":
        intent = str(form.get("intent", ""))
        if intent not in console.store(city).intents:
            raise web.HTTPBadRequest(text="Choose an intent of the catalogue.")
        path = add_example(console.city_dir(city), question.language, intent, question.text)
        console.insights.set_status(question.id, "assigned", intent)
        console.retrainer.request(city, console.city_dir(city))
        console.audit.record(
            user.name, "assign", city=city, language=question.language, intent=intent, file=_relative(console, path)
        )
        flash(request, f"Added as an example of “{intent}”. The model is retraining in the background.")
    elif action in {"dismiss", "new_topic"}:
        console.insights.set_status(question.id, "dismissed" if action == "dismiss" else "new_topic")
        console.audit.record(user.name, action, city=city, language=question.language)
        flash(request, "Dismissed." if action == "dismiss" else "Marked as a new topic needed.")
    else:
        raise web.HTTPBadRequest(text="Unknown action.")
    raise web.HTTPSeeOther(f"/cities/{city}/missed?language={quote(question.language)}")


@routes.post("/cities/{city}/retrain")
async def retrain(request: web.Request) -> web.StreamResponse:
    """Retrain the city's model now (in the background)."""
    console, city = _city(request)
    console.retrainer.request(city, console.city_dir(city))
    console.audit.record(user_of(request).name, "retrain", city=city)
    flash(request, "Retraining started; the bot switches to the new model when it is ready.")
    raise web.HTTPSeeOther(f"/cities/{city}/missed")


# ----- figures -------------------------------------------------------------------------------------


@routes.get("/cities/{city}/figures")
async def figures_page(request: web.Request) -> web.StreamResponse:
    """Questions per day, language and topic, fallback and 👎 rates, as SVG charts and tables."""
    console, city = _city(request)
    days = int(request.query.get("days", "30")) if request.query.get("days", "30").isdigit() else 30
    days = days if days in FIGURE_PERIODS else 30
    since = console.today() - dt.timedelta(days=days - 1)
    counts = console.insights.daily(city, since)
    dates = [since + dt.timedelta(days=offset) for offset in range(days)]
    labels = [day.strftime("%d/%m") for day in dates]
    questions: Counter[tuple[dt.date, str]] = Counter()
    topics: Counter[tuple[dt.date, str]] = Counter()
    per_language: Counter[tuple[str, str]] = Counter()
    per_topic_language: Counter[tuple[str, str]] = Counter()
    for row in counts:
        per_language[(row.metric, row.language)] += row.count
        if row.metric == "question":
            questions[(row.day, row.language)] += row.count
            topic = console.catalogue.topic_of(row.intent) or "other"
            topics[(row.day, topic)] += row.count
            per_topic_language[(topic, row.language)] += row.count
    languages = [code for code, _n in Counter({lang: n for (_d, lang), n in questions.items()}).most_common()]
    shown, rest = languages[:LANGUAGES_CHARTED], languages[LANGUAGES_CHARTED:]
    language_series = [charts.Series(code, tuple(float(questions[(day, code)]) for day in dates)) for code in shown]
    if rest:
        others = tuple(float(sum(questions[(day, code)] for code in rest)) for day in dates)
        language_series.append(charts.Series("other", others))
    topic_names = list(console.catalogue.topics)
    topic_series = [charts.Series(t, tuple(float(topics[(day, t)]) for day in dates)) for t in topic_names]
    rates = []
    for code in console.catalogue.languages:
        asked = per_language[("question", code)] + per_language[("fallback", code)]
        if asked:
            rates.append(
                (code, asked, per_language[("fallback", code)] / asked, per_language[("feedback_down", code)] / asked)
            )
    rate_chart = charts.stacked_bars(
        "Not understood (fallback), % of questions per language",
        [code for code, *_ in rates],
        [charts.Series("fallback", tuple(round(rate * 100, 1) for _c, _a, rate, _d in rates))],
        unit="%",
    )
    return _render(
        request,
        "figures.html",
        {
            "city": city,
            "days": days,
            "periods": FIGURE_PERIODS,
            "since": since,
            "by_language": charts.stacked_bars("Questions per day, by language", labels, language_series),
            "by_topic": charts.stacked_bars("Questions per day, by topic", labels, topic_series),
            "rate_chart": rate_chart,
            "rates": rates,
            "topic_names": topic_names,
            "table_languages": languages,
            "per_topic_language": per_topic_language,
        },
    )


# ----- users and audit (admin) ---------------------------------------------------------------------


@routes.get("/users")
async def users_page(request: web.Request) -> web.StreamResponse:
    """Accounts: admins only."""
    console = _admin(request)
    return _render(request, "users.html", {"users": console.users.users(), "roles": ROLES, "error": None})


@routes.post("/users")
async def change_users(request: web.Request) -> web.StreamResponse:
    """Add, replace or remove an account: admins only."""
    console = _admin(request)
    admin = user_of(request)
    form = await request.post()
    name = str(form.get("name", "")).strip()
    if form.get("action") == "remove":
        if name == admin.name:
            raise web.HTTPBadRequest(text="You cannot remove your own account.")
        if console.users.remove(name):
            console.sessions.end_user(name)
            console.audit.record(admin.name, "user_removed", target=name)
            flash(request, f"Removed {name}.")
        raise web.HTTPSeeOther("/users")
    try:
        added = console.users.add(
            name,
            str(form.get("role", "")),
            str(form.get("password", "")),
            _codes(str(form.get("languages", ""))),
            _codes(str(form.get("cities", ""))),
        )
    except AccountError as exc:
        return _render(
            request, "users.html", {"users": console.users.users(), "roles": ROLES, "error": str(exc)}, status=422
        )
    console.sessions.end_user(added.name)
    console.audit.record(admin.name, "user_saved", target=added.name, role=added.role)
    flash(request, f"Saved {added.name} ({added.role}).")
    raise web.HTTPSeeOther("/users")


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.StreamResponse:
    """The latest audit entries: admins only."""
    console = _admin(request)
    return _render(request, "audit.html", {"entries": console.audit.recent(200)})


# ----- helpers -------------------------------------------------------------------------------------


def _render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    return render(request, template, context, status)


def _city(request: web.Request) -> tuple[Console, str]:
    console = request.app[CONSOLE]
    city = request.match_info["city"]
    if city not in console.cities():
        raise web.HTTPNotFound(text="No such city.")
    if not user_of(request).may_see_city(city):
        raise web.HTTPForbidden(text="You do not work on this city.")
    return console, city


def _answer_target(request: web.Request) -> tuple[Console, str, str, str]:
    console, city = _city(request)
    language, intent = request.match_info["language"], request.match_info["intent"]
    store = console.store(city)
    if language not in store.city.languages or intent not in store.intents:
        raise web.HTTPNotFound(text="No such language or intent.")
    if not user_of(request).may_edit(city, language):
        raise web.HTTPForbidden(text=f"You do not translate into this language ({language}).")
    return console, city, language, intent


def _admin(request: web.Request) -> Console:
    if not user_of(request).is_admin:
        raise web.HTTPForbidden(text="Only an administrator can open this page.")
    return request.app[CONSOLE]


def _stored(console: Console, city: str, language: str, intent: str) -> editing.StoredAnswer:
    store = console.store(city)
    return editing.find(store.city_dir, console.catalogue, language, intent, store.city.original_language)


def _link_labels(answer: Any) -> list[str]:
    return [str(link.get("label", "")) for link in (answer.get("links") or [])] if answer else []


def _links_of(answer: Any) -> list[Any]:
    return list(answer.get("links") or []) if answer else []


def _review_state(answer: content_access.Answer | None) -> str:
    """What the bot knows of the answer's review: missing, draft, stale, or reviewed (by whom, when)."""
    if answer is None:
        return "missing"
    if answer.review_state != "reviewed":
        return answer.review_state
    by = f" by {answer.reviewed_by}" if answer.reviewed_by else ""
    return f"reviewed on {answer.reviewed_on}{by}"


def _field_at(field_lines: dict[str, int], line: int) -> str | None:
    """The answer field a problem's line belongs to (the last field starting at or before it)."""
    candidates = [(start, name) for name, start in field_lines.items() if start <= line]
    return max(candidates)[1] if candidates else None


def _relative(console: Console, path: Any) -> str:
    try:
        return str(path.relative_to(console.config.content_dir.parent))
    except ValueError:
        return str(path)


def _local_path(target: str | None) -> str:
    """Only paths of this site may follow the login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _codes(raw: str) -> tuple[str, ...]:
    return tuple(part for part in raw.replace(",", " ").split() if part)
