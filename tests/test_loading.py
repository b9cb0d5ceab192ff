"""The Rasa-format loader: examples, languages, reported extras, errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalogue import Catalogue
from nlu.loading import DataError, load_training_data

GOOD = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - bonjour
    - salut [Marie](name) ça va
- intent: find_housing
  examples:
    - je cherche un appartement
    - text: un kot pas cher
      metadata: {source: staff}
- synonym: CPAS
  examples: |
    - OCMW
- regex: phone
  examples: |
    - \\d{10}
- lookup: commune
  examples: |
    - Ixelles
    - Schaerbeek
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_examples_with_language_from_folder_and_reports_extras(tmp_path: Path) -> None:
    write(tmp_path / "fr" / "base.yml", GOOD)
    data = load_training_data(tmp_path)
    assert [(e.intent, e.text, e.language) for e in data.examples] == [
        ("greet", "bonjour", "fr"),
        ("greet", "salut Marie ça va", "fr"),
        ("find_housing", "je cherche un appartement", "fr"),
        ("find_housing", "un kot pas cher", "fr"),
    ]
    assert data.examples[1].source == f"{tmp_path / 'fr' / 'base.yml'}:6"
    assert data.synonyms == {"CPAS": ["OCMW"]}
    assert data.regexes == {"phone": ["\\d{10}"]}
    assert data.lookups == {"commune": ["Ixelles", "Schaerbeek"]}
    notes = " ".join(data.unused_by_embedded_model())
    for word in ("synonym", "regex", "lookup", "entity annotation"):
        assert word in notes


def test_language_from_file_name_for_external_benchmarks(tmp_path: Path) -> None:
    file = write(tmp_path / "massive_nl-NL_test.yml", 'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - hoi\n')
    assert load_training_data(file).examples[0].language == "nl"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - ok\n   - bad: [\n', 6, "YAML syntax error"),
        (
            'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - ok\n    oops no dash\n',
            6,
            "must start with '- '",
        ),
        ('version: "3.1"\nnlu:\n- intent: greet\n', 3, "has no 'examples'"),
        ('version: "3.1"\nnlu:\n- examples: |\n    - hi\n', 3, "exactly one of"),
        ('version: "2.0"\nnlu: []\n', 1, "unsupported version"),
        ("- just a list\n", 1, "expected a mapping"),
    ],
)
def test_malformed_files_name_file_line_and_reason(tmp_path: Path, text: str, line: int, reason: str) -> None:
    file = write(tmp_path / "en" / "broken.yml", text)
    with pytest.raises(DataError) as raised:
        load_training_data(tmp_path)
    assert raised.value.path == file
    assert raised.value.line == line
    assert reason in raised.value.reason
    assert str(raised.value).startswith(f"{file}:{line}: ")


def test_conflicting_texts_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "en" / "a.yml", 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - Hello\n')
    write(tmp_path / "en" / "b.yml", 'version: "3.1"\nnlu:\n- intent: thanks\n  examples: |\n    - hello \n')
    conflicts = load_training_data(tmp_path).conflicts()
    assert len(conflicts) == 1 and "greet" in conflicts[0]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no \.yml"):
        load_training_data(tmp_path)


def test_project_data_covers_the_catalogue_in_every_language(catalogue: Catalogue) -> None:
    from tests.conftest import DATA_DIR

    data = load_training_data(DATA_DIR)
    found = {(e.language, e.intent) for e in data.examples}
    missing = [(lang, i) for lang in catalogue.languages for i in catalogue.intents if (lang, i) not in found]
    assert missing == []
    assert set(data.intents) == set(catalogue.intents)
    assert data.conflicts() == []


def test_no_dev_or_test_message_is_training_data(catalogue: Catalogue) -> None:
    from bot.checks import NEVER_TRAINED_SPLITS, run_checks
    from bot.settings import PROJECT_ROOT
    from tests.conftest import DATA_DIR

    splits = [PROJECT_ROOT / "nlu" / split for split in NEVER_TRAINED_SPLITS]
    assert all(split.is_dir() for split in splits)
    assert run_checks(catalogue, [], DATA_DIR, splits).errors == []


def test_a_dev_message_that_is_training_data_is_an_error(catalogue: Catalogue, tmp_path: Path) -> None:
    from bot.checks import run_checks
    from tests.conftest import DATA_DIR

    training = next(e for e in load_training_data(DATA_DIR).examples if e.language == "nl")
    split = tmp_path / "dev"
    split.mkdir()
    (split / "nl.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: {training.intent}\n  examples: |\n    - {training.text.upper()}  \n',
        encoding="utf-8",
    )
    errors = run_checks(catalogue, [], DATA_DIR, [split]).errors
    assert len(errors) == 1 and "nl.yml" in errors[0] and "also training data" in errors[0]
