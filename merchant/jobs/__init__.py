"""Background jobs on procrastinate, sharing the service's PostgreSQL."""
