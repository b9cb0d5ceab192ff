"""A city's curated content: its fact registry, its ``city.yml`` and its answers
(``responses/<city>/<lang>/*.yml``), loaded into typed, validated objects.

A file with a mistake is reported (file, line, reason) and its last good version stays in use, so
a bad edit never takes an answer away from users. Reloading happens on demand or when files change.
Besides the answers' shape, loading checks the fact discipline: ``{{key}}`` must name a fact, and a
phone number, web address or postal address written by hand is an error naming the key to use.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from yaml.nodes import Node, SequenceNode

from bot import markup
from bot.catalogue import Catalogue
from bot.city import default_city, load_city
from bot.facts import FactRegistry, fact_keys, fill, load_facts
from bot.handwritten import find_handwritten
from bot.yamldoc import Problem, compose, mapping, node_line, scalar_text

logger = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
RECOMMENDED_LENGTH = 700
TITLE_LIMIT = 40
VERSION_LENGTH = 8
STATUSES = ("draft", "reviewed")
CITY_NLU_FOLDER = "nlu"  # responses/<city>/nlu/<lang>/*.yml: training data, not answers
# Folders named nlu-* (e.g. nlu-heldout/, a test split never trained on) hold examples, not answers.
EXAMPLE_FOLDER_PREFIX = CITY_NLU_FOLDER + "-"
_FIELDS = (
    "title",
    "text",
    "links",
    "follow_up",
    "source",
    "status",
    "reviewed_by",
    "reviewed_on",
    "translated_from",
)
_Report = Callable[..., None]  # error(node, message, severity="error", blocking=True)

__all__ = ["Answer", "ContentStore", "Link", "LoadReport", "Problem", "answer_version"]


@dataclass(frozen=True)
class Link:
    """A button that opens a website; ``fact`` is the registry key its address comes from."""

    label: str
    url: str
    fact: str | None = None


@dataclass(frozen=True)
class Answer:
    """One curated answer in one language; ``text`` still holds its ``{{fact}}`` references."""

    intent: str
    language: str
    title: str
    text: str
    source: str
    status: str = "draft"
    reviewed_by: str = ""
    reviewed_on: dt.date | None = None
    translated_from: str | None = None
    links: tuple[Link, ...] = ()
    follow_up: tuple[str, ...] = ()
    location: str = ""  # "path:line"
    stale: bool = False  # a translation of an older version of its original

    @property
    def is_draft(self) -> bool:
        """True until staff have reviewed the text, and again when its original changed since."""
        return self.status != "reviewed" or self.stale

    @property
    def review_state(self) -> str:
        """``reviewed``, ``draft`` or ``stale``."""
        return "stale" if self.stale else self.status

    @property
    def fact_keys(self) -> list[str]:
        """The facts the text refers to."""
        return fact_keys(self.text)

    @property
    def link_facts(self) -> list[str]:
        """The facts the link buttons open."""
        return [link.fact for link in self.links if link.fact]

    def filled_text(self, facts: FactRegistry) -> str:
        """The text with every ``{{key}}`` replaced by the fact, formatted for the answer's language."""
        return fill(self.text, facts, self.language)


def answer_version(original: Answer, facts: FactRegistry) -> str:
    """Short hash of an original's text, link facts and the values of the facts it uses."""
    digest = hashlib.sha256(original.text.encode())
    digest.update(b"\0" + ",".join(sorted(original.link_facts)).encode() + b"\0")
    for key in sorted({*original.fact_keys, *original.link_facts}):
        fact = facts.get(key)
        digest.update(f"{key}={fact.canonical if fact else ''}\0".encode())
    return digest.hexdigest()[:VERSION_LENGTH]


@dataclass
class _FileState:
    mtime_ns: int
    answers: dict[str, Answer]


@dataclass
class LoadReport:
    """What the last (re)load found."""

    problems: list[Problem] = field(default_factory=list)
    kept_last_good: list[Path] = field(default_factory=list)
    files_loaded: int = 0

    @property
    def errors(self) -> list[Problem]:
        """The errors that keep something out of service (``check`` also fails on the other errors)."""
        return [p for p in self.problems if p.blocks]


class ContentStore:
    """One city: facts, city settings and answers keyed by language and intent, with last-good reloads."""

    def __init__(
        self,
        city_dir: Path,
        catalogue: Catalogue,
        fact_max_age_days: int = 365,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.city_dir = city_dir
        self.catalogue = catalogue
        self.fact_max_age_days = fact_max_age_days
        self.today = today
        self.facts = FactRegistry()
        self.city = default_city(city_dir.name, catalogue)
        self._files: dict[Path, _FileState] = {}
        self._answers: dict[tuple[str, str], Answer] = {}
        self._versions: dict[str, str] = {}
        self.last_report = LoadReport()

    @property
    def intents(self) -> tuple[str, ...]:
        """The catalogue's intents and the city's own."""
        return self.city.intents(self.catalogue)

    @property
    def answered_intents(self) -> tuple[str, ...]:
        """The intents answered from the answer files: all but those the engine answers with UI strings."""
        return tuple(intent for intent in self.intents if intent not in self.catalogue.ui_reply_intents)

    def get(self, language: str, intent: str) -> Answer | None:
        """The answer for ``intent`` in ``language``, if there is one."""
        return self._answers.get((language, intent))

    def original(self, intent: str) -> Answer | None:
        """The answer in the city's original language, the one translations follow."""
        return self.get(self.city.original_language, intent)

    def version(self, intent: str) -> str | None:
        """The current version of the original answer (what translations record in ``translated_from``)."""
        return self._versions.get(intent)

    def languages(self) -> list[str]:
        """Languages that have at least one answer."""
        return sorted({language for language, _ in self._answers})

    def answers(self) -> list[Answer]:
        """Every answer in use."""
        return list(self._answers.values())

    def changed_files(self) -> bool:
        """True when a file was added, removed or modified since the last load (cheap: stat only)."""
        current = self._scan()
        if set(current) != set(self._files):
            return True
        return any(self._files[path].mtime_ns != mtime for path, mtime in current.items())

    def reload(self) -> LoadReport:
        """Read facts, city and answers again; a broken file keeps its last good version. Never raises."""
        report = LoadReport()
        self._reload_facts_and_city(report)
        new_files: dict[Path, _FileState] = {}
        for path, mtime in self._scan().items():
            if path.parent == self.city_dir:
                new_files[path] = _FileState(mtime, {})  # facts.yml, city.yml: read above
                continue
            answers, problems = self._load_file(path)
            report.problems.extend(problems)
            previous = self._files.get(path)
            if any(p.blocks for p in problems) and previous is not None:
                # Keep serving what worked; the mtime stays new so we do not re-report every poll.
                new_files[path] = _FileState(mtime, previous.answers)
                report.kept_last_good.append(path)
            else:
                new_files[path] = _FileState(mtime, answers)
                report.files_loaded += 1
        answers_by_key: dict[tuple[str, str], Answer] = {}
        for path in sorted(new_files):
            for answer in new_files[path].answers.values():
                key = (answer.language, answer.intent)
                if key in answers_by_key:
                    first = answers_by_key[key]
                    report.problems.append(
                        Problem(path, _line_of(answer), f"{answer.intent}: already answered in {first.location}")
                    )
                    continue
                answers_by_key[key] = answer
        self._files = new_files
        self._answers = self._with_review_state(answers_by_key, report)
        self.last_report = report
        for problem in report.problems:
            if problem.blocks:
                logger.error("Content problem: %s", problem)
        unsafe = sum(p.severity == "error" and not p.blocks for p in report.problems)
        if unsafe:
            logger.warning("%s: %d value(s) outside the fact registry; run newcomer-bot check", self.city_dir, unsafe)
        for path in report.kept_last_good:
            logger.warning("Keeping the last good version of %s until it is fixed", path)
        return report

    def _reload_facts_and_city(self, report: LoadReport) -> None:
        facts = load_facts(self.city_dir / "facts.yml", self.today(), self.fact_max_age_days)
        report.problems.extend(facts.problems)
        if any(p.blocks for p in facts.problems) and self.facts.facts:
            report.kept_last_good.append(self.city_dir / "facts.yml")
        else:
            self.facts = facts
        self.city, problems = load_city(self.city_dir, self.catalogue, self.facts)
        report.problems.extend(problems)

    def _with_review_state(
        self, answers: dict[tuple[str, str], Answer], report: LoadReport
    ) -> dict[tuple[str, str], Answer]:
        """Versions of the originals; translations of an older version become stale; drift warnings."""
        original_language = self.city.original_language
        self._versions = {
            intent: answer_version(answer, self.facts)
            for (language, intent), answer in answers.items()
            if language == original_language
        }
        for key, answer in answers.items():
            original = answers.get((original_language, answer.intent))
            if answer.language == original_language or original is None:
                continue
            path, line = _path_and_line(answer)
            version = self._versions[answer.intent]
            if answer.translated_from != version:
                found = answer.translated_from or "none"
                message = (
                    f"{answer.intent}: stale translation (made from version {found}, the {original_language} "
                    f"original is now {version}): served as a draft until updated"
                )
                report.problems.append(Problem(path, line, message, "warning"))
                answers[key] = replace(answer, stale=True)
            report.problems.extend(_drift(original, answer, path, line))
        return answers

    def _scan(self) -> dict[Path, int]:
        if not self.city_dir.is_dir():
            return {}
        paths = [*self.city_dir.glob("*.y*ml"), *self.city_dir.glob("*/*.y*ml")]
        return {
            path: path.stat().st_mtime_ns
            for path in sorted(paths)
            if path.suffix in {".yml", ".yaml"}
            and path.parent.name != CITY_NLU_FOLDER
            and not path.parent.name.startswith(EXAMPLE_FOLDER_PREFIX)
        }

    def _load_file(self, path: Path) -> tuple[dict[str, Answer], list[Problem]]:
        language = path.parent.name
        if language not in self.catalogue.languages:
            return {}, [Problem(path, 1, f"folder {language!r} is not a supported language code")]
        root, problems = compose(path)
        if root is None:
            return {}, problems or [Problem(path, 1, "the file is empty", "warning")]
        entries = mapping(root)
        if entries is None:
            return {}, [Problem(path, node_line(root), "expected intent names followed by their answer")]
        answers: dict[str, Answer] = {}
        for intent, (key_node, value_node) in entries.items():
            answer = self._parse_answer(path, language, intent, key_node, value_node, problems)
            if answer is not None:
                answers[answer.intent] = answer
        return answers, problems

    def _parse_answer(
        self, path: Path, language: str, intent: str, key_node: Node, node: Node, problems: list[Problem]
    ) -> Answer | None:
        def error(at: Node, message: str, severity: str = "error", blocking: bool = True) -> None:
            problems.append(Problem(path, node_line(at), f"{intent}: {message}", severity, blocking))

        if intent not in self.intents:
            close = difflib.get_close_matches(intent, self.intents, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            error(key_node, f"not an intent of the catalogue or of city.yml's intents.added{hint}")
            return None
        fields = _fields(node, error)
        if fields is None:
            return None
        blocking_before = sum(p.blocks for p in problems)

        def scalar(name: str, required: bool = True) -> str:
            value = fields.get(name)
            if value is None:
                if required:
                    error(node, f"'{name}' is missing")
                return ""
            text = scalar_text(value)
            if text is None:
                error(value, f"'{name}' must be a non-empty text")
                return ""
            return text

        title, text, source = scalar("title"), scalar("text"), scalar("source")
        if len(title) > TITLE_LIMIT:
            error(fields["title"], f"title has {len(title)} characters, keep it under {TITLE_LIMIT}", "warning")
        if text:
            self._check_text(text, fields["text"], error, problems, path, intent)
        status, reviewed_by, reviewed_on = _review(fields, node, error)
        translated_from = scalar("translated_from", required=False) or None
        if translated_from and language == self.city.original_language:
            error(fields["translated_from"], "'translated_from' is for translations, not the original", "warning")
        links = self._links(fields.get("links"), error)
        follow_up = self._follow_up(intent, fields.get("follow_up"), error)
        if sum(p.blocks for p in problems) > blocking_before:
            return None
        return Answer(
            intent=intent,
            language=language,
            title=title,
            text=text,
            source=source,
            status=status,
            reviewed_by=reviewed_by,
            reviewed_on=reviewed_on,
            translated_from=translated_from,
            links=links,
            follow_up=follow_up,
            location=f"{path}:{node_line(key_node)}",
        )

    def _check_text(
        self, text: str, text_node: Node, error: _Report, problems: list[Problem], path: Path, intent: str
    ) -> None:
        first_line = node_line(text_node) + (1 if getattr(text_node, "style", None) in {"|", ">"} else 0)
        for problem in markup.check(text):
            problems.append(Problem(path, first_line + problem.line - 1, f"{intent}: {problem.reason}"))
        for key in fact_keys(text):
            if key not in self.facts:
                close = difflib.get_close_matches(key, list(self.facts.facts), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                error(text_node, f"{{{{{key}}}}} is not a fact of facts.yml{hint}")
        for found in find_handwritten(text, self.facts):
            message = f"{intent}: {found.kind} written by hand ({found.text!r}): " + (
                f"write {{{{{found.key}}}}} instead" if found.key else "add it to facts.yml and write {{its_key}}"
            )
            problems.append(Problem(path, first_line + found.line - 1, message, blocking=False))
        length = len(markup.strip(fill(text, self.facts, self.city.original_language)))
        if length > TELEGRAM_LIMIT:
            error(text_node, f"text has {length} characters, more than Telegram's {TELEGRAM_LIMIT}")
        elif length > RECOMMENDED_LENGTH:
            error(text_node, f"long answer ({length} characters; aim for {RECOMMENDED_LENGTH})", "warning")

    def _links(self, node: Node | None, error: _Report) -> tuple[Link, ...]:
        if node is None:
            return ()
        if not isinstance(node, SequenceNode):
            error(node, "'links' must be a list of '- label: … fact: …' entries")
            return ()
        links = []
        for entry in node.value:
            values = {name: value for name, (_key, value) in (mapping(entry) or {}).items()}
            label, key, url = (scalar_text(values.get(name)) for name in ("label", "fact", "url"))
            if not label or not (key or url):
                error(entry, "each link needs a 'label' and a 'fact' (the key of a web address in facts.yml)")
                continue
            if key:
                fact = self.facts.get(key)
                if fact is None or fact.type != "url":
                    error(values["fact"], f"link fact {key!r} is not a web address (type: url) of facts.yml")
                    continue
                links.append(Link(label, str(fact.value), key))
                continue
            # A literal address still works for users, but it escapes the registry: check fails.
            assert url is not None
            match = next((f.key for f in self.facts.of_type("url") if _same_url(str(f.value), url)), None)
            hint = f"write 'fact: {match}'" if match else "add it to facts.yml and write 'fact: its_key'"
            error(values["url"], f"link with a literal url ({url}): {hint}", blocking=False)
            if url.startswith("https://"):
                links.append(Link(label, url))
            else:
                error(values["url"], f"link address must start with https:// (found {url!r})")
        return tuple(links)

    def _follow_up(self, intent: str, node: Node | None, error: _Report) -> tuple[str, ...]:
        if node is None:
            return ()
        if not isinstance(node, SequenceNode):
            error(node, "'follow_up' must be a list such as [social_aid, find_job]")
            return ()
        names = []
        for entry in node.value:
            name = scalar_text(entry) or ""
            if name not in self.intents:
                # A dead reference only loses a button, so it does not block the file.
                error(entry, f"follow_up {name!r} is not an intent of the catalogue", "warning")
            elif name != intent:
                names.append(name)
        if len(names) > 3:
            error(node, f"{len(names)} follow-ups; three at most are shown", "warning")
        return tuple(names[:3])


def _fields(node: Node, error: _Report) -> dict[str, Node] | None:
    entries = mapping(node)
    if entries is None:
        error(node, "expected fields such as 'title:' and 'text:' under the intent name")
        return None
    fields: dict[str, Node] = {}
    for name, (field_key, field_value) in entries.items():
        if name not in _FIELDS:
            close = difflib.get_close_matches(name, _FIELDS, n=1)
            error(field_key, f"{name!r} is not a known field" + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        fields[name] = field_value
    return fields


def _review(fields: dict[str, Node], node: Node, error: _Report) -> tuple[str, str, dt.date | None]:
    """``status`` with, when reviewed, who reviewed it and when."""
    status_node = fields.get("status")
    status = scalar_text(status_node) if status_node is not None else None
    if status_node is None or status not in STATUSES:
        error(status_node or node, "add 'status: draft' (or 'status: reviewed' with reviewed_by and reviewed_on)")
        return "draft", "", None
    if status == "draft":
        return "draft", "", None
    reviewed_by = scalar_text(fields.get("reviewed_by"))
    reviewed_on_text = scalar_text(fields.get("reviewed_on"))
    reviewed_on = None
    try:
        reviewed_on = dt.date.fromisoformat(reviewed_on_text or "")
    except ValueError:
        error(fields.get("reviewed_on") or status_node, "a reviewed answer needs 'reviewed_on: YYYY-MM-DD'")
    if not reviewed_by:
        error(fields.get("reviewed_by") or status_node, "a reviewed answer needs 'reviewed_by:' (who checked it)")
    return "reviewed", reviewed_by or "", reviewed_on


def _drift(original: Answer, translation: Answer, path: Path, line: int) -> list[Problem]:
    """Facts and links the original has and the translation lacks, or the reverse."""
    problems = []
    pairs = (("fact", original.fact_keys, translation.fact_keys), ("link", original.link_facts, translation.link_facts))
    for kind, in_original, in_translation in pairs:
        for key in sorted(set(in_original) - set(in_translation)):
            message = f"{translation.intent}: drift: the original has {kind} {key!r}, this translation does not"
            problems.append(Problem(path, line, message, "warning"))
        for key in sorted(set(in_translation) - set(in_original)):
            message = f"{translation.intent}: drift: this translation has {kind} {key!r}, the original does not"
            problems.append(Problem(path, line, message, "warning"))
    return problems


def _same_url(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return url.lower().removeprefix("https://").removeprefix("http://").removeprefix("www.").rstrip("/")

    return norm(a) == norm(b)


def _path_and_line(answer: Answer) -> tuple[Path, int]:
    path, _sep, line = answer.location.rpartition(":")
    return Path(path), int(line)


def _line_of(answer: Answer) -> int:
    return _path_and_line(answer)[1] if answer.location else 1
