"""docker-compose.yml, Dockerfile and .dockerignore: checked statically (no Docker engine needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
RASA_IMAGE = "rasa/rasa:3.6.21-full"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"no service {name!r}"
    entry = services[name]
    assert isinstance(entry, dict)
    return entry


def volumes_of(name: str) -> dict[str, tuple[str, str]]:
    """``{target: (source, mode)}`` of a service's short-syntax volumes."""
    result = {}
    for spec in service(name).get("volumes", []):
        parts = spec.split(":")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        result[target] = (source, mode)
    return result


def environment_of(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command_of(name: str) -> list[str]:
    command = service(name)["command"]
    return command if isinstance(command, list) else command.split()


def test_services_and_images() -> None:
    assert set(compose()["services"]) == {"rasa-train", "rasa", "bot", "staff"}
    assert service("rasa-train")["image"] == RASA_IMAGE
    assert service("rasa")["image"] == RASA_IMAGE
    build = service("bot")["build"]
    assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_rasa_trains_the_mounted_project_config_and_serves_that_model() -> None:
    train = command_of("rasa-train")
    assert train[:2] == ["train", "nlu"]
    mounts = volumes_of("rasa-train")
    source, mode = mounts["/app/nlu"]
    assert source == "./nlu" and mode == "ro"
    config = train[train.index("--config") + 1]
    data = train[train.index("--nlu") + 1]
    for container_path in (config, data):
        assert container_path.startswith("/app/nlu/")
        assert (ROOT / "nlu" / container_path.removeprefix("/app/nlu/")).exists(), container_path
    out = train[train.index("--out") + 1]
    model_volume = mounts[out][0]
    assert model_volume in compose()["volumes"], "models must live in a named volume"
    name = train[train.index("--fixed-model-name") + 1]

    serve = command_of("rasa")
    assert serve[0] == "run" and "--enable-api" in serve
    assert serve[serve.index("--model") + 1] == f"{out}/{name}.tar.gz"
    assert volumes_of("rasa")[out] == (model_volume, "ro")


def test_rasa_port_is_not_published_beyond_localhost() -> None:
    for port in service("rasa").get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port


def test_telemetry_off_for_rasa() -> None:
    for name in ("rasa-train", "rasa"):
        assert environment_of(name)["RASA_TELEMETRY_ENABLED"] == "false"


def test_healthchecks() -> None:
    for name in ("rasa", "bot"):
        check = service(name)["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1
        assert {"interval", "timeout", "retries"} <= set(check)
    assert any("5005/status" in part for part in service("rasa")["healthcheck"]["test"])


def test_start_order() -> None:
    assert service("rasa")["depends_on"]["rasa-train"]["condition"] == ("service_completed_successfully")
    assert service("bot")["depends_on"]["rasa"]["condition"] == "service_healthy"


def test_restart_policies() -> None:
    assert service("rasa")["restart"] in {"always", "unless-stopped"}
    assert service("bot")["restart"] in {"always", "unless-stopped"}
    assert service("rasa-train").get("restart", "no") in {"no", "on-failure"}


def test_bot_settings_and_volumes() -> None:
    env = environment_of("bot")
    assert env["NLU_BACKEND"] == "rasa"
    assert env["RASA_URL"] == "http://rasa:5005"
    assert env["STATE_DB_PATH"] == "/data/state.sqlite3"
    assert service("bot")["env_file"] in (".env", [".env"])
    mounts = volumes_of("bot")
    assert mounts["/app/responses"] == ("./responses", "ro")
    assert mounts["/data"][0] in compose()["volumes"]


def test_staff_console_edits_the_answers_and_shares_the_bots_data_volume() -> None:
    env = environment_of("staff")
    assert command_of("staff") == ["newcomer-bot", "staff"]
    assert service("staff")["image"] == service("bot")["image"]
    assert env["STAFF_DB_PATH"] == environment_of("bot")["STAFF_DB_PATH"]
    assert env["STAFF_USERS_FILE"].startswith("/data/")  # never inside the answers
    mounts = volumes_of("staff")
    assert mounts["/app/responses"] == ("./responses", "rw")
    assert mounts["/data"][0] == volumes_of("bot")["/data"][0]
    for port in service("staff")["ports"]:
        assert str(port).startswith("127.0.0.1:"), port


def test_every_referenced_file_exists() -> None:
    missing = []
    for name in compose()["services"]:
        for source, _mode in volumes_of(name).values():
            if source.startswith((".", "/")) and not (ROOT / source).exists():
                missing.append(f"{name}: {source}")
    for required in ("Dockerfile", ".dockerignore", ".env.example", "nlu", "responses"):
        if not (ROOT / required).exists():
            missing.append(required)
    assert missing == []


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_base_user_and_command() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(k == "RUN" and re.search(r"pip install \.(\s|$)", r) for k, r in instructions)
    assert any(k == "HEALTHCHECK" for k, _ in instructions)
    assert instructions[-1] == ("CMD", '["newcomer-bot", "run"]')


def test_dockerfile_copies_only_existing_paths() -> None:
    missing = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                if not source.startswith("--") and not (ROOT / source).exists():
                    missing.append(source)
    assert missing == []


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", ".venv-rasa", "var"} <= ignored
    for needed in ("bot", "nlu", "responses", "pyproject.toml"):
        assert needed not in ignored


def test_compose_cli_accepts_the_file(tmp_path: Path) -> None:
    """``docker-compose config`` (when installed) parses the file; no engine needed."""
    cli = shutil.which("docker-compose")
    if cli is None:
        pytest.skip("docker-compose is not installed")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    for name in ("nlu", "responses", "Dockerfile"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=\n", encoding="utf-8")
    done = subprocess.run([cli, "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
