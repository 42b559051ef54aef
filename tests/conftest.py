"""Test configuration: real PostgreSQL with the real migrations, the real app."""

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.app", "tests.checkout.purchase"]
