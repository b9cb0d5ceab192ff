"""Shared fixtures: the real catalogue, answers, catalogs and a trained model, built once per session."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.catalogue import Catalogue, load_catalogue
from bot.content import ContentStore
from bot.dialogue import CoreOptions, DialogueCore
from bot.i18n import Translations
from bot.settings import PROJECT_ROOT
from bot.storage import SQLiteStore
from nlu.embedded import EmbeddedBackend, load_fallback_config, load_or_train
from nlu.langid import LanguageDetector
from nlu.model import IntentModel
from tests.citypack import write_hilltown, write_riverton

DATA_DIR = PROJECT_ROOT / "nlu" / "data"
HELDOUT_DIR = PROJECT_ROOT / "nlu" / "heldout"
BLIND_DIR = PROJECT_ROOT / "nlu" / "blind"
CONTENT_DIR = PROJECT_ROOT / "responses"
FIXTURES = Path(__file__).parent / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the real-Rasa tests first."""
    # Under pytest-xdist (`make unit`: one worker per file) their worker then trains the fixture
    # model (about a minute) while the others run the rest, instead of everyone waiting at the end.
    items.sort(key=lambda item: item.get_closest_marker("rasa") is None)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(PROJECT_ROOT / "nlu" / "catalogue.yml")


@pytest.fixture(scope="session")
def intent_model() -> IntentModel:
    # Cached on disk by data hash, so only the first session after a data change trains.
    model, _data = load_or_train(DATA_DIR, PROJECT_ROOT / "var" / "models")
    return model


@pytest.fixture(scope="session")
def detector(catalogue: Catalogue) -> LanguageDetector:
    detector = LanguageDetector(catalogue.languages)
    detector.load()
    return detector


@pytest.fixture(scope="session")
def translations(catalogue: Catalogue) -> Translations:
    return Translations.load(catalogue.languages)


@pytest.fixture
def embedded(intent_model: IntentModel, detector: LanguageDetector) -> EmbeddedBackend:
    return EmbeddedBackend(intent_model, load_fallback_config(PROJECT_ROOT / "nlu" / "config.yml"), detector)


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A private copy of the real answers, safe to break."""
    target = tmp_path / "responses"
    shutil.copytree(CONTENT_DIR, target, ignore=shutil.ignore_patterns("*.md"))
    return target


@pytest.fixture
def content(content_dir: Path, catalogue: Catalogue) -> ContentStore:
    store = ContentStore(content_dir / "brussels", catalogue)
    store.reload()
    return store


@pytest.fixture
def store() -> Iterator[SQLiteStore]:
    store = SQLiteStore(":memory:")
    yield store
    store.close()


@pytest.fixture
def core_options() -> CoreOptions:
    return CoreOptions()


@pytest.fixture
def core(
    catalogue: Catalogue,
    embedded: EmbeddedBackend,
    detector: LanguageDetector,
    content: ContentStore,
    translations: Translations,
    store: SQLiteStore,
    core_options: CoreOptions,
) -> DialogueCore:
    return DialogueCore(catalogue, embedded, detector, content, translations, store, core_options)


TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def cities_dir(tmp_path: Path, catalogue: Catalogue) -> Path:
    """Two small fixture cities (see tests/citypack.py), safe to edit."""
    root = tmp_path / "cities"
    write_riverton(root, catalogue)
    write_hilltown(root, catalogue)
    return root


@pytest.fixture
def riverton(cities_dir: Path, catalogue: Catalogue) -> ContentStore:
    store = ContentStore(cities_dir / "riverton", catalogue, today=lambda: TODAY)
    store.reload()
    return store


@pytest.fixture
def riverton_core(
    catalogue: Catalogue,
    embedded: EmbeddedBackend,
    detector: LanguageDetector,
    riverton: ContentStore,
    translations: Translations,
    store: SQLiteStore,
) -> DialogueCore:
    # Monday 30 November 2026, 10:00 in Riverton (Europe/Paris): the office is open.
    clock = lambda: dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)  # noqa: E731
    return DialogueCore(catalogue, embedded, detector, riverton, translations, store, CoreOptions(), clock=clock)
