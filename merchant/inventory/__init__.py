"""Stock held for checkouts being paid and for orders awaiting capture."""
