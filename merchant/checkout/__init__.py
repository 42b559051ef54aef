"""ACP checkout sessions: canonical model, pricing, state machine (wire formats live in adapters)."""
