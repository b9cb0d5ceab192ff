"""Finds phone numbers, web addresses and postal addresses written by hand in an answer's text.

The fact registry is the only place where they may appear; an answer refers to them as ``{{key}}``.
When the hand-written value matches a fact, the finding names that fact's key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.facts import PLACEHOLDER, FactRegistry

# 8+ digits, optionally grouped: 02 123 45 67, +32 2 123 45 67, 0800/99.340, 00800 2123 2123.
_PHONE = re.compile(r"(?<![\w.,/])(?:\+|00)?\d(?:[ ./-]?\d){7,}(?![\w])")
# Three digits or more: two-digit lines (15, 17, 18) cannot be told from ages, percentages, hours.
_SHORT_NUMBER = re.compile(r"(?<![\w.,/+])\d{3,6}(?![\w.,]\d)")
# A bare domain: a label of 3+ characters, then lowercase letters after the last dot ("1712.be",
# "service-public.fr"); abbreviations such as "p.ex" have shorter labels.
_WEB = re.compile(
    r"https?://[^\s)\]>]+|\b[wW]{3}\.[^\s)\]>]+"
    r"|\b[a-z0-9][a-z0-9-]{2,}(?:\.[a-z0-9-]+)*\.[a-z]{2,12}\b(?:/[^\s)\]>]*)?"
)
_POSTAL_CODE_TOWN = re.compile(r"\b\d{4,5}\s+[A-ZÀ-Ý][\w'’-]+(?:[ -][A-ZÀ-Ý][\w'’-]+)*")
_STREET_TYPES = r"(?:rue|avenue|av\.|boulevard|bd|chaussée|place|quai|allée|impasse|straat|laan|steenweg|plein)"
_STREET = re.compile(
    rf"\b\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+{_STREET_TYPES}\s+[\w'’ -]{{2,40}}"
    rf"|\b{_STREET_TYPES}\s+[\w'’ -]{{2,40}}?\s\d{{1,4}}\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Handwritten:
    """One value written by hand: what kind, the text, its line in the text, the fact key to use."""

    kind: str  # "phone number" | "web address" | "postal address"
    text: str
    line: int
    key: str | None


def find_handwritten(text: str, facts: FactRegistry) -> list[Handwritten]:
    """Every hand-written phone number, web address or postal address in ``text`` (facts excluded)."""
    found = []
    phone_digits = {_digits(str(f.value)): f.key for f in facts.of_type("phone")}
    for number, line in enumerate(text.splitlines(), start=1):
        line = PLACEHOLDER.sub(" ", line)
        for match in _WEB.finditer(line):
            found.append(Handwritten("web address", match.group(0), number, _url_key(match.group(0), facts)))
        line = _WEB.sub(" ", line)
        for match in _PHONE.finditer(line):
            found.append(Handwritten("phone number", match.group(0), number, phone_digits.get(_digits(match.group(0)))))
        line = _PHONE.sub(" ", line)
        for match in _SHORT_NUMBER.finditer(line):
            # Short numbers (112, 1712, 3919) are phone numbers when the registry has them.
            if match.group(0) in phone_digits:
                found.append(Handwritten("phone number", match.group(0), number, phone_digits[match.group(0)]))
        for pattern in (_STREET, _POSTAL_CODE_TOWN):
            for match in pattern.finditer(line):
                found.append(Handwritten("postal address", match.group(0).strip(), number, _address_key(match, facts)))
            line = pattern.sub(" ", line)
    return found


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _url_key(url: str, facts: FactRegistry) -> str | None:
    def host_and_path(address: str) -> str:
        return re.sub(r"^(?:https?://)?(?:www\.)?", "", address.lower()).rstrip("/.")

    wanted = host_and_path(url)
    return next((f.key for f in facts.of_type("url") if host_and_path(str(f.value)) == wanted), None)


def _address_key(match: re.Match[str], facts: FactRegistry) -> str | None:
    written = match.group(0).casefold()
    numbers = set(re.findall(r"\d{4,5}", written))
    for fact in facts.of_type("address"):
        value = str(fact.value).casefold()
        if written.strip() in value or (numbers and numbers <= set(re.findall(r"\d{4,5}", value))):
            return fact.key
    return None
