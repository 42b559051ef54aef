"""Payments: the gateway port, the Stripe adapter and emulator, payment records and operations."""
