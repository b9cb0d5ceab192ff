"""Read Rasa-format NLU training data (YAML, ``version: "3.1"``) into typed examples.

Errors name the file, the line and the reason. Items the embedded model cannot use (synonyms,
regexes, lookup tables, entity annotations) are kept and reported, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# Rasa entity markup inside an example: [text](entity), [text]{"entity": ...}, [text][...].
_ENTITY_MARKUP = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<paren>[^)]*)\)|\{(?P<brace>[^}]*)\}|\[[^\]]*\])")
_LANGUAGE_TOKEN = re.compile(r"^[a-z]{2}$")
_NLU_KEYS = ("intent", "synonym", "regex", "lookup")


class DataError(Exception):
    """A training-data file that cannot be read: ``path:line: reason``."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Example:
    """One training or test utterance."""

    text: str
    intent: str
    language: str | None
    source: str  # "path:line", for error messages and reports


@dataclass
class TrainingData:
    """Everything read from one or more Rasa NLU files."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    entity_annotations: int = 0
    files: list[Path] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        """Intent names, sorted."""
        return sorted({example.intent for example in self.examples})

    def unused_by_embedded_model(self) -> list[str]:
        """Human-readable notes on what the embedded intent classifier does not use."""
        notes = []
        if self.synonyms:
            notes.append(f"{len(self.synonyms)} synonym item(s) ignored: the embedded model extracts no entities")
        if self.regexes:
            notes.append(f"{len(self.regexes)} regex item(s) ignored: the embedded model has no regex features")
        if self.lookups:
            notes.append(f"{len(self.lookups)} lookup table(s) ignored: the embedded model extracts no entities")
        if self.entity_annotations:
            notes.append(
                f"{self.entity_annotations} entity annotation(s) read as plain text: "
                "the embedded model extracts no entities"
            )
        return notes

    def conflicts(self) -> list[str]:
        """Texts that appear under more than one intent in the same language."""
        seen: dict[tuple[str | None, str], Example] = {}
        problems = []
        for example in self.examples:
            key = (example.language, " ".join(example.text.casefold().split()))
            first = seen.setdefault(key, example)
            if first.intent != example.intent:
                problems.append(
                    f"{example.source}: {example.text!r} is also an example of {first.intent!r} ({first.source})"
                )
        return problems


def load_training_data(path: Path) -> TrainingData:
    """Load a Rasa NLU YAML file, or every ``*.yml``/``*.yaml`` file below a folder."""
    data = TrainingData()
    for file in _yaml_files(path):
        _load_file(file, _language_of(file, path), data)
        data.files.append(file)
    if not data.files:
        raise DataError(path, 0, "no .yml or .yaml training-data file found")
    return data


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(path, 0, "no such file or folder")
    return sorted(p for p in path.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


def _language_of(file: Path, root: Path) -> str | None:
    """The language is the folder under the data root (``nlu/data/fr/...``), else a name token."""
    if root.is_dir():
        parts = file.relative_to(root).parts[:-1]
        for part in parts:
            if _LANGUAGE_TOKEN.match(part):
                return part
    for token in re.split(r"[_\-.]", file.stem):
        if _LANGUAGE_TOKEN.match(token) and token not in {"nlu", "yml"}:
            return token
    return None


def _load_file(file: Path, language: str | None, data: TrainingData) -> None:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(file, 1, f"not UTF-8 text ({exc.reason})") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise DataError(file, line, f"YAML syntax error: {exc.problem or exc}") from exc
    if root is None:
        raise DataError(file, 1, "the file is empty")
    if not isinstance(root, MappingNode):
        raise DataError(file, _line(root), "expected a mapping with 'version' and 'nlu' keys")
    top = _mapping(root)
    version = top.get("version")
    if version is not None and not (isinstance(version, ScalarNode) and version.value.startswith("3")):
        raise DataError(file, _line(version), 'unsupported version: expected "3.1"')
    items = top.get("nlu")
    if items is None:
        return  # Rasa allows stories/rules-only files; they hold no NLU data.
    if not isinstance(items, SequenceNode):
        raise DataError(file, _line(items), "'nlu' must be a list of items")
    for item in items.value:
        _load_item(file, item, language, data)


def _load_item(file: Path, item: Node, language: str | None, data: TrainingData) -> None:
    if not isinstance(item, MappingNode):
        raise DataError(file, _line(item), "each 'nlu' item must be a mapping such as '- intent: greet'")
    fields = _mapping(item)
    kinds = [key for key in _NLU_KEYS if key in fields]
    if len(kinds) != 1:
        raise DataError(
            file, _line(item), f"each item needs exactly one of {', '.join(_NLU_KEYS)}; found {kinds or 'none'}"
        )
    kind = kinds[0]
    name_node = fields[kind]
    if not isinstance(name_node, ScalarNode) or not name_node.value.strip():
        raise DataError(file, _line(name_node), f"'{kind}' needs a name")
    name = name_node.value.strip()
    examples_node = fields.get("examples")
    if examples_node is None:
        raise DataError(file, _line(item), f"{kind} {name!r} has no 'examples'")
    examples = list(_examples(file, examples_node))
    if not examples:
        raise DataError(file, _line(examples_node), f"{kind} {name!r} has no examples")
    if kind == "intent":
        for line, raw in examples:
            text, annotations = _strip_entities(raw)
            data.entity_annotations += annotations
            data.examples.append(Example(text, name, language, f"{file}:{line}"))
    else:
        target = {"synonym": data.synonyms, "regex": data.regexes, "lookup": data.lookups}[kind]
        target.setdefault(name, []).extend(text for _, text in examples)


def _examples(file: Path, node: Node) -> Iterator[tuple[int, str]]:
    """Yield ``(line, text)`` for Rasa's block form (``examples: |`` with ``- `` lines) or a list."""
    if isinstance(node, ScalarNode):
        # Literal block: content starts on the line after the "|" indicator.
        first_line = _line(node) + (1 if node.style in {"|", ">"} else 0)
        for offset, raw in enumerate(node.value.splitlines()):
            stripped = raw.strip()
            if not stripped:
                continue
            if not stripped.startswith("- "):
                raise DataError(
                    file, first_line + offset, f"an example line must start with '- ' (found {stripped[:40]!r})"
                )
            text = stripped[2:].strip()
            if text:
                yield first_line + offset, text
    elif isinstance(node, SequenceNode):
        for entry in node.value:
            if isinstance(entry, ScalarNode):
                yield _line(entry), entry.value.strip()
            elif isinstance(entry, MappingNode) and isinstance(_mapping(entry).get("text"), ScalarNode):
                text_node = _mapping(entry)["text"]
                assert isinstance(text_node, ScalarNode)
                yield _line(text_node), text_node.value.strip()
            else:
                raise DataError(file, _line(entry), "each example must be a text or a mapping with 'text'")
    else:
        raise DataError(file, _line(node), "'examples' must be a '|' block of '- ' lines or a list")


def _strip_entities(text: str) -> tuple[str, int]:
    count = 0

    def keep_text(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return match.group("text")

    return _ENTITY_MARKUP.sub(keep_text, text), count


def _mapping(node: MappingNode) -> dict[str, Node]:
    return {key.value: value for key, value in node.value if isinstance(key, ScalarNode)}


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1
