"""Round-trip editing of answer files with ruamel.yaml: comments, key order and layout are kept."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines staff wrote on one line
    # The answer files indent lists under a key by four, the dash by two ("  links:\n    - label").
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(text: str) -> CommentedMap:
    """Parse an answer file (an empty file gives an empty mapping)."""
    document = _yaml().load(text)
    if document is None:
        return CommentedMap()
    if not isinstance(document, CommentedMap):
        raise ValueError("expected intent names followed by their answer")
    return document


def dump(document: CommentedMap) -> str:
    """The document as text, in the layout it was read in."""
    stream = io.StringIO()
    _yaml().dump(document, stream)
    return stream.getvalue()


def version(answer: Mapping[str, Any] | None) -> str:
    """A short hash of one answer's content: sent with the form, compared on save."""
    if answer is None:
        return "new"
    canonical = json.dumps(_plain(answer), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def field_lines(answer: CommentedMap) -> dict[str, int]:
    """1-based line of each field's key inside one answer."""
    return {str(key): int(answer.lc.key(key)[0]) + 1 for key in answer}


def literal(text: str) -> LiteralScalarString:
    """A block text (``text: |``) with Unix line ends, no trailing spaces, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")]
    block: LiteralScalarString = LiteralScalarString("\n".join(lines) + "\n")
    return block


def set_field(answer: CommentedMap, key: str, value: Any, after: str | None = None) -> None:
    """Set ``key``; a new key goes right after ``after`` when present, else at the end."""
    if key in answer or after is None or after not in answer:
        answer[key] = value
    else:
        answer.insert(list(answer).index(after) + 1, key, value)


@contextlib.contextmanager
def trailing_comment_kept(answer: CommentedMap) -> Iterator[None]:
    """Keep what follows the last field (the blank line before the next answer) when keys change.

    ruamel attaches that blank line or comment to the last key; replacing the key would drop it.
    """
    last = next(reversed(answer), None) if answer else None
    trailing = answer.ca.items.pop(last, None) if last is not None else None
    yield
    if trailing is not None and answer:
        answer.ca.items[next(reversed(answer))] = trailing


def new_answer(fields: Mapping[str, Any]) -> CommentedMap:
    """A fresh answer mapping with block text and flow-style follow-ups, as staff write them."""
    answer = CommentedMap()
    for key, value in fields.items():
        if key == "follow_up" and isinstance(value, list):
            sequence = CommentedSeq(value)
            sequence.fa.set_flow_style()
            answer[key] = sequence
        else:
            answer[key] = value
    return answer


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def read(path: Path) -> tuple[str, CommentedMap]:
    """The file's text and its parsed document (empty when the file does not exist yet)."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return text, load(text)
