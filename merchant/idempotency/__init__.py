"""Idempotency keys (ACP §6): replay, conflict and in-flight detection, scoped per caller and path."""
