"""The curated answers: ``responses/<city>/<lang>/*.yml`` loaded into typed, validated objects.

A file with a mistake is reported (file, line, reason) and its last good version stays in use, so
a bad edit never takes an answer away from users. Reloading happens on demand or when files change.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot import markup
from bot.catalogue import Catalogue

logger = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
RECOMMENDED_LENGTH = 700
TITLE_LIMIT = 40
# libyaml's loader is ~10x faster than the pure-Python one and keeps line numbers.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FIELDS = ("title", "text", "links", "follow_up", "source", "status", "reviewed")


class _Report(Protocol):
    """Records a problem at a YAML node."""

    def __call__(self, at: Node, message: str, severity: str = "error") -> None: ...


@dataclass(frozen=True)
class Link:
    """A button that opens a website."""

    label: str
    url: str


@dataclass(frozen=True)
class Answer:
    """One curated answer in one language."""

    intent: str
    language: str
    title: str
    text: str
    source: str
    reviewed_on: dt.date | None  # None means draft
    links: tuple[Link, ...] = ()
    follow_up: tuple[str, ...] = ()
    location: str = ""  # "path:line"

    @property
    def is_draft(self) -> bool:
        """True until staff have reviewed the text."""
        return self.reviewed_on is None


@dataclass(frozen=True)
class Problem:
    """A mistake (``error``) or something to improve (``warning``) in an answer file."""

    path: Path
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


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
        """Only the problems that stopped a file from being used."""
        return [p for p in self.problems if p.severity == "error"]


class ContentStore:
    """Answers of one city, keyed by language and intent, with last-good reloads."""

    def __init__(self, city_dir: Path, catalogue: Catalogue) -> None:
        self.city_dir = city_dir
        self.catalogue = catalogue
        self._files: dict[Path, _FileState] = {}
        self._answers: dict[tuple[str, str], Answer] = {}
        self.last_report = LoadReport()

    def get(self, language: str, intent: str) -> Answer | None:
        """The answer for ``intent`` in ``language``, if there is one."""
        return self._answers.get((language, intent))

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
        """Read every file again; a broken file keeps its last good version. Never raises."""
        report = LoadReport()
        new_files: dict[Path, _FileState] = {}
        for path, mtime in self._scan().items():
            answers, problems = self._load_file(path)
            report.problems.extend(problems)
            broken = any(p.severity == "error" for p in problems)
            previous = self._files.get(path)
            if broken and previous is not None:
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
        self._answers = answers_by_key
        self.last_report = report
        for problem in report.errors:
            logger.error("Answer file problem: %s", problem)
        for path in report.kept_last_good:
            logger.warning("Keeping the last good version of %s until it is fixed", path)
        return report

    def _scan(self) -> dict[Path, int]:
        if not self.city_dir.is_dir():
            return {}
        return {
            path: path.stat().st_mtime_ns
            for path in sorted(self.city_dir.glob("*/*.y*ml"))
            if path.suffix in {".yml", ".yaml"}
        }

    def _load_file(self, path: Path) -> tuple[dict[str, Answer], list[Problem]]:
        language = path.parent.name
        problems: list[Problem] = []
        if language not in self.catalogue.languages:
            return {}, [Problem(path, 1, f"folder {language!r} is not a supported language code")]
        try:
            root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        except UnicodeDecodeError:
            return {}, [Problem(path, 1, "the file is not saved as UTF-8 text")]
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            hint = " (check the indentation: use spaces, and indent the text under 'text: |')"
            return {}, [Problem(path, line, f"YAML syntax error: {exc.problem or exc}{hint}")]
        if root is None:
            return {}, [Problem(path, 1, "the file is empty", "warning")]
        if not isinstance(root, MappingNode):
            return {}, [Problem(path, _node_line(root), "expected intent names followed by their answer")]
        answers: dict[str, Answer] = {}
        for key_node, value_node in root.value:
            answer = _parse_answer(path, language, key_node, value_node, self.catalogue, problems)
            if answer is not None:
                answers[answer.intent] = answer
        return answers, problems


def _parse_answer(
    path: Path, language: str, key_node: Node, node: Node, catalogue: Catalogue, problems: list[Problem]
) -> Answer | None:
    def error(at: Node, message: str, severity: str = "error") -> None:
        problems.append(Problem(path, _node_line(at), message, severity))

    intent = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
    if intent not in catalogue.intents:
        close = difflib.get_close_matches(intent, catalogue.intents, n=1)
        error(
            key_node,
            f"{intent!r} is not an intent of the catalogue" + (f" (did you mean {close[0]!r}?)" if close else ""),
        )
        return None
    if not isinstance(node, MappingNode):
        error(node, f"{intent}: expected fields such as 'title:' and 'text:' under the intent name")
        return None
    fields: dict[str, Node] = {}
    for field_key, field_value in node.value:
        name = str(field_key.value)
        if name not in _FIELDS:
            close = difflib.get_close_matches(name, _FIELDS, n=1)
            error(
                field_key,
                f"{intent}: {name!r} is not a known field" + (f" (did you mean {close[0]!r}?)" if close else ""),
            )
            continue
        fields[name] = field_value
    errors_before = sum(p.severity == "error" for p in problems)

    def scalar(name: str, required: bool = True) -> str:
        value = fields.get(name)
        if value is None:
            if required:
                error(node, f"{intent}: '{name}' is missing")
            return ""
        if not isinstance(value, ScalarNode) or not str(value.value).strip():
            error(value, f"{intent}: '{name}' must be a non-empty text")
            return ""
        return str(value.value).strip()

    title, text, source = scalar("title"), scalar("text"), scalar("source")
    if len(title) > TITLE_LIMIT:
        error(fields["title"], f"{intent}: title has {len(title)} characters, keep it under {TITLE_LIMIT}", "warning")
    if text:
        text_node = fields["text"]
        first_line = _node_line(text_node) + (1 if getattr(text_node, "style", None) in {"|", ">"} else 0)
        for problem in markup.check(text):
            problems.append(Problem(path, first_line + problem.line - 1, f"{intent}: {problem.reason}"))
        length = len(markup.strip(text))
        if length > TELEGRAM_LIMIT:
            error(text_node, f"{intent}: text has {length} characters, more than Telegram's {TELEGRAM_LIMIT}")
        elif length > RECOMMENDED_LENGTH:
            error(text_node, f"{intent}: long answer ({length} characters; aim for {RECOMMENDED_LENGTH})", "warning")

    reviewed_on = _review_state(intent, fields, error, node)
    links = _links(intent, fields.get("links"), error)
    follow_up = _follow_up(intent, fields.get("follow_up"), catalogue, error)
    if sum(p.severity == "error" for p in problems) > errors_before:
        return None
    return Answer(
        intent=intent,
        language=language,
        title=title,
        text=text,
        source=source,
        reviewed_on=reviewed_on,
        links=links,
        follow_up=follow_up,
        location=f"{path}:{_node_line(key_node)}",
    )


def _review_state(intent: str, fields: dict[str, Node], error: _Report, node: Node) -> dt.date | None:
    status, reviewed = fields.get("status"), fields.get("reviewed")
    if status is not None and reviewed is not None:
        error(status, f"{intent}: write either 'status: draft' or 'reviewed: YYYY-MM-DD', not both")
        return None
    if reviewed is not None:
        try:
            return dt.date.fromisoformat(str(reviewed.value).strip())
        except (ValueError, TypeError):
            error(reviewed, f"{intent}: 'reviewed' must be a date written YYYY-MM-DD")
            return None
    if status is None:
        error(node, f"{intent}: add 'status: draft' (or 'reviewed: YYYY-MM-DD' once checked)")
    elif str(status.value).strip() != "draft":
        error(status, f"{intent}: status can only be 'draft'; for a checked text write 'reviewed: YYYY-MM-DD'")
    return None


def _links(intent: str, node: Node | None, error: _Report) -> tuple[Link, ...]:
    if node is None:
        return ()
    if not isinstance(node, SequenceNode):
        error(node, f"{intent}: 'links' must be a list of '- label: … url: …' entries")
        return ()
    links = []
    for entry in node.value:
        values = {str(k.value): v for k, v in entry.value} if isinstance(entry, MappingNode) else {}
        label, url = values.get("label"), values.get("url")
        if not isinstance(label, ScalarNode) or not isinstance(url, ScalarNode) or not str(label.value).strip():
            error(entry, f"{intent}: each link needs a 'label' and a 'url'")
            continue
        if not str(url.value).startswith("https://"):
            error(url, f"{intent}: link address must start with https:// (found {url.value!r})")
            continue
        links.append(Link(str(label.value).strip(), str(url.value).strip()))
    return tuple(links)


def _follow_up(intent: str, node: Node | None, catalogue: Catalogue, error: _Report) -> tuple[str, ...]:
    if node is None:
        return ()
    if not isinstance(node, SequenceNode):
        error(node, f"{intent}: 'follow_up' must be a list such as [social_aid, find_job]")
        return ()
    names = []
    for entry in node.value:
        name = str(entry.value) if isinstance(entry, ScalarNode) else ""
        if name not in catalogue.intents:
            # A dead reference only loses a button, so it does not block the file.
            error(entry, f"{intent}: follow_up {name!r} is not an intent of the catalogue", "warning")
        elif name != intent:
            names.append(name)
    if len(names) > 3:
        error(node, f"{intent}: {len(names)} follow-ups; three at most are shown", "warning")
    return tuple(names[:3])


def _node_line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _line_of(answer: Answer) -> int:
    return int(answer.location.rsplit(":", 1)[-1]) if answer.location else 1
