"""``newcomer-bot``: run the bot, chat in the terminal, parse, train, evaluate and check content."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_ROOT, Settings, SettingsError

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(env_file=Path(args.env_file))
    except SettingsError as exc:
        print(f"newcomer-bot: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level if args.command == "run" else "WARNING")
    try:
        result: int = args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newcomer-bot", description=__doc__)
    parser.add_argument("--env-file", default=str(PROJECT_ROOT / ".env"), help="settings file (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the Telegram bot, or the terminal chat without a token")
    run.set_defaults(handler=_run)

    chat = commands.add_parser("chat", help="chat in the terminal (one message per line when piped)")
    chat.add_argument("--lang", help="language to start in (fr, nl, en, ar, ...)")
    chat.set_defaults(handler=_chat)

    parse = commands.add_parser("parse", help="print the parse result of TEXT as JSON")
    parse.add_argument("text")
    parse.set_defaults(handler=_parse)

    train = commands.add_parser("train", help="train the embedded intent model")
    train.add_argument("--data", type=Path, help="Rasa NLU YAML file or folder (default: nlu/data)")
    train.add_argument("--out", type=Path, help="model file to write (default: the model cache)")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", help="train on TRAIN, report accuracy on TEST")
    evaluate.add_argument("--data", type=Path, required=True, help="training data (file or folder)")
    evaluate.add_argument("--test", type=Path, required=True, help="test data (file or folder)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=_eval)

    check = commands.add_parser("check", help="validate training data, answers and UI catalogs")
    check.add_argument("--heldout", type=Path, default=PROJECT_ROOT / "nlu" / "heldout")
    check.set_defaults(handler=_check)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.telegram_bot_token:
        from bot.channels.telegram.app import run_telegram

        run_telegram(settings)
        return 0
    print(
        "TELEGRAM_BOT_TOKEN is not set: starting the terminal chat (same answers as on Telegram).\n"
        "Type a question, a button number, /menu, /language or /quit.",
        file=sys.stderr,
    )
    return _chat(argparse.Namespace(lang=None), settings)


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.terminal import run_chat
    from bot.services import create_services

    async def session() -> None:
        services = await create_services(settings, state_db=":memory:")
        try:
            if args.lang and args.lang not in services.catalogue.languages:
                languages = ", ".join(services.catalogue.languages)
                raise SystemExit(f"newcomer-bot: unknown language {args.lang!r} (one of {languages})")
            await run_chat(services, args.lang)
        finally:
            await services.close()

    asyncio.run(session())
    return 0


def _parse(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import create_services

    async def parse() -> None:
        services = await create_services(settings, state_db=":memory:")
        try:
            result = await services.nlu.parse(args.text)
            if result.get("language") is None:
                result["language"] = services.detector.detect(args.text).language
            print(json.dumps(result, ensure_ascii=False, indent=2))
        finally:
            await services.close()

    asyncio.run(parse())
    return 0


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.embedded import load_or_train
    from nlu.loading import DataError, load_training_data
    from nlu.training import train_model

    data_path = args.data or settings.nlu_data_dir
    started = time.perf_counter()
    try:
        if args.out:
            data = load_training_data(data_path)
            model = train_model(data.examples)
            model.save(args.out)
            destination = str(args.out)
        else:
            model, data = load_or_train(data_path, settings.model_cache_dir)
            destination = str(settings.model_cache_dir)
    except DataError as exc:
        print(f"newcomer-bot: {exc}", file=sys.stderr)
        return 1
    for note in data.unused_by_embedded_model():
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{len(data.examples)} examples, {len(model.intents)} intents, {model.featurizer.size} features; "
        f"{time.perf_counter() - started:.1f} s; model in {destination}"
    )
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.embedded import EmbeddedBackend, load_fallback_config
    from nlu.evaluation import evaluate
    from nlu.loading import DataError, load_training_data
    from nlu.training import train_model
    from nlu.types import FALLBACK_INTENT

    try:
        train = load_training_data(args.data)
        test = load_training_data(args.test)
    except DataError as exc:
        print(f"newcomer-bot: {exc}", file=sys.stderr)
        return 1
    unknown = sorted(set(test.intents) - set(train.intents))
    if unknown:
        print(f"newcomer-bot: the test data has intents the training data lacks: {', '.join(unknown)}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    model = train_model(train.examples)
    training_seconds = time.perf_counter() - started
    fallback = load_fallback_config(settings.nlu_config)
    backend = EmbeddedBackend(model, fallback)

    def predict(text: str) -> tuple[str, bool]:
        parse = backend.parse_sync(text)
        fell_back = parse["intent"]["name"] == FALLBACK_INTENT
        return parse["intent_ranking"][1 if fell_back else 0]["name"], fell_back

    report = evaluate(test.examples, predict, fallback.out_of_scope_intents)
    report.extra["training_seconds"] = round(training_seconds, 2)
    report.extra["train_examples"] = len(train.examples)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0
    _print_report(report.to_json())
    print(f"training: {training_seconds:.1f} s")
    return 0


def _print_report(report: dict[str, Any]) -> None:
    """The ``eval`` figures as text: in-scope and out-of-scope sides, per language, worst intents."""

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    print(
        f"examples: {report['n']} ({report['n_in_scope']} in scope, {report['n_out_of_scope']} out of scope)   "
        f"macro-F1: {report['macro_f1']:.4f}"
    )
    print(
        f"in scope: accuracy {rate(report['accuracy'])}   fallback rate {rate(report['in_scope_fallback_rate'])}   "
        f"rejected (fallback or out-of-scope kind) {rate(report['in_scope_rejection_rate'])}"
    )
    print(f"out of scope: false-accept rate {rate(report['oos_false_accept_rate'])}")
    print("per language:      accuracy  fallback  false-accept")
    for language, figures in report["per_language"].items():
        print(
            f"  {language:<4} {rate(figures['accuracy']):>15} {rate(figures['in_scope_fallback_rate']):>9} "
            f"{rate(figures['oos_false_accept_rate']):>13}  (n={figures['n_in_scope']}+{figures['n_out_of_scope']})"
        )
    print("worst intents (F1):")
    for intent, f1 in report["worst_intents"]:
        print(f"  {intent:<24} {f1:.4f}")
    print("most confused (true -> predicted: count):")
    for true, predicted, count in report["confusions"]:
        print(f"  {true} -> {predicted}: {count}")


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.catalogue import load_catalogue
    from bot.checks import run_checks
    from bot.content import ContentStore

    catalogue = load_catalogue(settings.catalogue_path)
    content = ContentStore(settings.city_content_dir, catalogue)
    result = run_checks(catalogue, content, settings.nlu_data_dir, args.heldout)
    print(f"Answers in {settings.city_content_dir} (R reviewed, d draft, - missing):")
    print("\n".join(result.table))
    for warning in result.warnings:
        print(f"warning: {warning}")
    for error in result.errors:
        print(f"error: {error}")
    print(f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
