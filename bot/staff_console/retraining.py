"""Teaching the bot: assigned questions become training examples, and the model retrains in the background.

Assigned questions are appended to ``responses/<city>/nlu/<lang>/missed.yml`` (Rasa NLU format).
The retrained model is saved next to the model cache with a small pointer file per city; the
console swaps it into the backends it holds (the bot's own, when both run in one process), and a
bot in another process picks it up with :class:`ModelWatcher`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from bot.staff_console import yaml_edit
from bot.staff_console.files import write_atomically
from nlu.embedded import EmbeddedBackend
from nlu.loading import TrainingData, load_training_data
from nlu.model import IntentModel
from nlu.training import train_model

logger = logging.getLogger(__name__)

MISSED_FILE = "missed.yml"
MODELS_KEPT = 2


def add_example(city_dir: Path, language: str, intent: str, text: str) -> Path:
    """Append ``text`` as an example of ``intent`` to the city's training data; returns the file."""
    path = city_dir / "nlu" / language / MISSED_FILE
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
    path: Path


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
    pointer = pointer_file(model_dir, city)
    if not pointer.is_file():
        return None
    raw = json.loads(pointer.read_text(encoding="utf-8"))
    return ModelInfo(dt.datetime.fromisoformat(raw["trained_at"]), int(raw["examples"]), model_dir / raw["model"])


def training_data(base_dir: Path, city_dir: Path) -> TrainingData:
    """The shared training data plus the city's own (``responses/<city>/nlu``)."""
    data = load_training_data(base_dir)
    city_nlu = city_dir / "nlu"
    if city_nlu.is_dir() and any(city_nlu.rglob("*.yml")):
        extra = load_training_data(city_nlu)
        data.examples.extend(extra.examples)
        data.files.extend(extra.files)
    return data


class Retrainer:
    """Runs one training at a time per console; a request during a run schedules one more run."""

    def __init__(
        self,
        base_data_dir: Path,
        model_dir: Path,
        now: Callable[[], dt.datetime],
        backends: list[EmbeddedBackend] | None = None,
    ) -> None:
        self.base_data_dir = base_data_dir
        self.model_dir = model_dir
        self.now = now
        self.backends = backends if backends is not None else []
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
                for backend in self.backends:
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
        """Train on the shared and the city's data, save the model and point the city's bot at it."""
        data = training_data(self.base_data_dir, city_dir)
        model = train_model(data.examples)
        trained_at = self.now()
        self.model_dir.mkdir(parents=True, exist_ok=True)
        path = self.model_dir / f"console-{city}-{trained_at.strftime('%Y%m%dT%H%M%S%f')}.npz"
        model.save(path)
        pointer = {"model": path.name, "trained_at": trained_at.isoformat(), "examples": len(data.examples)}
        write_atomically(pointer_file(self.model_dir, city), json.dumps(pointer) + "\n")
        for old in sorted(self.model_dir.glob(f"console-{city}-*.npz"))[:-MODELS_KEPT]:
            old.unlink(missing_ok=True)
        return model, ModelInfo(trained_at, len(data.examples), path)


class ModelWatcher:
    """For a bot in another process: swaps in the city's newest console model when it changes.

    A console model older than the shared training data (edited by a developer since) is not
    used: it would undo their change. The console's next retraining includes both.
    """

    def __init__(self, model_dir: Path, city: str, backend: EmbeddedBackend, base_data_dir: Path) -> None:
        self.pointer = pointer_file(model_dir, city)
        self.model_dir = model_dir
        self.city = city
        self.backend = backend
        self.base_data_dir = base_data_dir
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
            info = current_model(self.model_dir, self.city)
            if info is None or info.trained_at.timestamp() < self._newest_base_data():
                logger.warning("The retrained %s model predates the training data; not using it", self.city)
                return False
            model = IntentModel.load(info.path)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("Could not load the retrained %s model (%s); keeping the current one", self.city, exc)
            return False
        self.backend.swap_model(model)
        logger.info("Swapped in the intent model trained at %s", info.trained_at.isoformat(timespec="seconds"))
        return True

    def _newest_base_data(self) -> float:
        files = [self.base_data_dir] if self.base_data_dir.is_file() else self.base_data_dir.rglob("*.yml")
        return max((file.stat().st_mtime for file in files), default=0.0)
