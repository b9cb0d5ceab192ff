"""UI strings (prompts, buttons, errors) through gettext catalogs managed with Babel.

Catalogs are ``bot/locale/<lang>/LC_MESSAGES/messages.po``; they are compiled in memory when the
bot starts, so a translator's edit needs no build step and a compiled file can never be stale.
Language names are endonyms from Babel's CLDR data; text direction also comes from Babel.
"""

from __future__ import annotations

import gettext
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po

logger = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_PLACEHOLDER = re.compile(r"\{(\w*)\}")
DOMAIN = "messages"


@dataclass
class CatalogProblem:
    """A translation catalog that could not be used (the bot falls back to English strings)."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Translations:
    """gettext translations for every supported language."""

    languages: tuple[str, ...]
    _catalogs: dict[str, gettext.NullTranslations] = field(default_factory=dict)
    problems: list[CatalogProblem] = field(default_factory=list)

    @classmethod
    def load(cls, languages: Iterable[str], locale_dir: Path = LOCALE_DIR) -> Translations:
        """Compile and load each language's ``.po`` catalog; report (not raise) broken ones."""
        translations = cls(tuple(languages))
        for language in translations.languages:
            path = locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
            if language == "en" and not path.is_file():
                translations._catalogs[language] = gettext.NullTranslations()  # msgids are English
                continue
            try:
                translations._catalogs[language] = _compile(path, language, translations.problems)
            except (OSError, PoFileError, ValueError) as exc:
                problem = CatalogProblem(path, str(exc))
                translations.problems.append(problem)
                logger.error("UI catalog not loaded, English is used instead: %s", problem)
        return translations

    def gettext(self, language: str, message: str) -> str:
        """``message`` translated into ``language`` (English when untranslated)."""
        catalog = self._catalogs.get(language)
        return catalog.gettext(message) if catalog else message

    def translator(self, language: str) -> Translator:
        """A ``_``-style function bound to one language."""
        return Translator(self, language)

    def has_catalog(self, language: str) -> bool:
        """True when ``language`` has a loaded catalog (English always has)."""
        return language in self._catalogs


@dataclass(frozen=True)
class Translator:
    """Translates into one language: ``_ = translations.translator("ar"); _("Menu")``."""

    translations: Translations
    language: str

    def __call__(self, message: str) -> str:
        return self.translations.gettext(self.language, message)


def _compile(path: Path, language: str, problems: list[CatalogProblem]) -> gettext.GNUTranslations:
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, abort_invalid=True)
    for message in list(catalog):
        if not message.id or not message.string:
            continue
        unknown = set(_PLACEHOLDER.findall(str(message.string))) - set(_PLACEHOLDER.findall(str(message.id)))
        if unknown:
            # str.format would raise on a placeholder the code does not pass: keep English instead.
            names = ", ".join("{" + name + "}" for name in sorted(unknown))
            problems.append(
                CatalogProblem(
                    path, f"line {message.lineno}: translation uses {names}, which {message.id!r} does not have"
                )
            )
            message.string = ""
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def endonym(language: str) -> str:
    """The language's own name for itself, capitalised: ``Français``, ``العربية``, ``Українська``."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


@cache
def is_rtl(language: str) -> bool:
    """True for right-to-left languages (Arabic, Persian)."""
    return bool(Locale.parse(language).text_direction == "rtl")
