"""Integration with a real Rasa server from .venv-rasa (``bash scripts/rasa.sh install``).

The session fixture trains a small fixture model (tests/fixtures/rasa: the project's pipeline on a
slice of its data, about a minute) when it changed (scripts/rasa.sh caches it under
var/rasa/fixture-models) and serves it on a free port of 127.0.0.1. The full model's accuracy is
measured by benchmarks/compare_rasa.py, not here. Set NEWCOMER_SKIP_RASA=1 to skip these tests;
without it, a missing .venv-rasa is a failure.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.services import Services, create_services
from bot.settings import Settings
from bot.storage import UserState
from nlu.embedded import EmbeddedBackend
from nlu.loading import load_training_data
from nlu.rasa_backend import FailoverBackend, RasaBackend
from nlu.types import FALLBACK_INTENT, ParseResult

pytestmark = pytest.mark.rasa

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rasa.sh"
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
LOG_DIR = ROOT / "var" / "rasa" / "test-logs"
FIXTURE = ROOT / "tests" / "fixtures" / "rasa"
# scripts/rasa.sh trains and serves the fixture model instead of the full one.
FIXTURE_ENV = {
    "RASA_CONFIG": str(FIXTURE / "config.yml"),
    "RASA_DATA": str(FIXTURE / "data"),
    "RASA_MODELS": str(ROOT / "var" / "rasa" / "fixture-models"),
}
TRAIN_TIMEOUT_S = 10 * 60
READY_TIMEOUT_S = 180

# Real questions, phrased as users write them (not copied from the training data).
QUESTIONS = [
    ("fr", "bonjour", "greet"),
    ("fr", "je cherche un médecin généraliste", "find_doctor"),
    ("fr", "comment trouver un appartement à louer", "find_housing"),
    ("fr", "je veux apprendre le néerlandais", "dutch_course"),
    ("en", "thank you so much", "thanks"),
    ("en", "how do I open a bank account", "bank_account"),
    ("en", "I have nowhere to sleep tonight", "emergency_shelter"),
    ("en", "where can I learn French", "french_course"),
    ("nl", "hallo", "greet"),
    ("nl", "ik zoek werk", "find_job"),
    ("nl", "hoe kan ik mijn diploma laten erkennen", "diploma_recognition"),
    ("nl", "ik wil Frans leren", "french_course"),
    ("ar", "مرحبا", "greet"),
    ("ar", "أريد أن أتعلم اللغة الفرنسية", "french_course"),
    ("ar", "كيف أفتح حساب بنكي", "bank_account"),
    ("ar", "أحتاج إلى مترجم", "interpreter"),
]
CORE_LANGUAGES = ("fr", "en", "nl", "ar")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class RasaServer:
    """A ``scripts/rasa.sh serve`` process on 127.0.0.1 that the tests can stop and start."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = LOG_DIR / f"rasa-{port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until its model is loaded."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **FIXTURE_ENV, "RASA_HOST": "127.0.0.1", "RASA_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            # Its own process group, so that stop() ends rasa and nothing else.
            self.process = subprocess.Popen(
                ["bash", str(SCRIPT), "serve"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"Rasa exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"Rasa did not load its model within {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def ready(self) -> bool:
        """Whether ``/status`` reports a loaded model."""
        try:
            with urllib.request.urlopen(f"{self.url}/status", timeout=2) as response:
                status = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return bool(status.get("model_file"))

    def stop(self) -> None:
        """Stop the server (its whole process group) and wait until the port is closed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log, for failure messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def run_script(step: str, timeout: float) -> tuple[int, str]:
    """Run ``scripts/rasa.sh STEP`` in its own process group, ended whole on timeout."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{step}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", str(SCRIPT), step],
            cwd=ROOT,
            env={**os.environ, **FIXTURE_ENV},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = -1
    output = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
    return returncode, output


@pytest.fixture(scope="session")
def rasa_server() -> Iterator[RasaServer]:
    if os.environ.get("NEWCOMER_SKIP_RASA") == "1":
        pytest.skip("NEWCOMER_SKIP_RASA=1: not testing against a real Rasa server")
    if not RASA_BIN.exists():
        pytest.fail(
            f"{RASA_BIN} is missing: run `bash scripts/rasa.sh install` (CI must), "
            "or set NEWCOMER_SKIP_RASA=1 to skip the Rasa integration tests"
        )
    for step, timeout in (("install", 20 * 60), ("train", TRAIN_TIMEOUT_S)):
        returncode, output = run_script(step, timeout)
        if returncode != 0:
            pytest.fail(f"scripts/rasa.sh {step} failed ({returncode}):\n{output}")
    server = RasaServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def rasa(rasa_server: RasaServer) -> AsyncIterator[RasaBackend]:
    backend = RasaBackend(rasa_server.url, timeout_s=5.0)
    yield backend
    await backend.close()


def top_intent(result: ParseResult) -> str:
    """The best real intent, also when the FallbackClassifier put ``nlu_fallback`` first."""
    for score in result["intent_ranking"]:
        if score["name"] != FALLBACK_INTENT:
            return score["name"]
    return result["intent"]["name"]


@pytest.mark.parametrize(("language", "text", "intent"), QUESTIONS)
async def test_real_questions_get_the_right_intent(rasa: RasaBackend, language: str, text: str, intent: str) -> None:
    result = await rasa.parse(text)
    assert result["text"] == text
    assert result["language"] is None
    assert result["intent"]["name"] == intent, (language, result["intent_ranking"][:3])


async def test_heldout_accuracy_in_core_languages(rasa: RasaBackend) -> None:
    heldout = load_training_data(ROOT / "nlu" / "heldout")
    trained = {intent for _language, _text, intent in QUESTIONS}
    for language in CORE_LANGUAGES:
        examples = [e for e in heldout.examples if e.language == language and e.intent in trained]
        assert examples, language
        correct = 0
        for example in examples:
            correct += top_intent(await rasa.parse(example.text)) == example.intent
        accuracy = correct / len(examples)
        assert accuracy >= 0.75, (language, round(accuracy, 3))


async def test_odd_input_is_answered(rasa: RasaBackend) -> None:
    for text in ["", "?!", "\x00\x1b", "😀" * 50, "word " * 2000]:
        result = await rasa.parse(text)
        assert result["intent"]["name"]


@pytest.fixture
async def rasa_services(rasa_server: RasaServer) -> AsyncIterator[Services]:
    settings = Settings.from_env(
        environ={"NLU_BACKEND": "rasa", "RASA_URL": rasa_server.url, "RASA_TIMEOUT_SECONDS": "5"},
        env_file=None,
    )
    services = await create_services(settings, state_db=":memory:")
    yield services
    await services.close()


async def test_dialogue_core_answers_through_rasa(rasa_services: Services) -> None:
    assert isinstance(rasa_services.nlu, FailoverBackend)
    wrong = []
    for language, text, intent in QUESTIONS:
        state = UserState(user_key=f"test-{language}", language=language)
        reply = await rasa_services.core.handle_text(state, text)
        assert rasa_services.nlu.last_backend_used == "rasa"
        answer = rasa_services.content.get(language, intent)
        answered = answer is None or any(
            answer.filled_text(rasa_services.content.facts) in m.text for m in reply.messages
        )
        if reply.intent != intent or not answered:
            wrong.append((language, text, reply.intent))
    assert wrong == []


async def test_failover_to_embedded_and_back(rasa_server: RasaServer, embedded: EmbeddedBackend) -> None:
    # ``embedded`` (tests/conftest.py) is the project's real embedded backend. Rasa "goes down" by
    # pointing the backend at a closed port (a real refused connection), which spares restarting
    # the server (half a minute of model loading); the retry window runs on an injected clock.
    now = [0.0]
    rasa = RasaBackend(rasa_server.url)
    backend = FailoverBackend(rasa, embedded, retry_after_s=30.0, clock=lambda: now[0])
    try:
        assert (await backend.parse("je cherche un médecin"))["intent"]["name"] == "find_doctor"
        assert backend.last_backend_used == "rasa"

        rasa._parse_url = f"http://127.0.0.1:{free_port()}/model/parse"
        result = await backend.parse("je cherche un médecin généraliste")
        assert backend.last_backend_used == "embedded" and backend.is_open
        assert top_intent(result) == "find_doctor"
        for language, text, intent in QUESTIONS[:4]:
            assert top_intent(await backend.parse(text)) == intent, language
            assert backend.last_backend_used == "embedded"

        rasa._parse_url = f"{rasa_server.url}/model/parse"  # back up
        now[0] += 29.0
        await backend.parse("ik zoek werk")
        assert backend.last_backend_used == "embedded"  # not probed before the window ends
        now[0] += 1.0
        assert (await backend.parse("ik zoek werk"))["intent"]["name"] == "find_job"
        assert backend.last_backend_used == "rasa" and not backend.is_open
    finally:
        await backend.close()
