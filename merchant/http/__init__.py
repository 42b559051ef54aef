"""The HTTP edge: auth, error mapping, request context, transactions."""
