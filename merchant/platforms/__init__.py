"""Agent platforms: who calls us with agent keys and where their order events go."""
