"""``Segment.turn_async()``: the turn of a segment, awaited on asyncio.

The native ``_TurnWaiter`` wraps the core's turn future; this coroutine polls
it on the event loop's thread and, between polls, awaits an asyncio future
that the core's waker resolves through ``loop.call_soon_threadsafe`` (from
the segment's waiter thread, which sleeps on the turn futex, or from the
thread that hands the turn on). The loop keeps running meanwhile. If the
awaiting task is cancelled (``asyncio.wait_for``, a ``TaskGroup``), the
``finally`` gives the wait up: the turn is never entered and the other
waiters are never blocked.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Generator

    from ._native import Segment, Turn


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _acquire(seg: Segment, timeout: float | None) -> Turn:
    loop = asyncio.get_running_loop()
    waiter = seg._turn_waiter(timeout)
    try:
        while True:
            fut: asyncio.Future[None] = loop.create_future()

            def wake(fut: asyncio.Future[None] = fut) -> None:
                loop.call_soon_threadsafe(_resolve, fut)

            turn = waiter.poll(wake)
            if turn is not None:
                return turn
            await fut
    finally:
        # A no-op once the turn came; otherwise (cancelled, or an error)
        # the wait is withdrawn.
        waiter.cancel()


class AsyncTurn:
    """What ``seg.turn_async(timeout=None)`` returns: an async context manager
    (``async with seg.turn_async() as t:``) and an awaitable (``t = await
    seg.turn_async()``; then ``t.release()`` hands the turn on)."""

    __slots__ = ("_seg", "_timeout", "_turn")

    def __init__(self, seg: Segment, timeout: float | None = None) -> None:
        self._seg = seg
        self._timeout = timeout
        self._turn: Turn | None = None

    def __await__(self) -> Generator[Any, None, Turn]:
        return _acquire(self._seg, self._timeout).__await__()

    async def __aenter__(self) -> Turn:
        self._turn = await _acquire(self._seg, self._timeout)
        return self._turn

    async def __aexit__(self, *exc: object) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()
