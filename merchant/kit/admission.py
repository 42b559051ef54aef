"""Admission control: how many requests one process works on at once (no HTTP here).

A process that takes every request it is sent answers all of them late once it is saturated; one
that bounds the requests it works on answers those in time and refuses the rest at once, so a
caller can retry elsewhere or later. A request waiting on another service (the PSP) uses no CPU
here: ``waiting_elsewhere`` gives its place back meanwhile, so slow PSP answers do not shut the
door on requests this process could serve.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

_current: ContextVar[Admission | None] = ContextVar("merchant_admission", default=None)


class Admission:
    """A counter of the requests being worked on; single-threaded (one event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0
        self.refused = 0  # since start, for logs and tests

    def try_enter(self) -> bool:
        if self.busy >= self.limit:
            self.refused += 1
            return False
        self.busy += 1
        return True

    def leave(self) -> None:
        self.busy -= 1


@asynccontextmanager
async def admitted_to(admission: Admission) -> AsyncIterator[None]:
    """Run the current request as one of ``admission``'s (it entered): its waits find it."""
    token = _current.set(admission)
    try:
        yield
    finally:
        _current.reset(token)
        admission.leave()


@asynccontextmanager
async def waiting_elsewhere() -> AsyncIterator[None]:
    """While the current request waits on another service, its place is free for another one.

    It takes its place back afterwards even beyond the limit: an admitted request is finished."""
    admission = _current.get()
    if admission is None:
        yield
        return
    admission.leave()
    try:
        yield
    finally:
        admission.busy += 1
