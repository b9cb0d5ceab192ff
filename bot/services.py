"""Builds the long-lived services from the settings, and closes them; used by every channel.

A city's services (:class:`CityServices`) are what a channel needs for that city: its content,
its intent model and its dialogue core. One process can serve several cities: they share the
catalogue, the UI catalogs, the language detector and one state database, in which every user's
row is keyed by city as well, so a person talking to two cities' bots has two separate states.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot.catalogue import Catalogue, load_catalogue
from bot.city import City
from bot.content import CITY_NLU_FOLDER, ContentStore
from bot.dialogue import CoreOptions, DialogueCore
from bot.i18n import Translations
from bot.settings import Settings
from bot.staff_console.retraining import ModelWatcher
from bot.staff_console.wiring import question_recorder, retrained_model_watcher
from bot.storage import Counter, ResilientStore, UserState, open_state_store
from nlu.embedded import EmbeddedBackend, load_fallback_config, load_or_train
from nlu.langid import LanguageDetector
from nlu.types import NluBackend

logger = logging.getLogger(__name__)


class CityStateStore:
    """The shared state database seen by one city: user rows are keyed ``<city>:<user key>``."""

    def __init__(self, database: ResilientStore, city: str) -> None:
        self.database = database
        self.city = city

    def _key(self, user_key: str) -> str:
        return f"{self.city}:{user_key}"

    def load(self, user_key: str) -> UserState:
        """The user's state in this city (``user_key`` stays the channel's own)."""
        stored = self.database.load(self._key(user_key))
        return UserState(user_key, stored.language, stored.last_intent)

    def save(self, state: UserState) -> None:
        """Persist the user's state in this city."""
        self.database.save(UserState(self._key(state.user_key), state.language, state.last_intent))

    def forget(self, user_key: str) -> bool:
        """Delete what this city keeps about the user."""
        return self.database.forget(self._key(user_key))

    def count(self, metric: str, language: str, intent: str = "") -> None:
        """Anonymous counters are shared by the cities of the database."""
        self.database.count(metric, language, intent)

    def counters(self) -> list[Counter]:
        """Every counter."""
        return self.database.counters()

    def log_message(self, text: str, language: str | None, intent: str, confidence: float) -> None:
        """See :meth:`SQLiteStore.log_message`."""
        self.database.log_message(text, language, intent, confidence)

    def purge_expired(self) -> int:
        """Delete expired user rows (of every city: the retention is the deployment's)."""
        return self.database.purge_expired()

    def check_health(self) -> None:
        """Probe the shared database, reopening it after a fault (see :class:`ResilientStore`)."""
        self.database.check_health()

    def close(self) -> None:
        """Close the shared database (only its owner calls this)."""
        self.database.close()


@dataclass
class CityServices:
    """Everything a channel needs for one city, created once at start-up."""

    settings: Settings  # this city's settings: ``settings.city`` is the city
    catalogue: Catalogue
    translations: Translations
    content: ContentStore
    detector: LanguageDetector
    embedded: EmbeddedBackend
    nlu: NluBackend
    store: CityStateStore
    core: DialogueCore
    owns_store: bool = True
    model_watcher: ModelWatcher | None = None  # swaps in the models retrained in the staff console

    @property
    def city(self) -> City:
        """The city these services answer for."""
        return self.content.city

    async def close(self) -> None:
        """Release the NLU backend's sessions, and the database when these services own it."""
        await self.nlu.close()
        if self.nlu is not self.embedded:
            await self.embedded.close()
        if self.owns_store:
            self.store.close()


# The name the channels use for one city's services.
Services = CityServices


@dataclass
class Deployment:
    """Several cities in one process: one ``CityServices`` each, one shared database."""

    cities: dict[str, CityServices] = field(default_factory=dict)
    database: ResilientStore | None = None

    async def close(self) -> None:
        """Close every city's services, then the database."""
        for services in self.cities.values():
            await services.close()
        if self.database is not None:
            self.database.close()


@dataclass(frozen=True)
class _Shared:
    catalogue: Catalogue
    translations: Translations
    detector: LanguageDetector


def build_embedded_backend(settings: Settings, detector: LanguageDetector | None) -> EmbeddedBackend:
    """Load (or train and cache) the city's model; seconds on first run, milliseconds after."""
    city_nlu = settings.city_content_dir / CITY_NLU_FOLDER
    model, data = load_or_train(settings.nlu_data_dir, settings.model_cache_dir, city_nlu_dir=city_nlu)
    for note in data.unused_by_embedded_model():
        logger.info("Training data: %s", note)
    return EmbeddedBackend(model, load_fallback_config(settings.nlu_config), detector)


async def _shared(settings: Settings) -> _Shared:
    catalogue = load_catalogue(settings.catalogue_path)
    detector = LanguageDetector(catalogue.languages)
    # Loading models is CPU work of up to a few seconds: keep the event loop free meanwhile.
    await asyncio.to_thread(detector.load)
    return _Shared(catalogue, Translations.load(catalogue.languages), detector)


async def _city_services(
    settings: Settings, shared: _Shared, database: ResilientStore, owns: bool, in_memory: bool
) -> CityServices:
    content = ContentStore(settings.city_content_dir, shared.catalogue, settings.fact_max_age_days)
    report = content.reload()
    if not content.answers():
        raise RuntimeError(f"no answers could be loaded from {settings.city_content_dir}")
    logger.info("City %s: %d answers (%d problem(s))", settings.city, len(content.answers()), len(report.problems))
    # The dialogue core asks the detector itself (for Rasa too), so the backend does not repeat it.
    embedded = await asyncio.to_thread(build_embedded_backend, settings, None)
    nlu: NluBackend = embedded
    if settings.nlu_backend == "rasa" and content.city.added:
        # The Rasa server is trained on the shared data only: it cannot know a city's own intents.
        logger.info("City %s has its own intents: answering with its embedded model, not Rasa", settings.city)
    elif settings.nlu_backend == "rasa":
        from nlu.rasa_backend import FailoverBackend, RasaBackend

        rasa = RasaBackend(
            settings.rasa_url,
            token=settings.rasa_token,
            timeout_s=settings.rasa_timeout_seconds,
            rules=load_fallback_config(settings.nlu_config),
        )
        # An intent outside the catalogue means Rasa serves another model: the embedded one answers.
        nlu = FailoverBackend(rasa, embedded, known_intents=frozenset(shared.catalogue.intents))
    store = CityStateStore(database, settings.city)
    core = DialogueCore(
        shared.catalogue,
        nlu,
        shared.detector,
        content,
        shared.translations,
        store,
        CoreOptions(
            default_language=content.city.default_language,
            serve_drafts=settings.serve_drafts,
            female_counsellor_available=settings.female_counsellor_available or bool(settings.female_counsellor_ids),
            retention_days=settings.state_retention_days,
            store_message_texts=settings.store_message_texts,
        ),
        question_log=question_recorder(settings, in_memory=in_memory),
    )
    watcher = retrained_model_watcher(settings, embedded)
    return CityServices(
        settings,
        shared.catalogue,
        shared.translations,
        content,
        shared.detector,
        embedded,
        nlu,
        store,
        core,
        owns,
        watcher,
    )


def _database(settings: Settings, state_db: str | None) -> ResilientStore:
    # Never raises: a database that cannot be opened is reported with its path and retried.
    return open_state_store(
        state_db or settings.state_db_path,
        retention_days=settings.state_retention_days,
        keep_message_texts=settings.store_message_texts,
    )


async def create_services(settings: Settings, state_db: str | None = None) -> CityServices:
    """One city's services (``settings.city``); ``state_db`` overrides the database (``":memory:"`` in tests)."""
    shared = await _shared(settings)
    return await _city_services(
        settings, shared, _database(settings, state_db), owns=True, in_memory=state_db == ":memory:"
    )


async def create_deployment(settings: Settings, state_db: str | None = None) -> Deployment:
    """The services of every city in ``settings.cities``, sharing one database and the shared models."""
    shared = await _shared(settings)
    deployment = Deployment(database=_database(settings, state_db))
    assert deployment.database is not None
    for city in settings.cities:
        deployment.cities[city] = await _city_services(
            settings.for_city(city), shared, deployment.database, owns=False, in_memory=state_db == ":memory:"
        )
    return deployment
