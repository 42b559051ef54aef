"""The command line, run as operators run it: real subprocesses on a real database."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from merchant.cli import app as cli_app
from merchant.db import create_sessionmaker, transaction
from merchant.db.migrations import head_revision
from merchant.jobs import tasks
from merchant.jobs.defer import defer
from tests.cli.helpers import (
    background,
    free_port,
    output_of,
    postgres_running_in,
    run_cli,
    wait_for_output,
    wait_ready,
)
from tests.fixtures.database import recreate_database

pytestmark = pytest.mark.slow


class TestKeys:
    async def test_create_authenticates_and_revoke_stops_it(
        self, committed: AsyncEngine, committing_client: httpx.AsyncClient, subprocess_env: dict[str, str]
    ) -> None:
        created = run_cli("keys", "create", "--role", "agent", "--name", "Agent Platform", env=subprocess_env)
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip()
        key_id = token.split(".")[0]
        assert "shown this once" in created.stderr.lower() or "cannot be shown again" in created.stderr

        auth = {"Authorization": f"Bearer {token}"}
        whoami = await committing_client.get("/whoami", headers=auth)
        assert (whoami.status_code, whoami.json()["role"]) == (200, "agent")

        listed = run_cli("keys", "list", "--json", env=subprocess_env)
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [(r["id"], r["role"], r["revoked_at"]) for r in rows] == [(key_id, "agent", None)]
        assert token.split(".")[1] not in listed.stdout

        revoked = run_cli("keys", "revoke", key_id, env=subprocess_env)
        assert revoked.returncode == 0, revoked.stderr
        after = await committing_client.get("/whoami", headers=auth)
        assert (after.status_code, after.json()["code"]) == (401, "revoked_api_key")

    def test_revoke_unknown_key_fails(self, subprocess_env: dict[str, str]) -> None:
        result = run_cli("keys", "revoke", "key_0000000000000000", env=subprocess_env)
        assert result.returncode == 1
        assert "No API key" in result.stderr

    def test_unknown_role_is_refused(self, subprocess_env: dict[str, str]) -> None:
        result = run_cli("keys", "create", "--role", "superuser", "--name", "x", env=subprocess_env)
        assert result.returncode == 2

    async def test_signing_secret_is_printed_once_and_checks_turn_on(
        self, committed: AsyncEngine, subprocess_env: dict[str, str]
    ) -> None:
        created = run_cli("keys", "create", "--role", "agent", "--name", "Signer", env=subprocess_env)
        key_id = created.stdout.strip().split(".")[0]
        done = run_cli("keys", "signing", key_id, "--generate-secret", env=subprocess_env)
        assert done.returncode == 0, done.stderr
        secret = done.stdout.strip()
        assert len(secret) >= 43
        assert "verify_if_present" in done.stderr
        async with transaction(create_sessionmaker(committed)) as session:
            stored = await session.execute(
                text("SELECT signing_secret, signature_policy FROM api_key WHERE id = :id"), {"id": key_id}
            )
            assert stored.one() == (secret, "verify_if_present")
        strict = run_cli("keys", "signing", key_id, "--policy", "require", env=subprocess_env)
        assert (strict.returncode, strict.stdout) == (0, "")  # no new secret printed
        bad = run_cli("keys", "signing", key_id, "--public-key", "not-a-key", env=subprocess_env)
        assert bad.returncode == 1
        assert "Invalid Ed25519 public key" in bad.stderr
        nothing = run_cli("keys", "signing", key_id, "--clear", "--policy", "require", env=subprocess_env)
        assert nothing.returncode == 1


class TestServe:
    def test_refuses_an_out_of_date_external_schema(
        self, server_url: str, worker_id_suffix: str, subprocess_env: dict[str, str]
    ) -> None:
        empty = recreate_database(server_url, f"merchant_empty_{worker_id_suffix}")
        env = {**subprocess_env, "MERCHANT_DATABASE_URL": empty}
        result = run_cli("serve", "--port", str(free_port()), env=env)
        assert result.returncode == 1
        assert "merchant db upgrade" in result.stderr
        assert "MERCHANT_AUTO_MIGRATE=1" in result.stderr

    def test_auto_migrate_applies_pending_migrations(
        self, server_url: str, worker_id_suffix: str, subprocess_env: dict[str, str]
    ) -> None:
        empty = recreate_database(server_url, f"merchant_empty_{worker_id_suffix}")
        env = {**subprocess_env, "MERCHANT_DATABASE_URL": empty, "MERCHANT_AUTO_MIGRATE": "1"}
        port = free_port()
        with background("serve", "--port", str(port), env=env) as process:
            ready = wait_ready(f"http://127.0.0.1:{port}", process)
        assert ready.json()["schema_revision"] == head_revision()

    def test_production_refuses_missing_database(self, subprocess_env: dict[str, str]) -> None:
        env = {k: v for k, v in subprocess_env.items() if k != "MERCHANT_DATABASE_URL"}
        env["MERCHANT_ENV"] = "production"
        result = run_cli("serve", env=env)
        assert result.returncode == 1
        assert "MERCHANT_DATABASE_URL is required" in result.stderr

    def test_embedded_default_serves_keeps_data_and_stops(
        self, tmp_path: Path, subprocess_env: dict[str, str]
    ) -> None:
        env = {k: v for k, v in subprocess_env.items() if k != "MERCHANT_DATABASE_URL"}
        data_dir = tmp_path / ".merchant"  # the default, relative to the working directory
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with background("serve", "--port", str(port), env=env, cwd=tmp_path) as process:
            wait_ready(base, process)
            created = run_cli("keys", "create", "--role", "viewer", "--name", "ops", env=env, cwd=tmp_path)
            assert created.returncode == 0, created.stderr
            token = created.stdout.strip()
            assert (
                httpx.get(f"{base}/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            )
        assert process.returncode == 0
        assert not postgres_running_in(data_dir), "the embedded server must stop with the service"

        with background("serve", "--port", str(port), env=env, cwd=tmp_path) as process:
            wait_ready(base, process)
            again = httpx.get(f"{base}/whoami", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 200, "data must survive a restart"

    @pytest.mark.parametrize("command", ["serve", "worker"])
    def test_sigterm_stops_the_embedded_server_too(
        self, tmp_path: Path, subprocess_env: dict[str, str], command: str
    ) -> None:
        """What ``docker stop`` and ``systemctl stop`` send: a graceful stop, exit 0, no server left."""
        env = {k: v for k, v in subprocess_env.items() if k != "MERCHANT_DATABASE_URL"}
        env["MERCHANT_LOG_LEVEL"] = "INFO"
        port = free_port()
        args = ("serve", "--port", str(port)) if command == "serve" else ("worker",)
        with background(*args, env=env, cwd=tmp_path, stop=signal.SIGTERM) as process:
            if command == "serve":
                wait_ready(f"http://127.0.0.1:{port}", process)
            else:
                wait_for_output(process, "Starting worker")
            assert postgres_running_in(tmp_path / ".merchant")
        assert process.returncode == 0, output_of(process)
        assert not postgres_running_in(tmp_path / ".merchant"), "the embedded server must stop too"


class TestWorker:
    async def test_runs_a_job_committed_by_the_application(
        self, committed: AsyncEngine, subprocess_env: dict[str, str]
    ) -> None:
        async with transaction(create_sessionmaker(committed)) as session:
            job_id = await defer(session, tasks.ping, token="from-a-request")

        status = None
        with background("worker", "--concurrency", "2", env=subprocess_env):
            for _ in range(150):
                async with committed.connect() as connection:
                    status = await connection.scalar(
                        text("SELECT status::text FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
                    )
                if status == "succeeded":
                    break
                await asyncio.sleep(0.1)
        assert status == "succeeded"

    def test_jobs_ping_needs_a_worker(self, committed: AsyncEngine, subprocess_env: dict[str, str]) -> None:
        alone = run_cli("jobs", "ping", "--timeout", "1", env=subprocess_env)
        assert alone.returncode == 1
        assert "is a worker running?" in alone.stderr

        with background("worker", env=subprocess_env):
            answered = run_cli("jobs", "ping", "--timeout", "30", env=subprocess_env)
        assert answered.returncode == 0, answered.stderr


class TestDb:
    def test_current_is_head(self, subprocess_env: dict[str, str]) -> None:
        result = run_cli("db", "current", env=subprocess_env)
        assert (result.returncode, result.stdout.strip()) == (0, head_revision())


class TestOpenapi:
    def test_committed_documents_match_the_code(self) -> None:
        result = CliRunner().invoke(cli_app, ["openapi", "export", "--check"])
        assert result.exit_code == 0, result.output

    def test_check_fails_on_drift(self, tmp_path: Path) -> None:
        (tmp_path / "merchant.json").write_text("{}\n")
        result = CliRunner().invoke(cli_app, ["openapi", "export", "--check", "--dir", str(tmp_path)])
        assert result.exit_code == 1

    def test_document_uses_the_acp_error_model(self) -> None:
        document = json.loads(Path("openapi/merchant.json").read_text())
        whoami = document["paths"]["/whoami"]["get"]["responses"]
        assert "422" not in whoami
        assert whoami["401"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"


class TestDemo:
    async def _orders(self, engine: AsyncEngine) -> list[tuple[str, str, int, int]]:
        async with transaction(create_sessionmaker(engine)) as session:
            rows = await session.execute(
                text(
                    "SELECT o.status, p.status, p.amount_captured, o.total"
                    " FROM orders o JOIN payment p ON p.id = o.payment_id"
                )
            )
            return [(a, b, c, d) for a, b, c, d in rows]

    async def test_demo_runs_a_purchase_on_its_own_service(
        self, committed: AsyncEngine, subprocess_env: dict[str, str], tmp_path: Path
    ) -> None:
        result = run_cli("demo", env=subprocess_env, cwd=tmp_path, timeout=120)
        assert result.returncode == 0, result.stderr + result.stdout
        for step in (
            "GET /.well-known/acp.json -> 200",
            "POST /checkout_sessions -> 201",
            "/complete -> 200",
        ):
            assert step in result.stdout
        assert "status=completed" in result.stdout
        assert "order_create: order ord_" in result.stdout  # the platform's receiver got the events
        assert "order_update: order ord_" in result.stdout
        [(order_status, payment_status, captured, total)] = await self._orders(committed)
        assert (order_status, payment_status, captured) == ("shipped", "captured", total)

    async def test_demo_against_a_running_serve(
        self, committed: AsyncEngine, subprocess_env: dict[str, str], tmp_path: Path
    ) -> None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with background("serve", "--port", str(port), env=subprocess_env, cwd=tmp_path) as process:
            wait_ready(base, process)
            assert (tmp_path / ".merchant" / "stripe-emulator.url").exists()
            result = run_cli("demo", "--url", base, env=subprocess_env, cwd=tmp_path, timeout=120)
        assert result.returncode == 0, result.stderr + result.stdout
        assert f"order page: {base}/order-status/" in result.stdout
        [(order_status, payment_status, _, _)] = await self._orders(committed)
        assert (order_status, payment_status) == ("shipped", "captured")
