"""``newcomer-bot``: run the bot, chat in the terminal, parse, train, evaluate and check content."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import PROJECT_ROOT, Settings, SettingsError, city_folders

if TYPE_CHECKING:
    from bot.content import ContentStore

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
    if getattr(args, "city", None):
        if not settings.city_dir(args.city).is_dir():
            print(f"newcomer-bot: no city folder {settings.city_dir(args.city)}", file=sys.stderr)
            return 2
        settings = (
            settings.for_city(args.city)
            if args.command != "run"
            else replace(settings, city=args.city, cities=(args.city,))
        )
    _configure_logging(settings.log_level if args.command in {"run", "staff"} else "WARNING")
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

    city_help = "city folder under responses/ (default: the CITY setting)"
    run = commands.add_parser("run", help="start the Telegram bot(s), or the terminal chat without a token")
    run.add_argument("--city", help=city_help + "; without it, every city of CITIES")
    run.set_defaults(handler=_run)

    chat = commands.add_parser("chat", help="chat in the terminal (one message per line when piped)")
    chat.add_argument("--lang", help="language to start in (fr, nl, en, ar, ...)")
    chat.add_argument("--staff", action="store_true", help="also play the counsellor of the live hand-off (demo)")
    chat.add_argument("--city", help=city_help)
    chat.set_defaults(handler=_chat)

    show = commands.add_parser("show", help="print an answer exactly as the terminal chat shows it")
    show.add_argument("intent", nargs="?", help="the intent to show")
    show.add_argument("--all", action="store_true", help="every answer of the city")
    show.add_argument("--lang", help="language (default: the city's default language)")
    show.add_argument("--city", help=city_help)
    show.set_defaults(handler=_show)

    parse = commands.add_parser("parse", help="print the parse result of TEXT as JSON")
    parse.add_argument("text")
    parse.add_argument("--city", help=city_help)
    parse.set_defaults(handler=_parse)

    train = commands.add_parser("train", help="train the embedded intent model of a city")
    train.add_argument("--data", type=Path, help="Rasa NLU YAML file or folder (default: nlu/data)")
    train.add_argument("--out", type=Path, help="model file to write (default: the model cache)")
    train.add_argument("--city", help=city_help + "; its nlu/ examples are added")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", help="train on TRAIN, report accuracy on TEST")
    evaluate.add_argument("--data", type=Path, required=True, help="training data (file or folder)")
    evaluate.add_argument("--test", type=Path, required=True, help="test data (file or folder)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--city", help=city_help + "; its nlu/ examples are added to the training data")
    evaluate.set_defaults(handler=_eval)

    check = commands.add_parser("check", help="validate training data, every city's facts and answers, UI catalogs")
    check.add_argument(
        "--unseen",
        type=Path,
        action="append",
        help="a dev or test split that must share no message with the training data (repeatable; "
        "default: nlu/heldout, nlu/dev and nlu/blind)",
    )
    check.add_argument("--city", help="check only this city (default: every city under responses/)")
    check.set_defaults(handler=_check)

    from bot.staff_console.commands import add_commands

    add_commands(commands)

    stamp = commands.add_parser("stamp", help="record the original's version in translations that lack it")
    stamp.add_argument("--city", help="only this city (default: every city under responses/)")
    stamp.set_defaults(handler=_stamp)
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
    missing = [city for city in settings.cities if not settings.token_for(city)]
    if not missing:
        from bot.channels.telegram.app import run_telegram

        run_telegram(settings if len(settings.cities) > 1 else settings.for_city(settings.cities[0]))
        return 0
    if len(settings.cities) > 1:
        print(f"newcomer-bot: no Telegram token for {', '.join(missing)}", file=sys.stderr)
        return 2
    print(
        "TELEGRAM_BOT_TOKEN is not set: starting the terminal chat (same answers as on Telegram).\n"
        "Type a question, a button number, /menu, /language or /quit.\n"
        "Counsellor demo: /counsellor asks for one; then a line starting with @ is the counsellor's reply.",
        file=sys.stderr,
    )
    return _chat(argparse.Namespace(lang=None, staff=True), settings.for_city(settings.cities[0]))


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.terminal import run_chat
    from bot.services import create_services

    async def session() -> None:
        services = await create_services(settings, state_db=":memory:")
        try:
            if args.lang and args.lang not in services.catalogue.languages:
                languages = ", ".join(services.catalogue.languages)
                raise SystemExit(f"newcomer-bot: unknown language {args.lang!r} (one of {languages})")
            await run_chat(services, args.lang, staff=args.staff)
        finally:
            await services.close()

    asyncio.run(session())
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from bot import messages as m
    from bot.channels.terminal import TerminalChat
    from bot.services import create_services

    if bool(args.intent) == bool(args.all):
        print("newcomer-bot: give an INTENT or --all", file=sys.stderr)
        return 2

    async def show() -> int:
        services = await create_services(settings, state_db=":memory:")
        try:
            content = services.content
            language = args.lang or content.city.default_language
            if language not in services.catalogue.languages:
                print(f"newcomer-bot: unknown language {language!r}", file=sys.stderr)
                return 2
            intents = content.answered_intents if args.all else (args.intent,)
            unknown = [intent for intent in intents if intent not in content.intents]
            if unknown:
                print(f"newcomer-bot: {unknown[0]!r} is not an intent of {content.city_dir.name}", file=sys.stderr)
                return 2
            chat = TerminalChat(services)
            chat.state.language = language
            for intent in intents:
                if args.all:
                    print(f"===== {intent} ({language})")
                # The same path as pressing the intent's button in the chat: the same renderer.
                chat.show(services.core.handle_action(chat.state, m.intent_action(intent)))
            return 0
        finally:
            await services.close()

    return asyncio.run(show())


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
    from bot.content import CITY_NLU_FOLDER
    from nlu.embedded import load_city_training_data, load_or_train
    from nlu.loading import DataError
    from nlu.training import train_model

    data_path = args.data or settings.nlu_data_dir
    city_nlu = settings.city_content_dir / CITY_NLU_FOLDER
    started = time.perf_counter()
    try:
        if args.out:
            data = load_city_training_data(data_path, city_nlu)
            model = train_model(data.examples)
            model.save(args.out)
            destination = str(args.out)
        else:
            model, data = load_or_train(data_path, settings.model_cache_dir, city_nlu_dir=city_nlu)
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
    from bot.content import CITY_NLU_FOLDER
    from nlu.embedded import EmbeddedBackend, load_city_training_data, load_fallback_config
    from nlu.evaluation import evaluate, parse_prediction
    from nlu.loading import DataError, load_training_data
    from nlu.training import train_model

    try:
        city_nlu = settings.city_content_dir / CITY_NLU_FOLDER if args.city else None
        train = load_city_training_data(args.data, city_nlu)
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
    report = evaluate(
        test.examples, lambda text: parse_prediction(backend.parse_sync(text)), fallback.out_of_scope_intents
    )
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


def _city_stores(args: argparse.Namespace, settings: Settings) -> list[ContentStore]:
    from bot.catalogue import load_catalogue
    from bot.content import ContentStore

    catalogue = load_catalogue(settings.catalogue_path)
    folders = [settings.city_dir(args.city)] if args.city else city_folders(settings.content_dir)
    return [ContentStore(folder, catalogue, settings.fact_max_age_days) for folder in folders]


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.catalogue import load_catalogue
    from bot.checks import NEVER_TRAINED_SPLITS, run_checks

    catalogue = load_catalogue(settings.catalogue_path)
    unseen = args.unseen or [PROJECT_ROOT / "nlu" / split for split in NEVER_TRAINED_SPLITS]
    result = run_checks(catalogue, _city_stores(args, settings), settings.nlu_data_dir, unseen)
    print("Answers per city (R reviewed, d draft, s stale: served as draft, - missing, x disabled here):\n")
    print("\n".join(result.table))
    for warning in result.warnings:
        print(f"warning: {warning}")
    for error in result.errors:
        print(f"error: {error}")
    print(f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)")
    return 0 if result.ok else 1


def _stamp(args: argparse.Namespace, settings: Settings) -> int:
    from bot.stamp import stamp_translations

    for store in _city_stores(args, settings):
        store.reload()
        for path, intents in stamp_translations(store).items():
            print(f"{path}: translated_from written for {', '.join(intents)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
