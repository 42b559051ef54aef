"""Orders: created exactly once per paid checkout session, then worked by staff and webhooks."""
