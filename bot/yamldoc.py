"""Reading staff-edited YAML with line numbers, and the ``Problem`` every loader reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

# libyaml's loader is ~10x faster than the pure-Python one and keeps line numbers.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """A mistake (``error``) or something to improve (``warning``) in a file, at a line.

    ``blocking`` errors stop the entry from being used; the others (a number written by hand, a
    stale translation ...) leave it in service and only make ``check`` fail.
    """

    path: Path
    line: int
    message: str
    severity: str = "error"
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"

    @property
    def blocks(self) -> bool:
        """True when the entry it is about cannot be used."""
        return self.severity == "error" and self.blocking


def compose(path: Path) -> tuple[Node | None, list[Problem]]:
    """The file's node tree (None when empty or unreadable) and what stopped it from being read."""
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER), []
    except UnicodeDecodeError:
        return None, [Problem(path, 1, "the file is not saved as UTF-8 text")]
    except OSError as exc:
        return None, [Problem(path, 1, f"cannot read the file ({exc.strerror})")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        hint = " (check the indentation: use spaces, and indent the text under 'text: |')"
        return None, [Problem(path, line, f"YAML syntax error: {exc.problem or exc}{hint}")]


def node_line(node: Node) -> int:
    """1-based line where ``node`` starts."""
    return int(node.start_mark.line) + 1


def mapping(node: Node | None) -> dict[str, tuple[Node, Node]] | None:
    """A mapping node's entries by key text (key node, value node); None when it is not a mapping."""
    if not isinstance(node, MappingNode):
        return None
    return {str(key.value): (key, value) for key, value in node.value if isinstance(key, ScalarNode)}


def scalar_text(node: Node | None) -> str | None:
    """The stripped text of a scalar node; None for lists, mappings, missing or empty values."""
    if not isinstance(node, ScalarNode):
        return None
    text = str(node.value).strip()
    return text if text and node.tag != "tag:yaml.org,2002:null" else None
