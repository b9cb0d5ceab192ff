"""What the bot missed: recording from the dialogue core, sorting in the console, retraining and hot swap."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.catalogue import Catalogue
from bot.content import CITY_NLU_FOLDER, ContentStore
from bot.dialogue import DialogueCore
from bot.i18n import Translations
from bot.staff_console.app import CONSOLE, Console, ConsoleConfig, create_app
from bot.staff_console.insights import Guess, InsightStore, QuestionRecorder
from bot.staff_console.retraining import ModelWatcher, Retrainer, add_example, current_model
from bot.storage import SQLiteStore, UserState
from nlu import embedded as embedded_module
from nlu.embedded import EmbeddedBackend, load_or_train
from nlu.langid import LanguageDetector
from nlu.loading import load_training_data
from nlu.model import IntentModel
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
    _write_tiny_data(data_dir)
    config = ConsoleConfig(**{**console_config.__dict__, "nlu_data_dir": data_dir})
    bot_backend = EmbeddedBackend(embedded.model)  # the running bot's backend, swapped in place
    other_city_backend = EmbeddedBackend(embedded.model)
    backends = {"brussels": [bot_backend], "elsewhere": [other_city_backend]}
    app = create_app(config, clock=clock, hasher=FAST_HASHER, backends=backends)
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
    assert other_city_backend.model is embedded.model  # another city's bot keeps its own model
    # A bot in another process swaps the same model in when it polls.
    other_process = EmbeddedBackend(embedded.model)
    watcher = ModelWatcher(config.model_dir, "brussels", other_process, data_dir, config.content_dir / "brussels")
    assert watcher.check() is True
    assert sorted(other_process.model.intents) == sorted(TINY_DATA)
    assert watcher.check() is False
    assert other_process.parse_sync("je cherche un logement")["intent"]["name"] == "find_housing"


def test_the_console_trains_the_model_the_bot_loads_for_the_city(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "nlu-data"
    _write_tiny_data(data_dir)
    city_dir = tmp_path / "responses" / "brussels"
    add_example(city_dir, "fr", "find_housing", "un toit pour ma famille")
    model_dir = tmp_path / "models"
    retrainer = Retrainer(data_dir, model_dir, lambda: dt.datetime(2026, 12, 6, tzinfo=dt.UTC))
    model, info = retrainer.train("brussels", city_dir)
    assert info.examples == sum(len(v) for v in TINY_DATA.values()) + 1

    def no_training(*args: object, **kwargs: object) -> IntentModel:
        raise AssertionError("the bot trained again instead of loading the console's model")

    monkeypatch.setattr(embedded_module, "train_model", no_training)
    # The bot's start-up for this city (bot.services) finds the console's model in its cache.
    loaded, _data = load_or_train(data_dir, model_dir, city_nlu_dir=city_dir / CITY_NLU_FOLDER)
    assert loaded.intents == model.intents
    assert loaded.rank("un toit pour ma famille") == model.rank("un toit pour ma famille")
    # So does a bot in another process, when the pointer changes.
    backend = EmbeddedBackend(loaded)
    assert ModelWatcher(model_dir, "brussels", backend, data_dir, city_dir).check() is True
    assert backend.model.rank("louer un studio") == model.rank("louer un studio")


def test_retraining_again_replaces_the_console_model_and_keeps_the_bots_start_up_model(tmp_path: Path) -> None:
    data_dir = tmp_path / "nlu-data"
    _write_tiny_data(data_dir)
    city_dir = tmp_path / "responses" / "brussels"
    model_dir = tmp_path / "models"
    load_or_train(data_dir, model_dir, city_nlu_dir=city_dir / CITY_NLU_FOLDER)  # the bot's start-up
    [start_up] = model_dir.glob("intent-model-*.npz")
    retrainer = Retrainer(data_dir, model_dir, lambda: dt.datetime(2026, 12, 6, tzinfo=dt.UTC))
    add_example(city_dir, "fr", "find_housing", "un toit pour ma famille")
    retrainer.train("brussels", city_dir)
    first = set(model_dir.glob("intent-model-*.npz")) - {start_up}
    assert len(first) == 1
    add_example(city_dir, "fr", "greet", "salam")
    retrainer.train("brussels", city_dir)
    second = set(model_dir.glob("intent-model-*.npz")) - {start_up}
    assert len(second) == 1
    assert second != first
    assert start_up.is_file()


def test_a_watcher_keeps_its_model_when_the_training_data_is_broken(tmp_path: Path, embedded: EmbeddedBackend) -> None:
    data_dir = tmp_path / "nlu-data"
    (data_dir / "fr").mkdir(parents=True)
    (data_dir / "fr" / "greet.yml").write_text("nlu: [unclosed\n", encoding="utf-8")
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    (model_dir / "console-brussels.json").write_text(
        json.dumps({"trained_at": "2026-12-06T10:00:00+00:00", "examples": 1}), encoding="utf-8"
    )
    backend = EmbeddedBackend(embedded.model)
    assert ModelWatcher(model_dir, "brussels", backend, data_dir, tmp_path / "brussels").check() is False
    assert backend.model is embedded.model


def _write_tiny_data(data_dir: Path) -> None:
    for intent, texts in TINY_DATA.items():
        (data_dir / "fr").mkdir(parents=True, exist_ok=True)
        lines = "".join(f"      - {text}\n" for text in texts)
        (data_dir / "fr" / f"{intent}.yml").write_text(
            f'version: "3.1"\nnlu:\n  - intent: {intent}\n    examples: |\n{lines}', encoding="utf-8"
        )


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
