"""Which supported language a message is written in, or ``None`` when the text cannot tell.

py3langid (a maintained fork of langid.py, model shipped in the package) restricted to the bot's
languages, plus script rules it gets wrong on short texts: letters only Ukrainian or only Russian
has, letters only Persian has. Short or uncertain texts return ``None`` so the caller keeps the
user's chosen language. The comparison with other detectors is in ``docs/decisions/``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_UKRAINIAN_ONLY = re.compile(r"[іїєґ]", re.IGNORECASE)
_RUSSIAN_ONLY = re.compile(r"[ыэъё]", re.IGNORECASE)
_PERSIAN_ONLY = re.compile(r"[پچژگ]")


@dataclass(frozen=True)
class Detection:
    """A detected language and how sure the detector is (``language`` is None when unsure)."""

    language: str | None
    confidence: float


class LanguageDetector:
    """Language identification limited to ``languages``; the model loads on first use."""

    def __init__(self, languages: Sequence[str], min_letters: int = 12, min_confidence: float = 0.9) -> None:
        self.languages = list(languages)
        self.min_letters = min_letters
        self.min_confidence = min_confidence
        self._identifier: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load py3langid's model (about a second); safe to call more than once."""
        with self._lock:
            if self._identifier is None:
                from py3langid import langid  # imported here: loading costs time and memory

                identifier = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
                identifier.set_languages(self.languages)
                self._identifier = identifier

    def detect(self, text: str) -> Detection:
        """The language of ``text``, or ``Detection(None, …)`` if it is short or ambiguous."""
        if len(_LETTER.findall(text)) < self.min_letters:
            return Detection(None, 0.0)
        by_script = self._by_script(text)
        if by_script is not None:
            return Detection(by_script, 1.0)
        self.load()
        language, confidence = self._identifier.classify(text)
        if _CYRILLIC.search(text) and language not in {"uk", "ru"}:
            return Detection(None, float(confidence))
        if confidence < self.min_confidence or language not in self.languages:
            return Detection(None, float(confidence))
        return Detection(str(language), float(confidence))

    def _by_script(self, text: str) -> str | None:
        """Letters that settle the question whatever the statistics say."""
        if _CYRILLIC.search(text):
            ukrainian = bool(_UKRAINIAN_ONLY.search(text))
            russian = bool(_RUSSIAN_ONLY.search(text))
            if ukrainian != russian:
                language = "uk" if ukrainian else "ru"
                return language if language in self.languages else None
        elif _ARABIC_SCRIPT.search(text) and _PERSIAN_ONLY.search(text) and "fa" in self.languages:
            return "fa"
        return None
