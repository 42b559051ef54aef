"""merchant: a merchant backend for the Agentic Commerce Protocol."""

__version__ = "0.1.0"
