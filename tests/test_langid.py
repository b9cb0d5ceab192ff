"""Language identification limited to the supported languages; unsure means None."""

from __future__ import annotations

import pytest

from nlu.langid import LanguageDetector

SENTENCES = {
    "fr": "Bonjour, je cherche un logement pour ma famille à Bruxelles",
    "nl": "Hallo, ik zoek een woning voor mijn gezin in Brussel",
    "en": "Hello, I am looking for a flat for my family in Brussels",
    "ar": "مرحبا، أبحث عن سكن لعائلتي في بروكسل",
    "es": "Hola, estoy buscando un piso para mi familia en Bruselas",
    "pt": "Olá, estou à procura de uma casa para a minha família em Bruxelas",
    "tr": "Merhaba, Brüksel'de ailem için bir ev arıyorum",
    "ro": "Bună ziua, caut o locuință pentru familia mea în Bruxelles",
    "pl": "Dzień dobry, szukam mieszkania dla mojej rodziny w Brukseli",
    "uk": "Добрий день, я шукаю житло для моєї родини в Брюсселі",
    "ru": "Здравствуйте, я ищу жильё для моей семьи в Брюсселе",
    "fa": "سلام، من برای خانواده‌ام در بروکسل دنبال خانه می‌گردم",
}


@pytest.mark.parametrize(("language", "text"), SENTENCES.items())
def test_clear_sentences_in_every_language(detector: LanguageDetector, language: str, text: str) -> None:
    assert detector.detect(text).language == language


@pytest.mark.parametrize("text", ["ok", "cpas?", "112", "😀😀😀", "", "merci", "salam"])
def test_short_texts_keep_the_chosen_language(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text).language is None


def test_unsupported_language_is_not_forced_into_a_supported_one(detector: LanguageDetector) -> None:
    # German and Chinese are not supported: either None or, at worst, never a confident wrong script.
    assert detector.detect("我在布鲁塞尔找房子，请帮帮我").language is None


def test_script_rules_separate_close_languages(detector: LanguageDetector) -> None:
    assert detector.detect("Шукаю житло і роботу").language == "uk"
    assert detector.detect("Ищу жильё и работу быстро").language == "ru"
    assert detector.detect("چطور می توانم کار پیدا کنم").language == "fa"
