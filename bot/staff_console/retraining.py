"""Teaching the bot: assigned questions become training examples, and the model retrains in the background.

Assigned questions are appended to ``responses/<city>/nlu/<lang>/missed.yml`` (Rasa NLU format).
Retraining goes through the bot's own :func:`nlu.embedded.load_or_train` with the city's
``nlu`` folder, into the bot's model cache: the model trained here is the very model (same data,
same cache key, same file) the bot loads for that city at start-up. A small pointer file per city
tells when it was trained; the console swaps the model into the backends it holds (the bot's own,
when both run in one process), and a bot in another process picks it up with :class:`ModelWatcher`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from bot.content import CITY_NLU_FOLDER
from bot.staff_console import yaml_edit
from bot.staff_console.files import write_atomically
from nlu.embedded import EmbeddedBackend, load_or_train
from nlu.loading import DataError
from nlu.model import IntentModel

logger = logging.getLogger(__name__)

MISSED_FILE = "missed.yml"
MODEL_CACHE_FILES = "intent-model-*.npz"  # the names nlu.embedded.load_or_train caches models under


def add_example(city_dir: Path, language: str, intent: str, text: str) -> Path:
    """Append ``text`` as an example of ``intent`` to the city's training data; returns the file."""
    path = city_dir / CITY_NLU_FOLDER / language / MISSED_FILE
    document = yaml_edit.read(path)[1]
    if not document:
        document["version"] = DoubleQuotedScalarString("3.1")
        document["nlu"] = CommentedSeq()
    example = " ".join(text.split())
    items = document["nlu"]
    item = next((entry for entry in items if entry.get("intent") == intent), None)
    if item is None:
        item = CommentedMap([("intent", intent), ("examples", LiteralScalarString(""))])
        items.append(item)
    item["examples"] = LiteralScalarString(f"{item['examples']}- {example}\n")
    write_atomically(path, yaml_edit.dump(document))
    return path


@dataclass(frozen=True)
class ModelInfo:
    """The model a city's bot uses: when it was trained and from how many examples."""

    trained_at: dt.datetime
    examples: int


@dataclass
class RetrainStatus:
    """What the console shows about retraining."""

    running: bool = False
    error: str | None = None
    pending: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def pointer_file(model_dir: Path, city: str) -> Path:
    """The small JSON file naming the city's newest model."""
    return model_dir / f"console-{city}.json"


def current_model(model_dir: Path, city: str) -> ModelInfo | None:
    """The city's newest console-trained model, if any."""
    raw = _pointer(model_dir, city)
    if not raw:
        return None
    return ModelInfo(dt.datetime.fromisoformat(raw["trained_at"]), int(raw["examples"]))


def _pointer(model_dir: Path, city: str) -> dict[str, Any]:
    """The city's pointer file as written by :meth:`Retrainer.train` (empty when there is none)."""
    return _read_pointer(pointer_file(model_dir, city))


def _read_pointer(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return raw if isinstance(raw, dict) else {}


def city_model(base_data_dir: Path, model_dir: Path, city_dir: Path) -> tuple[IntentModel, int]:
    """The city's model exactly as the bot loads it (cached by its data), and its number of examples."""
    model, data = load_or_train(base_data_dir, model_dir, city_nlu_dir=city_dir / CITY_NLU_FOLDER)
    return model, len(data.examples)


class Retrainer:
    """Runs one training at a time per console; a request during a run schedules one more run."""

    def __init__(
        self,
        base_data_dir: Path,
        model_dir: Path,
        now: Callable[[], dt.datetime],
        backends: Mapping[str, Sequence[EmbeddedBackend]] | None = None,
    ) -> None:
        self.base_data_dir = base_data_dir
        self.model_dir = model_dir
        self.now = now
        self.backends = backends or {}  # city -> the backends serving that city in this process
        self.status: dict[str, RetrainStatus] = {}

    def request(self, city: str, city_dir: Path) -> None:
        """Start retraining the city's model in the background (or once more after the current run)."""
        status = self.status.setdefault(city, RetrainStatus())
        if status.running:
            status.pending = True
            return
        status.running, status.error = True, None
        task = asyncio.create_task(self._run(city, city_dir, status), name=f"retrain-{city}")
        status.tasks.add(task)
        task.add_done_callback(status.tasks.discard)

    async def wait(self, city: str) -> None:
        """Wait until the city's training runs are over (for tests and shutdown)."""
        status = self.status.get(city)
        while status is not None and status.tasks:
            await asyncio.gather(*status.tasks)

    async def _run(self, city: str, city_dir: Path, status: RetrainStatus) -> None:
        try:
            while True:
                status.pending = False
                model, info = await asyncio.to_thread(self.train, city, city_dir)
                for backend in self.backends.get(city, ()):
                    backend.swap_model(model)
                logger.info("Retrained the %s model: %d examples", city, info.examples)
                if not status.pending:
                    break
        except Exception as exc:  # a broken training file must not kill the console
            logger.exception("Retraining the %s model failed", city)
            status.error = str(exc)
        finally:
            status.running = False

    def train(self, city: str, city_dir: Path) -> tuple[IntentModel, ModelInfo]:
        """Train (or load from the cache) the city's model and point the city's bot at it.

        Each retraining adds a cache file (tens of megabytes): the one this console made for the
        city before is removed once a newer one exists, unless another city's pointer names it.
        """
        previous = _pointer(self.model_dir, city).get("model")
        cached_before = set(self.model_dir.glob(MODEL_CACHE_FILES))
        model, examples = city_model(self.base_data_dir, self.model_dir, city_dir)
        created = set(self.model_dir.glob(MODEL_CACHE_FILES)) - cached_before
        # Another city training at the same moment may add a file too: then we cannot tell which is ours.
        made = created.pop().name if len(created) == 1 else None
        info = ModelInfo(self.now(), examples)
        pointer = {"trained_at": info.trained_at.isoformat(), "examples": info.examples, "model": made}
        write_atomically(pointer_file(self.model_dir, city), json.dumps(pointer) + "\n")
        if made and previous and previous != made and not self._named_by_another_city(city, previous):
            (self.model_dir / previous).unlink(missing_ok=True)
        return model, info

    def _named_by_another_city(self, city: str, model: str) -> bool:
        others = (p for p in self.model_dir.glob("console-*.json") if p != pointer_file(self.model_dir, city))
        return any(_read_pointer(p).get("model") == model for p in others)


class ModelWatcher:
    """For a bot in another process: swaps in the city's model when the console retrained it.

    It loads the model through the same :func:`city_model` as the console and the bot's start-up,
    so it gets the model for the training data as they are now (the console's, from the cache).
    """

    def __init__(
        self, model_dir: Path, city: str, backend: EmbeddedBackend, base_data_dir: Path, city_dir: Path
    ) -> None:
        self.pointer = pointer_file(model_dir, city)
        self.model_dir = model_dir
        self.city = city
        self.backend = backend
        self.base_data_dir = base_data_dir
        self.city_dir = city_dir
        self._seen: int | None = None

    def check(self) -> bool:
        """Swap when the pointer changed since the last check (cheap: one stat); True if swapped."""
        try:
            stamp = self.pointer.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            model, _examples = city_model(self.base_data_dir, self.model_dir, self.city_dir)
        except (DataError, OSError, ValueError) as exc:
            logger.warning("Could not load the retrained %s model (%s); keeping the current one", self.city, exc)
            return False
        self.backend.swap_model(model)
        logger.info("Swapped in the retrained %s intent model", self.city)
        return True
