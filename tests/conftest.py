"""Test configuration: real PostgreSQL with the real migrations, the real app."""

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.app", "tests.checkout.purchase"]

# Property tests everywhere: no example database in the checkout (a failure prints its example),
# and no timing checks. The machines are shared: a slow draw or example is not a failure.
settings.register_profile(
    "merchant", deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("merchant")
