"""Project rules that a reviewer would otherwise have to remember."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI

PACKAGE = Path(__file__).resolve().parent.parent / "merchant"
TRANSACTION_OWNER = PACKAGE / "db" / "transaction.py"
# Routes that must answer without a key: probes (and, later, ACP discovery).
PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/.well-known/acp.json",
    "/order-status/{token}",  # the unguessable token is the credential
    "/stripe/webhooks",  # verified by Stripe-Signature
}


class TestTransactions:
    def test_only_the_transaction_owner_commits(self) -> None:
        offenders = [
            f"{path.relative_to(PACKAGE)}:{number}"
            for path in PACKAGE.rglob("*.py")
            if path != TRANSACTION_OWNER
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"\.commit\(\)", line) and not line.lstrip().startswith("#")
        ]
        assert offenders == [], "commit only in merchant/db/transaction.py (one transaction per request/job)"


class TestAuthentication:
    def test_every_operation_but_the_public_ones_requires_a_key(self, app: FastAPI) -> None:
        operations = [
            (path, method, operation)
            for path, item in app.openapi()["paths"].items()
            for method, operation in item.items()
        ]
        assert operations, "the app has operations"
        unauthenticated = [
            f"{method.upper()} {path}"
            for path, method, operation in operations
            if path not in PUBLIC_PATHS and {"HTTPBearer": []} not in operation.get("security", [])
        ]
        assert unauthenticated == []
