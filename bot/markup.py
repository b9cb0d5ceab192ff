"""The small markup staff write answers in, checked on load and rendered safely per channel.

Only ``**bold**``, ``[label](https://url)``, lines starting with ``- `` and blank lines are special;
everything else is text, escaped for the channel.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

_INLINE = re.compile(r"\*\*(?P<bold>.+?)\*\*|\[(?P<label>[^\[\]\n]+)\]\((?P<url>[^()\s]*)\)")
_LINK_LIKE = re.compile(r"\[[^\[\]\n]*\]\(")
RTL_MARK = "\u200f"


@dataclass(frozen=True)
class MarkupProblem:
    """A mistake in a text, with the line inside the text (1-based)."""

    line: int
    reason: str


def check(text: str) -> list[MarkupProblem]:
    """Mistakes a staff member can fix: unclosed bold, links that are not https."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        remainder = _INLINE.sub("", line)
        if "**" in remainder:
            problems.append(MarkupProblem(number, "'**' opens bold text that is never closed on this line"))
        for match in _INLINE.finditer(line):
            url = match.group("url")
            if url is not None and not url.startswith("https://"):
                problems.append(MarkupProblem(number, f"link address must start with https:// (found {url!r})"))
        if _LINK_LIKE.search(remainder):
            problems.append(MarkupProblem(number, "link not written as [label](https://address)"))
    return problems


def render_html(text: str, rtl: bool = False) -> str:
    """Telegram HTML: the markup becomes <b> and <a>, everything else is escaped."""
    return _render(text, rtl, _html_inline, bullet="• ")


def render_plain(text: str, rtl: bool = False) -> str:
    """Plain text for terminals: bold loses its marks, links show their address."""
    return _render(text, rtl, _plain_inline, bullet="• ")


def strip(text: str) -> str:
    """The text without any markup (for lengths and logs)."""
    return _render(text, False, lambda line: _INLINE.sub(_strip_match, line), bullet="• ")


def _render(text: str, rtl: bool, inline: Callable[[str], str], bullet: str) -> str:
    lines = []
    for raw in text.strip().splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("- "):
            line = bullet + line.lstrip()[2:]
        rendered = inline(line)
        # A right-to-left mark makes lines that start with digits or Latin words align right.
        lines.append(RTL_MARK + rendered if rtl and rendered else rendered)
    return "\n".join(lines)


def _html_inline(line: str) -> str:
    out = []
    position = 0
    for match in _INLINE.finditer(line):
        out.append(html.escape(line[position : match.start()], quote=False))
        if match.group("bold") is not None:
            out.append(f"<b>{html.escape(match.group('bold'), quote=False)}</b>")
        elif match.group("url", "label") and match.group("url").startswith("https://"):
            url = html.escape(match.group("url"), quote=True)
            out.append(f'<a href="{url}">{html.escape(match.group("label"), quote=False)}</a>')
        else:
            out.append(html.escape(match.group(0), quote=False))
        position = match.end()
    out.append(html.escape(line[position:], quote=False))
    return "".join(out)


def _plain_inline(line: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("bold") is not None:
            return match.group("bold")
        return f"{match.group('label')} ({match.group('url')})"

    return _INLINE.sub(replace, line)


def _strip_match(match: re.Match[str]) -> str:
    return match.group("bold") if match.group("bold") is not None else match.group("label")


def split_for_limit(text: str, limit: int) -> list[str]:
    """Split rendered text into chunks of at most ``limit`` characters, at paragraph or line ends."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single huge line: cut at the last space that fits
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks
