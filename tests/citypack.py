"""Small city packs written into tmp folders: every answer of the catalogue, generated, plus the
few answers, facts and settings a test is about. The values are placeholders, not real contacts.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.catalogue import Catalogue

RIVERTON_CITY = """\
name: {fr: Riverton-sur-Loire, en: Riverton, ar: ريفرتون}
country: FR
time_zone: Europe/Paris
languages: [fr, en, ar]
default_language: fr
original_language: fr
offices:
  - id: welcome
    name: Welcome desk
    address: welcome_address
    phone: welcome_phone
    website: welcome_site
    hours: welcome_hours
    handoff: true
emergency_numbers: [emergency_112, samu_15]
intents:
  disabled:
    dutch_course: {instead: [french_course]}
  added:
    domiciliation: {topic: services}
"""

RIVERTON_FACTS = """\
emergency_112:
  type: phone
  value: "112"
  label: European emergency number
  emergency: true
  free: true
  always_open: true
  source: https://example.org/emergency
  checked: 2026-11-20
samu_15:
  type: phone
  value: "15"
  label: SAMU
  emergency: true
  source: https://example.org/emergency
  checked: 2026-11-20
doc_line:
  type: phone
  value: "00800 1111 2222"
  free: true
  always_open: true
  source: https://example.org/doc-line
  checked: 2026-11-20
welcome_phone:
  type: phone
  value: "01 23 45 67 89"
  source: https://example.org/welcome
  checked: 2026-11-20
welcome_site:
  type: url
  value: https://example.org/welcome
  source: https://example.org/welcome
  checked: 2026-11-20
welcome_address:
  type: address
  value: 1 rue de l'Exemple, 99999 Riverton
  source: https://example.org/welcome
  checked: 2026-11-20
welcome_hours:
  type: hours
  value:
    mon: ["09:00-12:30", "13:30-17:00"]
    wed: ["09:00-12:00"]
  source: https://example.org/welcome
  checked: 2026-11-20
diploma_fee:
  type: amount
  value: 200
  currency: EUR
  source: https://example.org/fees
  checked: 2026-11-20
register_deadline:
  type: duration
  value: 8
  unit: day
  source: https://example.org/register
  checked: 2026-11-20
exam_start:
  type: date
  value: 2026-01-01
  source: https://example.org/exam
  checked: 2026-11-20
"""

DOMICILIATION_EXAMPLES = {
    "fr": [
        "adresse administrative",
        "je n'ai pas d'adresse pour recevoir mon courrier",
        "domiciliation au centre social",
        "où recevoir mes lettres sans logement",
        "attestation d'élection de domicile",
        "domiciliation sans domicile stable",
    ],
    "en": [
        "administrative address",
        "I have no address to receive my mail",
        "postal address without a home",
        "where can I receive letters without housing",
        "certificate of domiciliation",
        "domiciliation with no stable home",
    ],
    "ar": [
        "عنوان إداري",
        "ليس لدي عنوان لاستلام بريدي",
        "أين أستلم رسائلي بدون سكن",
        "شهادة توطين إداري",
        "عنوان بريدي بدون منزل",
        "توطين بدون سكن ثابت",
    ],
}


class _StaffStyleDumper(yaml.SafeDumper):
    """Indents lists under their key, as staff write them (and as ``stamp`` keeps them)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def answer(title: str, text: str, **fields: object) -> dict[str, object]:
    """One answer entry with the required fields."""
    return {"title": title, "text": text, "source": "Fixture source", "status": "draft", **fields}


def write_city(
    root: Path,
    key: str,
    catalogue: Catalogue,
    city_yml: str,
    facts_yml: str,
    languages: tuple[str, ...],
    overrides: dict[str, dict[str, dict[str, object]]] | None = None,
    extra_intents: tuple[str, ...] = (),
) -> Path:
    """``root/key`` with city.yml, facts.yml and one generated answer per intent and language."""
    city_dir = root / key
    city_dir.mkdir(parents=True)
    (city_dir / "city.yml").write_text(city_yml, encoding="utf-8")
    (city_dir / "facts.yml").write_text(facts_yml, encoding="utf-8")
    for language in languages:
        entries: dict[str, dict[str, object]] = {
            intent: answer(f"{intent} ({language})", f"Answer about {intent}.")
            for intent in (*catalogue.intents, *extra_intents)
        }
        entries.update((overrides or {}).get(language, {}))
        folder = city_dir / language
        folder.mkdir()
        text = yaml.dump(entries, Dumper=_StaffStyleDumper, allow_unicode=True, sort_keys=False, width=4096)
        (folder / "answers.yml").write_text(text, encoding="utf-8")
    return city_dir


def write_riverton(root: Path, catalogue: Catalogue) -> Path:
    """A French-original city with an office, emergency numbers, a disabled and an added intent."""
    overrides = {
        "fr": {
            "emergency": answer("Urgence", "En danger, appelez tout de suite."),
            "residence_permit": answer(
                "Titre de séjour",
                "Carte perdue : bloquez-la avec {{doc_line}} (gratuit, 24 h/24).\nDélai : {{register_deadline}}.",
                links=[{"label": "Accueil", "fact": "welcome_site"}],
            ),
            "diploma_recognition": answer("Diplôme", "Frais : {{diploma_fee}}. Depuis le {{exam_start}}."),
            "domiciliation": answer("Domiciliation", "Une adresse administrative gratuite au centre social."),
        },
        "en": {
            "residence_permit": answer(
                "Residence permit",
                "Lost card: block it with {{doc_line}} (free, 24/7).\nDeadline: {{register_deadline}}.",
                links=[{"label": "Welcome", "fact": "welcome_site"}],
            ),
        },
        "ar": {
            # Drift: the translation lost the deadline and the link.
            "residence_permit": answer("بطاقة الإقامة", "بطاقة مفقودة: أوقفها عبر {{doc_line}}."),
        },
    }
    city_dir = write_city(
        root, "riverton", catalogue, RIVERTON_CITY, RIVERTON_FACTS, ("fr", "en", "ar"), overrides, ("domiciliation",)
    )
    for language, examples in DOMICILIATION_EXAMPLES.items():
        folder = city_dir / "nlu" / language
        folder.mkdir(parents=True)
        body = "\n".join(f"    - {example}" for example in examples)
        (folder / "local.yml").write_text(
            f'version: "3.1"\nnlu:\n- intent: domiciliation\n  examples: |\n{body}\n', encoding="utf-8"
        )
    return city_dir


HILLTOWN_CITY = """\
name: {en: Hilltown, fr: Hilltown}
country: BE
time_zone: Europe/Brussels
languages: [en, fr]
default_language: en
original_language: en
emergency_numbers: [emergency_112]
"""

HILLTOWN_FACTS = """\
emergency_112:
  type: phone
  value: "112"
  emergency: true
  source: https://example.org/112
  checked: 2026-11-20
"""


def write_hilltown(root: Path, catalogue: Catalogue) -> Path:
    """An English-original city without offices."""
    return write_city(root, "hilltown", catalogue, HILLTOWN_CITY, HILLTOWN_FACTS, ("en", "fr"))
