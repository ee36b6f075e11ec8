"""Dockerfile and compose.yaml. There is no Docker engine in CI: compose.yaml is checked by
`docker compose config` when the plugin exists, else by Debian's docker-compose, which
validates it against the Compose specification's JSON schema it ships; then structurally."""

import shutil
import subprocess

import pytest
import yaml

from chatorical.testing import ROOT

COMPOSE_FILE = ROOT / "compose.yaml"
REQUIRED_SECRETS = (
    "POSTGRES_PASSWORD",
    "DJANGO_SECRET_KEY",
    "CONVERSATION_JWT_SECRET",
    "SERVICE_TOKEN",
    "CHANNEL_CONFIG_KEYS",
    "ALLOWED_HOSTS",
    "WIDGET_ALLOWED_ORIGINS",
)


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor docker-compose: `apt-get install -y docker-compose` (.ci/run does it)")


def compose_config(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid():
    result = compose_config({name: "x" for name in REQUIRED_SECRETS})
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_its_secrets():
    result = compose_config({})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def test_compose_runs_two_web_a_worker_one_beat_and_nginx_on_postgres_and_redis():
    found = services()
    assert set(found) == {"postgres", "redis", "migrate", "web1", "web2", "worker", "beat", "nginx"}
    assert "deploy" not in found["beat"] and "scale" not in found["beat"]
    for name in ("web1", "web2", "worker", "beat"):
        assert found[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert found[name]["environment"]["DJANGO_ENV"] == "prod"
        assert found[name]["environment"]["DATABASE_URL"].endswith("/support_chat_prod")
    for name in ("web1", "web2"):
        assert "/ready" in " ".join(found[name]["healthcheck"]["test"])
    assert found["nginx"]["depends_on"] == {
        "web1": {"condition": "service_healthy"},
        "web2": {"condition": "service_healthy"},
    }


def test_nginx_in_compose_uses_the_repos_config_and_lists_both_web_services():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY deploy/nginx/chatorical.conf /etc/nginx/conf.d/default.conf" in dockerfile
    upstreams = (ROOT / "deploy/docker/nginx-upstreams.conf").read_text()
    assert "server web1:8000" in upstreams and "server web2:8000" in upstreams


def test_the_app_image_runs_as_a_non_root_user_after_a_widget_build_stage():
    stages = {}
    current = None
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            current = line.split()[-1]
            stages[current] = []
        elif current:
            stages[current].append(line)
    assert list(stages) == ["widget", "build", "app", "nginx"]
    assert any("node --test" in line for line in stages["widget"])
    assert any(line.startswith("COPY --from=widget") for line in stages["build"])
    assert "USER chatorical" in stages["app"]
    assert any("slim" in line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.endswith(" AS app"))
