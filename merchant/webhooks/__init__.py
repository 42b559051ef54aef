"""Order events to agent platforms: signed, durable, ordered per order, retried."""
