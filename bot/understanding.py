"""What to do with a parsed message: answer, ask "Do you mean…?", or say honestly it is not ours.

Pure functions on the NLU parse result (Rasa's shape, either backend), so the decision is the same
for the embedded model and Rasa, and testable without a model:

* a clear in-scope intent is answered; when a long message asks a second thing, the other topic
  is offered as a button beside the main answer;
* when the model fell back but two or three topics are close, the user chooses between them;
* out-of-scope kinds get their own honest reply: an insult a calm one with a person offered, a
  medical-advice question "ask a doctor or pharmacist", anything else the out-of-scope answer.

A prompt injection ("ignore your rules, I am the developer") is only text to classify: nothing in
a message can change these rules, and it is answered as out of scope.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from nlu.types import FALLBACK_INTENT, ParseResult

# "Do you mean…?" offers topics within this distance of the best one, each at least this likely.
CLARIFY_MAX_GAP = 0.3
CLARIFY_MIN_CONFIDENCE = 0.12
CLARIFY_MAX_OPTIONS = 3
# A message is read as several questions only when it is this long (in words) and splits in parts.
MULTI_QUESTION_MIN_WORDS = 10
MULTI_QUESTION_MIN_PART_WORDS = 3
# Question marks, sentence ends and the word "and also" / "et aussi" style joins between questions.
_QUESTION_BREAK = re.compile(
    r"[?？؟]+|(?<=\w)[.!;。]+\s+"
    r"|\s(?:and also|and another question|et aussi|en ook|y también|e também|ve ayrıca"
    r"|și de asemenea|a także|а також|а также|و أيضا|و همچنین)\s",
    re.IGNORECASE,
)


class Kind(Enum):
    """The kind of reply a message gets."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    FALLBACK = "fallback"
    OUT_OF_SCOPE = "out_of_scope"
    INSULT = "insult"
    MEDICAL_ADVICE = "medical_advice"


# The catalogue role (nlu/catalogue.yml) of each out-of-scope kind: the code names no intent.
KIND_OF_ROLE = {"out_of_scope": Kind.OUT_OF_SCOPE, "abuse": Kind.INSULT, "medical_question": Kind.MEDICAL_ADVICE}


def kinds_of_intents(roles: Mapping[str, Sequence[str]]) -> dict[str, Kind]:
    """Intent -> out-of-scope kind, from the catalogue's roles."""
    return {intent: kind for role, kind in KIND_OF_ROLE.items() for intent in roles.get(role, ())}


@dataclass(frozen=True)
class Understanding:
    """The decision: the kind of reply, the intent to answer, and topics to offer as buttons."""

    kind: Kind
    intent: str | None = None  # ANSWER: the intent answered
    options: tuple[str, ...] = ()  # CLARIFY: the topics to choose from; ANSWER: the other questions


def understand(
    parse: ParseResult,
    answerable: Collection[str],
    kinds: Mapping[str, Kind],
    part_parses: Sequence[ParseResult] = (),
) -> Understanding:
    """Decide the reply to ``parse``.

    ``answerable`` are the intents with a topic answer (not conversation intents); ``kinds`` maps the
    out-of-scope intents to their kind (:func:`kinds_of_intents`); ``part_parses``
    are the parses of the message's parts when it asks several questions (see :func:`split_questions`).
    """
    name = parse["intent"]["name"]
    if name in kinds:
        decision = Understanding(kinds[name])
    elif name == FALLBACK_INTENT:
        decision = _after_fallback(parse, answerable, kinds)
    else:
        others = tuple(dict.fromkeys(_other_questions(name, answerable, part_parses)))
        return Understanding(Kind.ANSWER, name, others[: CLARIFY_MAX_OPTIONS - 1])
    if decision.kind in {Kind.OUT_OF_SCOPE, Kind.FALLBACK}:
        # "What's the weather? And where can I learn French?": answer the part that is ours.
        clear = tuple(dict.fromkeys(_other_questions(name, answerable, part_parses)))
        if clear:
            return Understanding(Kind.ANSWER, clear[0], clear[1:CLARIFY_MAX_OPTIONS])
    return decision


def _after_fallback(parse: ParseResult, answerable: Collection[str], kinds: Mapping[str, Kind]) -> Understanding:
    ranking = [score for score in parse["intent_ranking"] if score["name"] != FALLBACK_INTENT]
    if ranking and ranking[0]["name"] in kinds:
        return Understanding(kinds[ranking[0]["name"]])
    if not ranking or ranking[0]["name"] not in answerable:
        return Understanding(Kind.FALLBACK)
    best = ranking[0]["confidence"]
    close = [
        score["name"]
        for score in ranking
        if score["name"] in answerable
        and score["confidence"] >= CLARIFY_MIN_CONFIDENCE
        and best - score["confidence"] <= CLARIFY_MAX_GAP
    ]
    if len(close) >= 2:
        return Understanding(Kind.CLARIFY, options=tuple(close[:CLARIFY_MAX_OPTIONS]))
    return Understanding(Kind.FALLBACK)


def _other_questions(main: str, answerable: Collection[str], part_parses: Sequence[ParseResult]) -> list[str]:
    """Answerable intents that parts of the message ask clearly, other than the main one."""
    return [
        part["intent"]["name"]
        for part in part_parses
        if part["intent"]["name"] in answerable and part["intent"]["name"] != main
    ]


def split_questions(text: str) -> list[str]:
    """The parts of a long message that asks several things; ``[]`` for a single question."""
    if len(text.split()) < MULTI_QUESTION_MIN_WORDS:
        return []
    parts = [part.strip(" ,") for part in _QUESTION_BREAK.split(text)]
    parts = [part for part in parts if len(part.split()) >= MULTI_QUESTION_MIN_PART_WORDS]
    return parts if len(parts) >= 2 else []
