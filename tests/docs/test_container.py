"""docker/: the image and the compose stack, checked without pulling or building anything.

The build machines have no Docker engine and cannot pull images, so the stack is checked three
ways: `docker compose config` (the real Compose parser and interpolation) when a Compose v2 binary
is installed, a YAML-level check of what the stack must contain, and a check of the Dockerfile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshshift.migration import constants
from tests.docs.docs_text import cli_options

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
DOCKERFILE = DOCKER / "Dockerfile"
SETUP_SCRIPT = DOCKER / "temporal-setup.sh"

AWS_PASSTHROUGH = ("AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PWD$|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE", re.I)


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    found = compose()["services"][name]
    assert isinstance(found, dict)
    return found


def environment(name: str) -> dict[str, Any]:
    env = service(name).get("environment", {})
    assert isinstance(env, dict), f"{name}: environment is written as a mapping"
    return env


def options_of(command: str) -> set[str]:
    return cli_options()[command]


# --- docker compose config, for real when Compose v2 is installed ---------------------------------


def compose_command() -> list[str] | None:
    """`docker compose` (plugin) or a standalone `docker-compose` that is Compose v2."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        version = subprocess.run([standalone, "version"], capture_output=True, text=True)
        if version.returncode == 0 and re.search(r"v?2\.\d+", version.stdout):
            return [standalone]
    return None


def test_docker_compose_config_validates() -> None:
    command = compose_command()
    if command is None:
        pytest.skip(
            "no Docker Compose v2 here (neither `docker compose` nor a v2 `docker-compose` on PATH): "
            "`docker compose config` not run; the YAML-level checks below still ran"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MESHSHIFT_", "TEMPORAL_"))}
    env |= {"HOME": str(Path.home()), "MESHSHIFT_ALARM_TOPICS": "arn:aws:sns:us-east-1:123456789012:shop-alarms"}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--format", "yaml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) >= {"temporal", "postgresql", "temporal-ui", "worker", "alarm-bridge"}
    # AWS variables unset in the shell stay unset in the container (null), never an empty string.
    worker_env = rendered["services"]["worker"]["environment"]
    for name in AWS_PASSTHROUGH:
        assert worker_env.get(name) is None, f"{name} must pass through only when set"


def test_docker_compose_config_passes_aws_variables_through() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 here: pass-through checked at the YAML level only")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MESHSHIFT_", "TEMPORAL_"))}
    env |= {"HOME": str(Path.home()), "AWS_PROFILE": "prod-migrations", "AWS_REGION": "eu-west-1"}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--format", "yaml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    worker_env = yaml.safe_load(result.stdout)["services"]["worker"]["environment"]
    assert worker_env["AWS_PROFILE"] == "prod-migrations"
    assert worker_env["AWS_REGION"] == "eu-west-1"


# --- the compose file at the YAML level (always) ---------------------------------------------------


def test_compose_has_the_stack_the_issue_asks_for() -> None:
    services = set(compose()["services"])
    assert {"temporal", "postgresql", "temporal-ui", "worker", "alarm-bridge"} <= services
    assert "postgres" in str(environment("temporal").get("DB", "")), "Temporal is backed by PostgreSQL"


def test_no_credentials_are_written_into_the_compose_file() -> None:
    literal = []
    for name, svc in compose()["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_NAME.search(key) and value is not None and not str(value).startswith("${"):
                literal.append(f"{name}.{key}")
    assert not literal, f"secret-looking variables with a literal value: {literal}"
    text = COMPOSE.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text), "an AWS access key id is in the compose file"


def test_the_worker_gets_aws_from_the_environment_or_a_profile_mount() -> None:
    env = environment("worker")
    for name in AWS_PASSTHROUGH:
        assert name in env and env[name] is None, f"worker: {name} passes through from the shell (a name, no value)"
    mounts = service("worker").get("volumes", [])
    assert any(str(m).endswith("/home/meshshift/.aws:ro") for m in mounts), "~/.aws is mounted read-only"


def test_worker_and_bridge_commands_use_real_flags() -> None:
    for name, command in (("worker", "worker"), ("alarm-bridge", "alarm-bridge")):
        argv = service(name)["command"]
        assert argv[0] == command
        flags = [a for a in argv[1:] if a.startswith("--")]
        unknown = [f for f in flags if f not in options_of(command)]
        assert not unknown, f"{name}: `meshshift {command}` has no {unknown}"


def test_both_meshshift_services_reach_temporal_in_the_stack() -> None:
    for name in ("worker", "alarm-bridge"):
        env = environment(name)
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert "TEMPORAL_API_KEY" not in env
    assert environment("worker")["MESHSHIFT_TASK_QUEUE"] == constants.DEFAULT_TASK_QUEUE


def test_the_bridge_trusts_only_configured_topics_and_is_health_checked() -> None:
    env = environment("alarm-bridge")
    assert str(env["MESHSHIFT_ALARM_TOPICS"]).startswith("${MESHSHIFT_ALARM_TOPICS")
    port = service("alarm-bridge")["command"][service("alarm-bridge")["command"].index("--port") + 1]
    assert env["MESHSHIFT_HEALTH_URL"] == f"http://127.0.0.1:{port}/health"


def test_the_worker_healthcheck_reads_the_metrics_port_it_serves() -> None:
    argv = service("worker")["command"]
    port = argv[argv.index("--metrics-port") + 1]
    assert f"http://127.0.0.1:{port}/metrics" in DOCKERFILE.read_text()


def test_published_ports_are_loopback_only() -> None:
    for name, svc in compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_mounted_files_exist() -> None:
    for name, svc in compose()["services"].items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), f"{name} mounts {source}, which is not in docker/"


def test_the_setup_script_is_valid_shell_and_registers_the_search_attributes() -> None:
    sh = shutil.which("sh")
    assert sh
    result = subprocess.run([sh, "-n", str(SETUP_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    pairs = dict(re.findall(r"(Meshshift\w+):(\w+)", SETUP_SCRIPT.read_text()))
    assert pairs == {constants.SA_APP: "Keyword", constants.SA_PHASE: "Keyword", constants.SA_GREEN_WEIGHT: "Int"}


# --- the Dockerfile ---------------------------------------------------------------------------------


def final_stage() -> list[str]:
    lines = [line.strip() for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines()]
    starts = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert starts
    return [line for line in lines[starts[-1] :] if line and not line.startswith("#")]


def test_the_image_runs_as_a_non_root_user() -> None:
    users = [line.split()[1] for line in final_stage() if line.upper().startswith("USER ")]
    assert users, "the final stage sets USER"
    assert users[-1] not in ("root", "0", "0:0")


def test_the_image_has_a_healthcheck_and_runs_meshshift() -> None:
    stage = final_stage()
    assert any(line.upper().startswith("HEALTHCHECK ") and " CMD " in line for line in stage)
    assert 'ENTRYPOINT ["meshshift"]' in stage


def test_no_secret_looking_env_or_arg() -> None:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    names: list[str] = []
    for line in text.splitlines():
        words = line.strip().split()
        if words and words[0].upper() in ("ENV", "ARG"):
            names += [w.split("=", 1)[0] for w in words[1:]]
    assert names, "the Dockerfile sets some ENV"
    secret = [n for n in names if SECRET_NAME.search(n)]
    assert not secret, f"secret-looking ENV/ARG names: {secret}"


def test_the_image_installs_the_core_package_only() -> None:
    text = DOCKERFILE.read_text()
    installs = re.findall(r"pip install[^\n]*", text)
    assert installs, "the Dockerfile pip-installs the project"
    for line in installs:
        assert "[" not in line, f"extras ([sim], [dev]) do not belong in the image: {line}"
    copied = re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M)
    assert "tests" not in copied and "." not in copied, "only the package sources are copied"


def test_the_cli_runs_without_the_sim_and_dev_extras() -> None:
    """What the image has: the core install. moto and the test tools are absent there."""
    probe = (
        "import sys\n"
        "for name in ('moto', 'pytest', 'hypothesis', 'jsonschema', 'psutil', 'mypy_boto3_ecs'):\n"
        "    sys.modules[name] = None  # importing any of them now raises ImportError\n"
        "from typer.testing import CliRunner\n"
        "from meshshift.workers.cli import app\n"
        "for command in ('worker', 'alarm-bridge', 'start', 'status'):\n"
        "    result = CliRunner().invoke(app, [command, '--help'])\n"
        "    assert result.exit_code == 0, (command, result.output, result.exception)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr
