"""The console script, run as a user would: scripted chats, parse, eval, train and check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from tests.conftest import CONTENT_DIR

TOKENISH = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def run_cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NLU_", "CONTENT_"))}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--env-file", "/nonexistent", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )


def answer_text(language: str, intent: str) -> str:
    import yaml

    for path in (CONTENT_DIR / "brussels" / language).glob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if intent in data:
            return str(data[intent]["text"]).strip().splitlines()[0].replace("**", "")
    raise AssertionError(f"no {language}/{intent}")


@pytest.mark.parametrize(
    ("language", "lines", "intents"),
    [
        (
            "fr",
            ["bonjour", "je cherche un logement", "mon mari me frappe"],
            ["greet", "find_housing", "domestic_violence"],
        ),
        (
            "nl",
            ["hallo", "ik zoek een nederlandse les", "ik heb geen papieren en ik ben ziek"],
            ["greet", "dutch_course", "urgent_medical_aid"],
        ),
        ("en", ["hi", "how do I open a bank account", "thank you"], ["greet", "bank_account", "thanks"]),
        ("ar", ["السلام عليكم", "أبحث عن عمل", "bghit nt3allam lfransawiya"], ["greet", "find_job", "french_course"]),
    ],
)
def test_scripted_chat_answers_in_the_chosen_language(language: str, lines: list[str], intents: list[str]) -> None:
    result = run_cli("chat", "--lang", language, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    for intent in intents:
        assert answer_text(language, intent).strip("\u200f ")[:30] in result.stdout, intent
    assert "lorp" not in result.stderr  # nothing from the conversation leaks into logs


def test_chat_buttons_by_number_and_bad_input() -> None:
    result = run_cli("chat", "--lang", "en", stdin="/menu\n3\n\x00\x01\n" + "x" * 10_000 + "\n😀\n")
    assert result.returncode == 0, result.stderr
    assert "Find a home" in result.stdout or "housing" in result.stdout.lower()
    assert result.stdout.count("Talk to a person") >= 3


def test_run_without_token_starts_the_terminal_chat() -> None:
    result = run_cli("run", stdin="hello\n")
    assert result.returncode == 0
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    assert answer_text("fr", "greet")[:20] in result.stdout or answer_text("en", "greet")[:20] in result.stdout


def test_parse_prints_rasa_shape() -> None:
    result = run_cli("parse", "je cherche un cours de néerlandais")
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["intent"]["name"] == "dutch_course"
    assert parsed["language"] == "fr"
    assert {"text", "intent", "intent_ranking", "entities"} <= set(parsed)


def small_set(folder: Path, extra_intent: str | None = None) -> Path:
    folder.mkdir(parents=True)
    body = ['version: "3.1"', "nlu:"]
    items = {"greet": ["hello", "hi", "good morning", "hey there"], "goodbye": ["bye", "see you", "good night", "ciao"]}
    if extra_intent:
        items[extra_intent] = ["what", "is this"]
    for intent, texts in items.items():
        body.append(f"- intent: {intent}\n  examples: |\n" + "\n".join(f"    - {t}" for t in texts))
    (folder / "nlu.yml").write_text("\n".join(body) + "\n")
    return folder


def test_eval_json_and_unknown_test_intents(tmp_path: Path) -> None:
    train = small_set(tmp_path / "train")
    result = run_cli("eval", "--data", str(train), "--test", str(train), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 8 and 0.0 <= report["accuracy"] <= 1.0 and "macro_f1" in report
    assert report["n_out_of_scope"] == 0 and report["oos_false_accept_rate"] is None  # no out_of_scope example
    assert 0.0 <= report["in_scope_fallback_rate"] <= 1.0


def test_eval_reports_out_of_scope_false_accepts_per_language(tmp_path: Path) -> None:
    train = small_set(tmp_path / "train", extra_intent="out_of_scope")
    result = run_cli("eval", "--data", str(train), "--test", str(train), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["n_in_scope"], report["n_out_of_scope"]) == (8, 2)
    assert 0.0 <= report["oos_false_accept_rate"] <= 1.0
    assert set(report["per_language"]["?"]) >= {"accuracy", "oos_false_accept_rate", "in_scope_fallback_rate"}
    test = small_set(tmp_path / "test", extra_intent="mystery")
    refused = run_cli("eval", "--data", str(train), "--test", str(test), "--json")
    assert refused.returncode == 1 and "mystery" in refused.stderr


def test_train_writes_a_model_file(tmp_path: Path) -> None:
    out = tmp_path / "model.npz"
    result = run_cli("train", "--data", str(small_set(tmp_path / "d")), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "2 intents" in result.stdout


def test_check_passes_on_clean_cities_and_fails_on_a_hand_written_number(cities_dir: Path) -> None:
    result = run_cli("check", env={"CONTENT_DIR": str(cities_dir)})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Riverton (" in result.stdout and "Hilltown (" in result.stdout  # every city, one table each
    assert "(40 intents x 3 languages)" in result.stdout and "(39 intents x 2 languages)" in result.stdout
    dutch = next(line for line in result.stdout.splitlines() if line.startswith("dutch_course") and " x " in line)
    assert dutch.split()[1:4] == ["x", "x", "x"]  # disabled in Riverton
    permit = next(line for line in result.stdout.splitlines() if line.startswith("residence_permit"))
    assert len(permit.split()[-1]) == 8  # the original's version
    answers = cities_dir / "riverton" / "en" / "answers.yml"
    text = answers.read_text(encoding="utf-8")
    line = text[: text.index("Answer about legal_aid.")].count("\n") + 1
    answers.write_text(text.replace("Answer about legal_aid.", "Call 00800 1111 2222 now."), encoding="utf-8")
    (cities_dir / "hilltown" / "fr" / "answers.yml").unlink()
    failed = run_cli("check", env={"CONTENT_DIR": str(cities_dir)})
    assert failed.returncode == 1
    assert f"{answers}:{line}: error: legal_aid: phone number written by hand" in failed.stdout
    assert "write {{doc_line}} instead" in failed.stdout
    assert "answers missing in a core language" in failed.stdout and "fr/greet" in failed.stdout
    only_hilltown = run_cli("check", "--city", "hilltown", env={"CONTENT_DIR": str(cities_dir)})
    assert "doc_line" not in only_hilltown.stdout and "Riverton" not in only_hilltown.stdout


def test_show_prints_an_answer_as_the_chat_does(cities_dir: Path) -> None:
    env = {"CONTENT_DIR": str(cities_dir), "MODEL_CACHE_DIR": str(PROJECT_ROOT / "var" / "models")}
    result = run_cli("show", "residence_permit", "--lang", "en", "--city", "riverton", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Lost card: block it with 00800 1111 2222 (free, 24/7)."
    assert "Deadline: 8 days." in lines
    assert "  [Welcome: https://example.org/welcome]" in lines  # link button
    assert any("[1]" in line for line in lines)  # numbered buttons, as in the chat
    every = run_cli("show", "--all", "--lang", "fr", "--city", "hilltown", env=env)
    assert every.returncode == 0 and every.stdout.count("===== ") == 39
    unknown = run_cli("show", "no_such_intent", "--city", "hilltown", env=env)
    assert unknown.returncode == 2 and "not an intent of hilltown" in unknown.stderr


def test_chat_and_train_for_one_city(cities_dir: Path, tmp_path: Path) -> None:
    env = {"CONTENT_DIR": str(cities_dir), "MODEL_CACHE_DIR": str(PROJECT_ROOT / "var" / "models")}
    lines = "bonjour\nje veux apprendre le néerlandais\nje n'ai pas d'adresse pour recevoir mon courrier\n"
    result = run_cli("chat", "--city", "riverton", "--lang", "fr", stdin=lines, env=env)
    assert result.returncode == 0, result.stderr
    assert "Ceci ne s'applique pas à Riverton-sur-Loire." in result.stdout
    assert "Une adresse administrative gratuite au centre social." in result.stdout  # the city's own intent
    trained = run_cli("train", "--city", "riverton", "--out", str(tmp_path / "m.npz"), env=env)
    assert trained.returncode == 0 and "42 intents" in trained.stdout  # 41 shared + 1 of the city
    unknown = run_cli("chat", "--city", "atlantis", env=env)
    assert unknown.returncode == 2 and "no city folder" in unknown.stderr


def test_stamp_writes_versions_into_translations(cities_dir: Path) -> None:
    result = run_cli("stamp", "--city", "riverton", env={"CONTENT_DIR": str(cities_dir)})
    assert result.returncode == 0, result.stderr
    assert "en/answers.yml: translated_from written for" in result.stdout
    assert "translated_from:" in (cities_dir / "riverton" / "ar" / "answers.yml").read_text(encoding="utf-8")
    assert "translated_from:" not in (cities_dir / "riverton" / "fr" / "answers.yml").read_text(encoding="utf-8")
    again = run_cli("stamp", "--city", "riverton", env={"CONTENT_DIR": str(cities_dir)})
    assert again.stdout == ""


def test_token_is_never_printed(tmp_path: Path) -> None:
    result = run_cli("check", env={"TELEGRAM_BOT_TOKEN": TOKENISH})
    assert TOKENISH not in result.stdout + result.stderr


def test_breaking_a_file_while_chatting_keeps_the_last_good_answer(tmp_path: Path) -> None:
    content = tmp_path / "responses"
    shutil.copytree(CONTENT_DIR, content)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NLU_", "CONTENT_"))}
    environ["CONTENT_DIR"] = str(content)
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--env-file", "/nonexistent", "chat", "--lang", "en"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
        cwd=PROJECT_ROOT,
    )
    assert chat.stdin is not None and chat.stdout is not None
    chat.stdin.write("I need a rental deposit\n")
    chat.stdin.flush()
    first_answer = answer_text("en", "rental_deposit")[:30]
    seen = ""
    while first_answer not in seen:  # the first reply arrives once the model is loaded
        line = chat.stdout.readline()
        assert line, "chat ended early"
        seen += line
    housing = content / "brussels" / "en" / "housing.yml"
    housing.write_text(housing.read_text(encoding="utf-8").replace("text: |", "text: [", 1), encoding="utf-8")
    out, err = chat.communicate("I need a rental deposit\n", timeout=60)
    assert chat.returncode == 0
    assert first_answer in out  # still answered, from the last good version
    assert f"{housing}:" in err and "YAML syntax error" in err
