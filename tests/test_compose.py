"""The container deployment (docker-compose.yml, Dockerfile) matches the code it runs."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import URL, make_url

from merchant.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

SERVICES = ("postgres", "migrate", "api", "worker")
MERCHANT_SERVICES = ("migrate", "api", "worker")
PREFIX = "MERCHANT_"

# Stand-ins for the variables compose substitutes from the shell (a non-placeholder password).
HOST_ENV = {
    "POSTGRES_PASSWORD": "s3cret-Compose-Test",
    "STRIPE_API_KEY": "sk_test_compose0123456789",
    "STRIPE_WEBHOOK_SECRET": "whsec_compose0123456789",
    "PUBLIC_URL": "https://shop.example",
}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Substitute ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}`` as compose does."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in HOST_ENV:
            return HOST_ENV[name]
        if op in (":-", "-"):
            return str(arg)
        if op in (":?", "?"):
            raise AssertionError(f"compose requires ${{{name}}} ({arg}); add it to HOST_ENV")
        return ""

    return _VARIABLE.sub(substitute, value)


def as_mapping(value: object, what: str) -> dict[str, Any]:
    assert isinstance(value, dict), f"{what} should be a mapping, got {type(value).__name__}"
    return {str(key): item for key, item in value.items()}


def command_words(command: object, what: str) -> list[str]:
    """A compose/Dockerfile command, string or exec list, as a list of words."""
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list), f"{what} should be a string or a list, got {command!r}"
    return [str(word) for word in command]


def runs(words: list[str], *expected: str) -> bool:
    """Whether ``words`` starts with the ``expected`` command words."""
    return words[: len(expected)] == list(expected)


def environment(service: dict[str, Any], name: str) -> dict[str, str]:
    """A service's environment (mapping or ``KEY=value`` list form), values as strings."""
    env = service.get("environment")
    assert env is not None, f"service {name!r} has no environment"
    if isinstance(env, list):
        pairs = [str(item).partition("=") for item in env]
        return {key: value for key, _, value in pairs}
    return {key: "" if value is None else str(value) for key, value in as_mapping(env, name).items()}


def database_url(env: dict[str, str], name: str) -> URL:
    raw = env.get("MERCHANT_DATABASE_URL")
    assert raw, f"service {name!r} does not set MERCHANT_DATABASE_URL"
    return make_url(interpolate(raw))


@pytest.fixture(scope="module")
def compose_text() -> str:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def services(compose_text: str) -> dict[str, dict[str, Any]]:
    document = as_mapping(yaml.safe_load(compose_text), str(COMPOSE_FILE))
    found = as_mapping(document.get("services"), "services")
    return {name: as_mapping(service, f"service {name!r}") for name, service in found.items()}


@pytest.fixture
def no_merchant_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep this process's MERCHANT_* variables out of Settings built by a test."""
    for name in [key for key in os.environ if key.upper().startswith(PREFIX)]:
        monkeypatch.delenv(name)


class TestCompose:
    def test_services_exist(self, services: dict[str, dict[str, Any]]) -> None:
        missing = [name for name in SERVICES if name not in services]
        assert not missing, f"docker-compose.yml lacks services {missing}; it has {sorted(services)}"

    def test_postgres_healthcheck_uses_pg_isready(self, services: dict[str, dict[str, Any]]) -> None:
        healthcheck = services["postgres"].get("healthcheck")
        assert healthcheck, "postgres has no healthcheck, so service_healthy can never be reached"
        test = as_mapping(healthcheck, "postgres healthcheck").get("test")
        words = command_words(test, "postgres healthcheck test")
        assert any("pg_isready" in word for word in words), f"postgres healthcheck {test!r} lacks pg_isready"

    def test_migrate_upgrades_after_postgres_is_healthy(self, services: dict[str, dict[str, Any]]) -> None:
        migrate = services["migrate"]
        words = command_words(migrate.get("command"), "migrate command")
        assert runs(words, "merchant", "db", "upgrade"), f"migrate runs {words}, not `merchant db upgrade`"
        depends_on = as_mapping(migrate.get("depends_on"), "migrate depends_on (long form)")
        condition = as_mapping(depends_on.get("postgres"), "migrate depends_on postgres").get("condition")
        assert condition == "service_healthy", (
            f"migrate waits for postgres {condition!r}, not service_healthy"
        )

    @pytest.mark.parametrize("name", ["api", "worker"])
    def test_runs_after_healthy_postgres_and_migrations(
        self, services: dict[str, dict[str, Any]], name: str
    ) -> None:
        depends_on = as_mapping(services[name].get("depends_on"), f"{name} depends_on (long form)")
        expected = {"postgres": "service_healthy", "migrate": "service_completed_successfully"}
        for dependency, condition in expected.items():
            assert dependency in depends_on, f"{name} does not depend on {dependency}"
            actual = as_mapping(depends_on[dependency], f"{name} depends_on {dependency}").get("condition")
            assert actual == condition, f"{name} waits for {dependency} {actual!r}, not {condition!r}"

    @pytest.mark.parametrize("name", MERCHANT_SERVICES)
    def test_production_database_is_the_postgres_service(
        self, services: dict[str, dict[str, Any]], name: str
    ) -> None:
        env = environment(services[name], name)
        assert env.get("MERCHANT_ENV") == "production", f"{name} has MERCHANT_ENV={env.get('MERCHANT_ENV')!r}"
        url = database_url(env, name)
        assert url.drivername == "postgresql+psycopg", f"{name} database driver is {url.drivername!r}"
        assert url.host == "postgres", f"{name} database host is {url.host!r}, not the postgres service"

    @pytest.mark.parametrize("name", MERCHANT_SERVICES)
    def test_database_credentials_match_postgres_service(
        self, services: dict[str, dict[str, Any]], name: str
    ) -> None:
        postgres = {
            key: interpolate(value) for key, value in environment(services["postgres"], "postgres").items()
        }
        url = database_url(environment(services[name], name), name)
        assert url.username == postgres.get("POSTGRES_USER"), f"{name} connects as {url.username!r}"
        assert url.password == postgres.get("POSTGRES_PASSWORD"), (
            f"{name} uses another password than postgres"
        )
        assert url.database == postgres.get("POSTGRES_DB"), f"{name} uses database {url.database!r}"

    @pytest.mark.usefixtures("no_merchant_env")
    @pytest.mark.parametrize("name", MERCHANT_SERVICES)
    def test_environment_is_production_ready(self, services: dict[str, dict[str, Any]], name: str) -> None:
        env = environment(services[name], name)
        fields = {
            key[len(PREFIX) :].lower(): interpolate(value)
            for key, value in env.items()
            if key.upper().startswith(PREFIX)
        }
        settings = Settings.model_validate(fields)
        assert settings.is_production, f"{name} settings are not production: {settings.env}"
        settings.check_production_ready()

    def test_merchant_variables_are_settings_fields(
        self, services: dict[str, dict[str, Any]], compose_text: str
    ) -> None:
        fields = {f"{PREFIX}{field}".upper() for field in Settings.model_fields}
        used = set(re.findall(rf"\b{PREFIX}[A-Z0-9_]+\b", compose_text))
        for name, service in services.items():
            if "environment" in service:
                used |= {key.upper() for key in environment(service, name) if key.upper().startswith(PREFIX)}
        assert used, "docker-compose.yml uses no MERCHANT_* variable"
        unknown = sorted(used - fields)
        assert not unknown, (
            f"docker-compose.yml uses {unknown}, which Settings ignores; fields: {sorted(fields)}"
        )

    def test_api_serves_on_port_8000(self, services: dict[str, dict[str, Any]]) -> None:
        api = services["api"]
        words = command_words(api.get("command"), "api command")
        assert runs(words, "merchant", "serve"), f"api runs {words}, not `merchant serve`"
        ports = [
            str(port) if not isinstance(port, dict) else str(port.get("target")) for port in api["ports"]
        ]
        assert any(port.split(":")[-1].split("/")[0] == "8000" for port in ports), (
            f"api publishes {ports}, not container port 8000"
        )

    def test_worker_runs_merchant_worker(self, services: dict[str, dict[str, Any]]) -> None:
        words = command_words(services["worker"].get("command"), "worker command")
        assert runs(words, "merchant", "worker"), f"worker runs {words}, not `merchant worker`"


class TestDockerfile:
    def test_default_command_serves_the_api(self) -> None:
        assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
        # Join continuation lines, then take the last CMD (the one that applies).
        text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
        commands = [line.split(None, 1)[1] for line in text.splitlines() if re.match(r"\s*CMD\s", line)]
        assert commands, "the Dockerfile has no CMD"
        cmd = commands[-1].strip()
        words = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
        assert runs(command_words(words, "CMD"), "merchant", "serve"), f"the Dockerfile CMD is {cmd}"
