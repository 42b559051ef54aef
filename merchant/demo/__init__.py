"""``merchant demo``: a small catalog and a scripted ACP purchase against the service."""
