"""A Rasa server as NLU backend, and a circuit breaker that falls back to another backend."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Final

import aiohttp

from nlu.out_of_scope import FallbackConfig, apply_fallback
from nlu.types import FALLBACK_INTENT, IntentScore, NluBackend, ParseResult

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S: Final = 1.0
# Rasa's confidences are float32 softmax outputs: allow the rounding they carry past 1.0.
_CONFIDENCE_SLACK: Final = 1e-3


class RasaError(Exception):
    """The Rasa server could not be reached, timed out or answered with an error status."""


class RasaResponseError(RasaError):
    """The Rasa server answered, but not with a valid ``/model/parse`` document."""


def _fallback_result(text: str) -> ParseResult:
    """The parse of a text that has nothing to classify."""
    return {
        "text": text,
        "intent": {"name": FALLBACK_INTENT, "confidence": 0.0},
        "intent_ranking": [],
        "entities": [],
        "language": None,
    }


def _intent_score(value: object, where: str) -> IntentScore:
    """Check one ``{"name", "confidence"}`` object of a Rasa answer."""
    if not isinstance(value, dict):
        raise RasaResponseError(f"{where} is not an object")
    name = value.get("name")
    confidence = value.get("confidence")
    if name is None:
        # Rasa answers {"name": null, "confidence": 0.0} when no intent was predicted.
        name = FALLBACK_INTENT
    if not isinstance(name, str) or not name:
        raise RasaResponseError(f"{where}.name is not a non-empty string")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise RasaResponseError(f"{where}.confidence is not a number")
    score = float(confidence)
    if not math.isfinite(score) or not -_CONFIDENCE_SLACK <= score <= 1.0 + _CONFIDENCE_SLACK:
        raise RasaResponseError(f"{where}.confidence is outside [0, 1]")
    return {"name": name, "confidence": min(max(score, 0.0), 1.0)}


def parse_rasa_answer(text: str, payload: object) -> ParseResult:
    """Validate a decoded ``/model/parse`` answer and return it in the shared parse shape."""
    if not isinstance(payload, dict):
        raise RasaResponseError("answer is not a JSON object")
    intent = _intent_score(payload.get("intent"), "intent")
    ranking_raw = payload.get("intent_ranking", [])
    if not isinstance(ranking_raw, list):
        raise RasaResponseError("intent_ranking is not a list")
    ranking = [_intent_score(item, f"intent_ranking[{i}]") for i, item in enumerate(ranking_raw)]
    entities_raw = payload.get("entities", [])
    if not isinstance(entities_raw, list) or not all(isinstance(e, dict) for e in entities_raw):
        raise RasaResponseError("entities is not a list of objects")
    entities: list[dict[str, object]] = [{str(key): value for key, value in entity.items()} for entity in entities_raw]
    return {
        "text": text,
        "intent": intent,
        "intent_ranking": ranking,
        "entities": entities,
        "language": None,
    }


class RasaBackend:
    """NLU backend that asks a Rasa server's HTTP API (``POST /model/parse``)."""

    name: str = "rasa"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_chars: int = 2000,
        rules: FallbackConfig | None = None,
    ) -> None:
        """Talk to the Rasa server at ``url`` (e.g. ``http://127.0.0.1:5005``).

        With ``rules`` (``nlu/config.yml``), the fallback is decided again on Rasa's ranking by the
        bot's rules, so Rasa rejects like the embedded model whatever its model was trained with.
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.url = url.rstrip("/")
        self._parse_url = f"{self.url}/model/parse"
        self._params = {"token": token} if token else None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_chars = max_chars
        self._session: aiohttp.ClientSession | None = None
        self._rules = rules

    async def start(self) -> None:
        """Open the shared HTTP session now rather than on the first message."""
        self._get_session()

    def _get_session(self) -> aiohttp.ClientSession:
        """Return the one shared session, creating it on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def parse(self, text: str) -> ParseResult:
        """Classify ``text`` with Rasa; raises ``RasaError`` when the server fails."""
        if not text.strip():
            # Rasa gives an empty text a confident intent; there is nothing to classify.
            return _fallback_result(text)
        session = self._get_session()
        # Very long messages are classified on their start: it keeps Rasa inside the timeout.
        body = {"text": text[: self._max_chars]}
        try:
            async with session.post(self._parse_url, json=body, params=self._params) as response:
                if response.status != 200:
                    raise RasaError(f"Rasa answered HTTP {response.status}")
                raw = await response.read()
        except TimeoutError as exc:
            raise RasaError(f"Rasa did not answer within {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise RasaError(f"Rasa unreachable: {type(exc).__name__}: {exc}") from exc
        try:
            payload: object = json.loads(raw)
        except ValueError as exc:
            raise RasaResponseError("answer is not JSON") from exc
        result = parse_rasa_answer(text, payload)
        return result if self._rules is None else apply_fallback(result, self._rules)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class FailoverBackend:
    """Circuit breaker: ``primary`` while it works, else ``fallback`` until a retry succeeds."""

    def __init__(
        self,
        primary: NluBackend,
        fallback: NluBackend,
        retry_after_s: float = 30.0,
        *,
        primary_timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        known_intents: frozenset[str] | None = None,
    ) -> None:
        """Use ``primary``; after a failure use ``fallback`` for ``retry_after_s`` seconds.

        With ``known_intents``, a primary answering an intent outside them (a model trained on
        other data than the catalogue's) counts as failing: the fallback answers instead.
        """
        self.primary = primary
        self._known_intents = known_intents
        self.fallback = fallback
        self.name = f"{primary.name}/{fallback.name}"
        self.retry_after_s = retry_after_s
        self._primary_timeout_s = primary_timeout_s
        self._clock = clock
        self._open_until: float | None = None
        self._probing = False
        self.last_backend_used: str = ""

    @property
    def is_open(self) -> bool:
        """Whether the primary is currently considered down."""
        return self._open_until is not None

    async def parse(self, text: str) -> ParseResult:
        """Answer with the primary backend, or with the fallback while the primary is down."""
        if self._open_until is None:
            return await self._try_primary(text, probing=False)
        if self._clock() >= self._open_until and not self._probing:
            return await self._try_primary(text, probing=True)
        return await self._use_fallback(text)

    async def _try_primary(self, text: str, *, probing: bool) -> ParseResult:
        """Ask the primary; on failure open (or keep open) the circuit and ask the fallback."""
        self._probing = probing or self._probing
        try:
            if self._primary_timeout_s is None:
                result = await self.primary.parse(text)
            else:
                async with asyncio.timeout(self._primary_timeout_s):
                    result = await self.primary.parse(text)
            self._check_intent(result)
        except Exception as exc:
            self._primary_failed(exc)
            return await self._use_fallback(text)
        finally:
            if probing:
                self._probing = False
        if self._open_until is not None:
            logger.info(
                "NLU backend %s is answering again; switching back from %s",
                self.primary.name,
                self.fallback.name,
            )
            self._open_until = None
        self.last_backend_used = self.primary.name
        return result

    def _check_intent(self, result: ParseResult) -> None:
        known = self._known_intents
        intent = result["intent"]["name"]
        if known is not None and intent != FALLBACK_INTENT and intent not in known:
            raise RasaResponseError(f"intent {intent!r} is not in the catalogue")

    def _primary_failed(self, exc: Exception) -> None:
        """Open the circuit for ``retry_after_s``, logging only the first failure of an outage."""
        reason = f"{type(exc).__name__}: {exc}"[:300]
        if self._open_until is None:
            logger.warning(
                "NLU backend %s failed (%s); answering with %s, retrying it every %.0f s",
                self.primary.name,
                reason,
                self.fallback.name,
                self.retry_after_s,
            )
        else:
            logger.debug("NLU backend %s still failing (%s)", self.primary.name, reason)
        self._open_until = self._clock() + self.retry_after_s

    async def _use_fallback(self, text: str) -> ParseResult:
        """Answer with the fallback backend."""
        result = await self.fallback.parse(text)
        self.last_backend_used = self.fallback.name
        return result

    async def close(self) -> None:
        """Close both backends."""
        try:
            await self.primary.close()
        finally:
            await self.fallback.close()
