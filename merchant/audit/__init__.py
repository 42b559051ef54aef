"""The append-only audit trail: who did what to which target, through which request."""
