"""What the bot missed: recording from the dialogue core, sorting in the console, retraining and hot swap."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.catalogue import Catalogue
from bot.content import ContentStore
from bot.dialogue import DialogueCore
from bot.i18n import Translations
from bot.staff_console.app import CONSOLE, Console, ConsoleConfig, create_app
from bot.staff_console.insights import Guess, InsightStore, QuestionRecorder
from bot.staff_console.retraining import ModelWatcher, current_model
from bot.storage import SQLiteStore, UserState
from nlu.embedded import EmbeddedBackend
from nlu.langid import LanguageDetector
from nlu.loading import load_training_data
from nlu.types import ParseResult
from tests.staff_console.conftest import FAST_HASHER, Client, FakeClock, csrf_token, log_in

TINY_DATA = {
    "find_housing": ["je cherche un logement", "trouver un appartement", "louer un studio", "chercher une maison"],
    "french_course": ["cours de français", "apprendre le français", "école de langue", "leçons de français"],
    "greet": ["bonjour", "salut", "bonsoir", "coucou"],
}


def _parse(intent: str, ranking: list[tuple[str, float]]) -> ParseResult:
    scores = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return {"text": "", "intent": {"name": intent, "confidence": 0.3}, "intent_ranking": scores, "entities": []}  # type: ignore[typeddict-item]


def _store(clock: FakeClock) -> InsightStore:
    return InsightStore(":memory:", lambda: dt.datetime.fromtimestamp(clock()).date(), retention_days=30)


def test_a_fallback_is_counted_and_its_text_kept_with_the_best_guesses(clock: FakeClock) -> None:
    store = _store(clock)
    recorder = QuestionRecorder(store, "brussels", keep_texts=True, clock=clock)
    ranking = [("nlu_fallback", 0.4), ("find_housing", 0.3), ("social_aid", 0.2), ("greet", 0.1), ("thanks", 0.05)]
    recorder.parsed("user-1", "ou dormir ce soir", "fr", _parse("nlu_fallback", ranking))
    [question] = store.missed("brussels")
    assert (question.text, question.language, question.reason) == ("ou dormir ce soir", "fr", "fallback")
    assert question.guesses == (Guess("find_housing", 0.3), Guess("social_aid", 0.2), Guess("greet", 0.1))
    assert [(c.metric, c.language, c.count) for c in store.daily("brussels", dt.date(2000, 1, 1))] == [
        ("fallback", "fr", 1)
    ]
    store.close()


def test_without_the_operators_consent_only_counts_are_kept(clock: FakeClock) -> None:
    store = _store(clock)
    recorder = QuestionRecorder(store, "brussels", keep_texts=False, clock=clock)
    recorder.parsed("user-1", "ou dormir", "fr", _parse("nlu_fallback", [("find_housing", 0.3)]))
    recorder.parsed("user-1", "logement", "fr", _parse("find_housing", [("find_housing", 0.9)]))
    recorder.feedback_down("user-1", "fr", "find_housing")
    assert store.missed("brussels") == []
    metrics = sorted((c.metric, c.intent) for c in store.daily("brussels", dt.date(2000, 1, 1)))
    assert metrics == [("fallback", ""), ("feedback_down", "find_housing"), ("question", "find_housing")]
    store.close()


def test_a_thumbs_down_keeps_the_question_that_got_the_answer_for_a_short_while(clock: FakeClock) -> None:
    store = _store(clock)
    recorder = QuestionRecorder(store, "brussels", keep_texts=True, clock=clock)
    recorder.parsed("user-1", "caution appartement", "fr", _parse("find_housing", [("find_housing", 0.9)]))
    recorder.feedback_down("user-1", "fr", "find_housing")
    [question] = store.missed("brussels")
    assert (question.text, question.reason) == ("caution appartement", "feedback_down")
    recorder.parsed("user-2", "cours du soir", "fr", _parse("french_course", [("french_course", 0.9)]))
    clock.advance(31 * 60)
    recorder.feedback_down("user-2", "fr", "french_course")  # too late to tie it to a question
    assert len(store.missed("brussels")) == 1
    store.close()


def test_missed_questions_are_deleted_after_the_retention_period(clock: FakeClock) -> None:
    store = _store(clock)
    store.keep_missed("brussels", "fr", "fallback", "vieux message", [])
    clock.advance(31 * 86400)
    store.keep_missed("brussels", "fr", "fallback", "nouveau message", [])
    assert store.purge_expired() == 1
    assert [q.text for q in store.missed("brussels")] == ["nouveau message"]
    store.close()


async def test_the_dialogue_core_reports_fallbacks_and_thumbs_down(
    catalogue: Catalogue,
    embedded: EmbeddedBackend,
    detector: LanguageDetector,
    content: ContentStore,
    translations: Translations,
    store: SQLiteStore,
    clock: FakeClock,
) -> None:
    insights = _store(clock)
    recorder = QuestionRecorder(insights, "brussels", keep_texts=True, clock=clock)
    core = DialogueCore(catalogue, embedded, detector, content, translations, store, question_log=recorder)
    state = UserState("telegram-42", language="fr")
    await core.handle_text(state, "zxqv wplk trrrm")
    reply = await core.handle_text(state, "je cherche un logement à louer")
    assert reply.intent is not None
    core.handle_action(state, f"fb:down:{reply.intent}")
    texts = sorted((q.reason, q.text) for q in insights.missed("brussels"))
    assert texts == [("fallback", "zxqv wplk trrrm"), ("feedback_down", "je cherche un logement à louer")]
    insights.close()


async def test_assigning_a_question_adds_a_training_example_and_retrains(
    console_config: ConsoleConfig, users: object, clock: FakeClock, tmp_path: Path, embedded: EmbeddedBackend
) -> None:
    data_dir = tmp_path / "nlu-data"
    for intent, texts in TINY_DATA.items():
        (data_dir / "fr").mkdir(parents=True, exist_ok=True)
        lines = "".join(f"      - {text}\n" for text in texts)
        (data_dir / "fr" / f"{intent}.yml").write_text(
            f'version: "3.1"\nnlu:\n  - intent: {intent}\n    examples: |\n{lines}', encoding="utf-8"
        )
    config = ConsoleConfig(**{**console_config.__dict__, "nlu_data_dir": data_dir})
    clock.now = max(path.stat().st_mtime for path in data_dir.rglob("*.yml")) + 60  # retrained after the data
    bot_backend = EmbeddedBackend(embedded.model)  # the running bot's backend, swapped in place
    app = create_app(config, clock=clock, hasher=FAST_HASHER, backends=[bot_backend])
    console = app[CONSOLE]
    console.insights.keep_missed("brussels", "fr", "fallback", "un toit  pour ma famille", [Guess("find_housing", 0.3)])
    console.insights.keep_missed("brussels", "ar", "fallback", "سكن", [])
    [question] = console.insights.missed("brussels", "fr")
    async with TestClient(TestServer(app)) as client:
        assert await log_in(client, "rita") == 303
        page = await (await client.get("/cities/brussels/missed?language=fr")).text()
        assert "un toit  pour ma famille" in page
        assert "find_housing (30 %)" in page
        assert "not retrained here yet" in page
        token = await csrf_token(client, "/cities/brussels/missed")
        response = await client.post(
            f"/cities/brussels/missed/{question.id}",
            data={"csrf_token": token, "action": "assign", "intent": "find_housing"},
        )
        assert response.status == 200
        assert "Added as an example of" in await response.text()
        await console.retrainer.wait("brussels")
        page = await (await client.get("/cities/brussels/missed?language=fr&status=assigned")).text()
        assert "un toit  pour ma famille" in page
        assert "retrained 2026-" in page
    missed_file = config.content_dir / "brussels" / "nlu" / "fr" / "missed.yml"
    examples = load_training_data(missed_file).examples
    assert [(e.text, e.intent) for e in examples] == [("un toit pour ma famille", "find_housing")]
    info = current_model(config.model_dir, "brussels")
    assert info is not None
    assert info.examples == sum(len(v) for v in TINY_DATA.values()) + 1
    assert bot_backend.model is not embedded.model
    assert sorted(bot_backend.model.intents) == sorted(TINY_DATA)
    # A bot in another process swaps the same model in when it polls.
    other_process = EmbeddedBackend(embedded.model)
    watcher = ModelWatcher(config.model_dir, "brussels", other_process, data_dir)
    assert watcher.check() is True
    assert sorted(other_process.model.intents) == sorted(TINY_DATA)
    assert watcher.check() is False
    assert other_process.parse_sync("je cherche un logement")["intent"]["name"] == "find_housing"


def test_a_retrained_model_older_than_the_shared_training_data_is_not_used(
    tmp_path: Path, embedded: EmbeddedBackend
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "fr").mkdir(parents=True)
    training = data_dir / "fr" / "greet.yml"
    training.write_text('version: "3.1"\nnlu: []\n', encoding="utf-8")
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    embedded.model.save(model_dir / "console-brussels-1.npz")
    pointer = {"model": "console-brussels-1.npz", "trained_at": "2020-01-01T00:00:00+00:00", "examples": 1}
    (model_dir / "console-brussels.json").write_text(json.dumps(pointer), encoding="utf-8")
    backend = EmbeddedBackend(embedded.model)
    before = backend.model
    assert ModelWatcher(model_dir, "brussels", backend, data_dir).check() is False
    assert backend.model is before
    os.utime(training, (1_500_000_000, 1_500_000_000))  # the data is now older than the model
    assert ModelWatcher(model_dir, "brussels", backend, data_dir).check() is True
    assert backend.model is not before


async def test_a_translator_sorts_only_questions_in_their_languages(client: Client, console: Console) -> None:
    console.insights.keep_missed("brussels", "ar", "fallback", "سؤال", [])
    console.insights.keep_missed("brussels", "pl", "fallback", "pytanie", [])
    arabic, polish = (console.insights.missed("brussels", code)[0] for code in ("ar", "pl"))
    assert await log_in(client, "amina") == 303
    page = await (await client.get("/cities/brussels/missed")).text()
    assert "سؤال" in page
    assert "pytanie" not in page
    assert (await client.get("/cities/brussels/missed?language=pl")).status == 403
    token = await csrf_token(client, "/cities/brussels/missed")
    refused = await client.post(f"/cities/brussels/missed/{polish.id}", data={"csrf_token": token, "action": "dismiss"})
    assert refused.status == 403
    done = await client.post(f"/cities/brussels/missed/{arabic.id}", data={"csrf_token": token, "action": "new_topic"})
    assert done.status == 200
    assert [q.id for q in console.insights.missed("brussels", status="new_topic")] == [arabic.id]
    assert [q.id for q in console.insights.missed("brussels", status="open")] == [polish.id]
