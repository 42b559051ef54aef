"""Fraud assessment at checkout complete: our rules, the token's and Radar's risk, and later events."""
