"""Builds the long-lived services from the settings, and closes them; used by every channel."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.catalogue import Catalogue, load_catalogue
from bot.content import ContentStore
from bot.dialogue import CoreOptions, DialogueCore
from bot.i18n import Translations
from bot.settings import Settings
from bot.storage import ResilientStore, open_state_store
from nlu.embedded import EmbeddedBackend, load_fallback_config, load_or_train
from nlu.langid import LanguageDetector
from nlu.types import NluBackend

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a channel needs, created once at start-up."""

    settings: Settings
    catalogue: Catalogue
    translations: Translations
    content: ContentStore
    detector: LanguageDetector
    embedded: EmbeddedBackend
    nlu: NluBackend
    store: ResilientStore
    core: DialogueCore

    async def close(self) -> None:
        """Release the NLU backend's sessions and the database."""
        await self.nlu.close()
        if self.nlu is not self.embedded:
            await self.embedded.close()
        self.store.close()


def build_embedded_backend(settings: Settings, detector: LanguageDetector | None) -> EmbeddedBackend:
    """Load (or train and cache) the embedded model; seconds on first run, milliseconds after."""
    model, data = load_or_train(settings.nlu_data_dir, settings.model_cache_dir)
    for note in data.unused_by_embedded_model():
        logger.info("Training data: %s", note)
    return EmbeddedBackend(model, load_fallback_config(settings.nlu_config), detector)


async def create_services(settings: Settings, state_db: str | None = None) -> Services:
    """Create every service; ``state_db`` overrides the database path (``":memory:"`` in tests)."""
    catalogue = load_catalogue(settings.catalogue_path)
    translations = Translations.load(catalogue.languages)
    content = ContentStore(settings.city_content_dir, catalogue)
    report = content.reload()
    if not content.answers():
        raise RuntimeError(f"no answers could be loaded from {settings.city_content_dir}")
    logger.info("Loaded %d answers (%d problem(s))", len(content.answers()), len(report.problems))
    detector = LanguageDetector(catalogue.languages)
    # Loading models is CPU work of up to a few seconds: keep the event loop free meanwhile.
    await asyncio.to_thread(detector.load)
    # The dialogue core asks the detector itself (for Rasa too), so the backend does not repeat it.
    embedded = await asyncio.to_thread(build_embedded_backend, settings, None)
    nlu: NluBackend = embedded
    if settings.nlu_backend == "rasa":
        from nlu.rasa_backend import FailoverBackend, RasaBackend

        rasa = RasaBackend(settings.rasa_url, token=settings.rasa_token, timeout_s=settings.rasa_timeout_seconds)
        # An intent outside the catalogue means Rasa serves another model: the embedded one answers.
        nlu = FailoverBackend(rasa, embedded, known_intents=frozenset(catalogue.intents))
    # Never raises: a database that cannot be opened is reported with its path and retried.
    store = open_state_store(
        state_db or settings.state_db_path,
        retention_days=settings.state_retention_days,
        keep_message_texts=settings.store_message_texts,
    )
    core = DialogueCore(
        catalogue,
        nlu,
        detector,
        content,
        translations,
        store,
        CoreOptions(
            default_language=settings.default_language,
            serve_drafts=settings.serve_drafts,
            female_counsellor_available=settings.female_counsellor_available,
            retention_days=settings.state_retention_days,
            store_message_texts=settings.store_message_texts,
        ),
    )
    return Services(settings, catalogue, translations, content, detector, embedded, nlu, store, core)
