"""A drop-in for the seed's API: Cengal's ``shared_memory`` / InterProcessPyObjects.

Code written against ``from cengal.hardware.memory.shared_memory import *`` (or
``from ipc_py_objects import *``) runs with that line changed to
``from shmheap.cengal import *``::

    creator = SharedMemory("demo", True, 200 * 1024**2)
    with creator:
        creator.wait_consumer_ready()
        with wait_my_turn(creator):
            shared_data = creator.put_message(["hello", 0])
        ...

    consumer = SharedMemory("demo", False)
    with consumer:
        consumer.init_consumer()
        consumer.wait_for_messages()
        with wait_my_turn(consumer):
            shared_data = consumer.take_message()

This is a thin layer over :mod:`shmheap`: a ``SharedMemory`` holds one
:class:`shmheap.Segment`, ``wait_my_turn`` holds one :class:`shmheap.Turn`, and
every message operation is the ``Turn`` method of the same name. An operation
called outside ``wait_my_turn`` takes a turn for itself and hands it on at
once. A shared object (``SharedList`` etc.) is still usable only inside a turn:
outside one it raises :class:`shmheap.NotInTurn` (the seed read unsynchronised
memory there).

Where the seed is documented (by its source) its semantics are kept:
``take_message()`` and ``read_message()`` raise ``NoMessagesInQueueError``
(:class:`shmheap.NoMessages`) when the queue is empty, ``get_message(default)``
and ``pop_message(default)`` return ``default``; ``read_message`` and
``get_message`` peek, ``take_message`` and ``pop_message`` remove; a creator
unlinks a stale segment of its name first; a consumer attaches in
``init_consumer()``; leaving the creator's ``with`` block waits (5 s by default)
for the consumers to leave, then unlinks. Differences, all on the side of
safety: any number of consumers; ``wait_my_turn(sm, time_limit)`` raises
:class:`shmheap.Timeout` instead of entering the block without the turn;
waiting sleeps on a futex instead of spinning, with the GIL released.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

import shmheap
from shmheap import (
    Error,
    NoMessages,
    NotFound,
    Segment,
    SharedByteArray,
    SharedDict,
    SharedList,
    SharedSet,
    Timeout,
    Turn,
)

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "AsyncWaitMyTurn",
    "GetInLine",
    "IBytearray",
    "IList",
    "IMutableMapping",
    "IMutableSet",
    "NoMessagesInQueueError",
    "OperationTimedOutError",
    "SharedMemory",
    "SharedMemoryError",
    "WaitMyTurn",
    "async_wait_my_turn",
    "get_in_line",
    "to_python",
    "wait_my_turn",
    "wait_my_turn_when_has_messages",
]

# The seed's names for the same things.
SharedMemoryError = Error
NoMessagesInQueueError = NoMessages
OperationTimedOutError = Timeout
IList = SharedList
IMutableMapping = SharedDict
IMutableSet = SharedSet
IBytearray = SharedByteArray
to_python = shmheap.to_python

# The root-namespace key under which this layer keeps its consumer bookkeeping
# ({"ready": n, "closed": n}); nothing else of the root is touched.
_STATE_KEY = "__shmheap.cengal__"
_DEFAULT_SLEEP = 0.000000001
_MIN_POLL = 0.0002  # seconds between two polls of a condition another process sets


def _nap(periodic_sleep_time: float | None) -> None:
    # The seed spins (mm_pause) for None and hps_sleep()s otherwise; a poll here
    # takes a turn, so never spin faster than _MIN_POLL.
    time.sleep(_MIN_POLL if periodic_sleep_time is None else max(periodic_sleep_time, _MIN_POLL))


def _deadline(time_limit: float | None) -> float | None:
    return None if time_limit is None else time.monotonic() + time_limit


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class SharedMemory:
    """One shmheap segment, as the seed's ``SharedMemory(name, create, size)``.

    ``create=True`` creates it (unlinking a stale one of the same name first,
    as the seed does, unless ``unlink_old=False``); ``create=False`` names a
    segment to attach to, which ``init_consumer()`` (or the first operation)
    does, waiting for the creator to make it. ``size`` is the creator's size in
    bytes; a consumer's is ignored.
    """

    def __init__(
        self,
        name: str,
        create: bool = False,
        size: int | None = None,
        *,
        unlink_old: bool = True,
        creator_destroy_timeout: float = 5.0,
        wait_for_consumers_num: int | None = None,
        max_processes: int = 64,
        auto_recover: bool = False,
        **_ignored: Any,
    ) -> None:
        name = name.strip("/")
        self._name = name
        self._create = bool(create)
        self._creator_destroy_timeout = creator_destroy_timeout
        self._wait_for_consumers_num = wait_for_consumers_num
        self._auto_recover = auto_recover
        self._local = threading.local()
        self._seg: Segment | None = None
        self._consumer_registered = False
        self._closed = False
        if self._create:
            if not size or size <= 0:
                raise ValueError("a creator needs a size in bytes (SharedMemory(name, True, size))")
            if unlink_old:
                SharedMemory.unlink_by_name(name)
            self._seg = Segment.create(
                name, size, max_processes=max_processes, auto_recover=auto_recover
            )
            with self._seg.turn() as t:
                t.root.setdefault(_STATE_KEY, {"ready": 0, "closed": 0})

    # ---- identity ---------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def create(self) -> bool:
        return self._create

    @property
    def size(self) -> int:
        return self.segment.size

    @property
    def segment(self) -> Segment:
        """The underlying :class:`shmheap.Segment` (a consumer attaches here)."""
        if self._seg is None and not self.init_consumer():
            raise Timeout(f"segment {self._name!r} did not appear")
        assert self._seg is not None
        return self._seg

    @property
    def current_turn(self) -> Turn | None:
        """The :class:`shmheap.Turn` this thread holds through ``wait_my_turn``, or None."""
        t = getattr(self._local, "turn", None)
        if t is not None and not t.held:
            self._local.turn = None
            return None
        return t

    # ---- lifecycle ----------------------------------------------------------

    def init_consumer(
        self, time_limit: float | None = None, periodic_sleep_time: float | None = _DEFAULT_SLEEP
    ) -> bool:
        """Attach (waiting for the creator to make the segment) and say we are
        ready. True when done, False if ``time_limit`` ran out first."""
        if self._seg is not None and (self._create or self._consumer_registered):
            return True
        deadline = _deadline(time_limit)
        while self._seg is None:
            try:
                self._seg = Segment.attach(self._name, auto_recover=self._auto_recover)
            except NotFound:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                _nap(periodic_sleep_time)
        with self._take_turn(_remaining(deadline)) as t:
            state = t.root.setdefault(_STATE_KEY, {"ready": 0, "closed": 0})
            state["ready"] += 1
        self._consumer_registered = True
        return True

    def _wait_state(self, pred, time_limit, periodic_sleep_time) -> bool:
        deadline = _deadline(time_limit)
        while True:
            with self._take_turn(_remaining(deadline)) as t:
                state = t.root.get(_STATE_KEY)
                if state is not None and pred(state["ready"], state["closed"]):
                    return True
            self._no_wait_in_turn("wait for the consumers")
            if deadline is not None and time.monotonic() >= deadline:
                return False
            _nap(periodic_sleep_time)

    def wait_consumer_ready(
        self, time_limit: float | None = None, periodic_sleep_time: float | None = _DEFAULT_SLEEP
    ) -> bool:
        """The creator waits until a consumer (``wait_for_consumers_num`` of
        them if given) has called ``init_consumer()``. A consumer returns at once."""
        if not self._create:
            return True
        n = self._wait_for_consumers_num or 1
        return self._wait_state(lambda ready, _closed: ready >= n, time_limit, periodic_sleep_time)

    def wait_creator_ready(
        self, time_limit: float | None = None, periodic_sleep_time: float | None = _DEFAULT_SLEEP
    ) -> bool:
        """A consumer waits for the segment to exist (it is ready once it does)."""
        if self._create:
            return True
        return self.init_consumer(time_limit, periodic_sleep_time)

    def wait_consumer_closed(
        self, time_limit: float | None = None, periodic_sleep_time: float | None = _DEFAULT_SLEEP
    ) -> bool:
        """The creator waits until every consumer that came has left."""
        if not self._create or self._seg is None:
            return True
        return self._wait_state(lambda ready, closed: closed >= ready, time_limit, periodic_sleep_time)

    def close_consumer(self) -> None:
        """A consumer says it has left (the creator's exit waits for this)."""
        if self._create or not self._consumer_registered or self._seg is None:
            return
        with self._take_turn(None) as t:
            t.root[_STATE_KEY]["closed"] += 1
        self._consumer_registered = False

    def close(self) -> None:
        """Detach; the creator also unlinks the name."""
        if self._closed:
            return
        self._closed = True
        self.release()
        seg, self._seg = self._seg, None
        if seg is not None:
            seg.close()
        if self._create:
            SharedMemory.unlink_by_name(self._name)

    def proper_close(self) -> None:
        """What leaving the ``with`` block does: the creator waits up to
        ``creator_destroy_timeout`` for the consumers to leave; a consumer says
        it left; then ``close()``."""
        if self._closed:
            return
        try:
            if self._create:
                self.wait_consumer_closed(self._creator_destroy_timeout)
            else:
                self.close_consumer()
        finally:
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proper_close()

    @staticmethod
    def unlink_by_name(shared_memory_name: str) -> None:
        """Remove the name of a segment (a stale one of a crashed run); no error if absent."""
        try:
            Segment.unlink(shared_memory_name.strip("/"))
        except (NotFound, FileNotFoundError):
            pass

    # ---- turns --------------------------------------------------------------

    def is_in_line(self) -> bool:
        """Whether this thread holds the turn (through ``wait_my_turn``)."""
        return self.current_turn is not None

    def get_in_line(self) -> bool:
        """Try to take the turn without waiting; True if this thread holds it now."""
        if self.current_turn is not None:
            return True
        t = self.segment.try_turn()
        if t is None:
            return False
        self._local.turn = t
        return True

    def wait_my_turn(
        self, time_limit: float | None = None, periodic_sleep_time: float | None = _DEFAULT_SLEEP
    ) -> bool:
        """Wait for the turn (GIL released) and keep it until ``release()``.
        True once held; False if ``time_limit`` seconds ran out."""
        if self.current_turn is not None:
            return True
        try:
            self._local.turn = self.segment.turn(timeout=time_limit)
        except Timeout:
            return False
        return True

    async def async_wait_my_turn(self, time_limit: float | None = None) -> bool:
        """``wait_my_turn`` for asyncio: awaits the turn without blocking the
        event loop (the other tasks keep running) and keeps it until
        ``release()``. True once held; False if ``time_limit`` seconds ran out.
        The turn is held by the event loop's thread, so every task of that
        loop sees it as held (as every function of a thread does)."""
        if self.current_turn is not None:
            return True
        try:
            self._local.turn = await self.segment.turn_async(timeout=time_limit)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        """Hand the turn on (no-op if this thread does not hold it)."""
        t = getattr(self._local, "turn", None)
        self._local.turn = None
        if t is not None and t.held:
            t.release()

    def _no_wait_in_turn(self, what: str) -> None:
        # Polling while this thread holds the turn would wait forever: nobody
        # else can change anything until the turn is handed on.
        if self.current_turn is not None:
            raise Error(f"{what} inside wait_my_turn would wait forever: release the turn first")

    def _take_turn(self, timeout: float | None) -> _Borrowed:
        return _Borrowed(self, timeout)

    # ---- messages -------------------------------------------------------------

    def put_message(self, obj: Any) -> Any:
        """Put ``obj`` at the end of the queue; the live shared object for a
        container (``SharedList``...), an equal value for an immutable one."""
        with self._take_turn(None) as t:
            return t.put_message(obj)

    def put_message_2(self, obj: Any) -> tuple[Any, Any]:
        mapped = self.put_message(obj)
        return mapped, mapped

    def has_messages(self) -> bool:
        with self._take_turn(None) as t:
            return t.has_messages()

    def message_count(self) -> int:
        with self._take_turn(None) as t:
            return t.message_count()

    def take_message(self) -> Any:
        """Remove and return the oldest message; ``NoMessagesInQueueError`` if none."""
        with self._take_turn(None) as t:
            return t.take_message()

    def read_message(self) -> Any:
        """Return the oldest message, leaving it queued; ``NoMessagesInQueueError`` if none."""
        with self._take_turn(None) as t:
            return t.read_message()

    def get_message(self, default: Any = None) -> Any:
        """Like ``read_message`` (a peek), but ``default`` when the queue is empty."""
        with self._take_turn(None) as t:
            try:
                return t.read_message()
            except NoMessages:
                return default

    def pop_message(self, default: Any = None) -> Any:
        """Like ``take_message``, but ``default`` when the queue is empty."""
        with self._take_turn(None) as t:
            try:
                return t.take_message()
            except NoMessages:
                return default

    def wait_for_messages(
        self, time_limit: float | None = None, periodic_sleep_time: float | None = _DEFAULT_SLEEP
    ) -> bool:
        """Wait until the queue has a message. True then; False if ``time_limit`` ran out."""
        deadline = _deadline(time_limit)
        while True:
            with self._take_turn(_remaining(deadline)) as t:
                if t.has_messages():
                    return True
            self._no_wait_in_turn("wait_for_messages()")
            if deadline is not None and time.monotonic() >= deadline:
                return False
            _nap(periodic_sleep_time)

    async def async_wait_for_messages(
        self, time_limit: float | None = None, periodic_sleep_time: float | None = _DEFAULT_SLEEP
    ) -> bool:
        """``wait_for_messages`` for asyncio: the turns are awaited and the
        pauses between looks are ``asyncio.sleep``, so the loop keeps running.
        True once the queue has a message; False if ``time_limit`` ran out."""
        deadline = _deadline(time_limit)
        while True:
            self._no_wait_in_turn("async_wait_for_messages()")
            async with self.segment.turn_async(timeout=_remaining(deadline)) as t:
                if t.has_messages():
                    return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(periodic_sleep_time or 0)

    def destroy_obj(self, obj: Any) -> None:
        """Free a shared object (a taken message, ...): ``Turn.free``."""
        with self._take_turn(None) as t:
            t.free(obj)

    destroy_object = destroy_obj

    def map_object(self, obj: Any) -> Any:
        """The seed's un-queued put; here a message (take it to drop it from the queue)."""
        return self.put_message(obj)

    @property
    def root(self) -> SharedDict:
        """The root namespace of the turn this thread holds (shmheap's ``Turn.root``)."""
        t = self.current_turn
        if t is None:
            raise shmheap.NotInTurn("SharedMemory.root needs wait_my_turn(...)")
        return t.root

    def __repr__(self) -> str:
        role = "creator" if self._create else "consumer"
        state = "closed" if self._closed else ("attached" if self._seg is not None else "detached")
        return f"<shmheap.cengal.SharedMemory {self._name!r} {role} {state}>"


class _Borrowed:
    """The turn for one operation: this thread's held one, or a fresh one for
    the duration of the ``with`` block."""

    __slots__ = ("own", "sm", "timeout")

    def __init__(self, sm: SharedMemory, timeout: float | None) -> None:
        self.sm = sm
        self.timeout = timeout
        self.own: Turn | None = None

    def __enter__(self) -> Turn:
        held = self.sm.current_turn
        if held is not None:
            return held
        self.own = self.sm.segment.turn(timeout=self.timeout)
        return self.own

    def __exit__(self, *exc: object) -> None:
        if self.own is not None:
            self.own.release()
            self.own = None


class WaitMyTurn:
    """``with wait_my_turn(sm):`` holds the turn for the block. Nested blocks
    (or a thread already holding the turn) keep the outer turn. With
    ``time_limit`` it raises ``OperationTimedOutError`` (:class:`shmheap.Timeout`)
    rather than entering the block without the turn."""

    __slots__ = ("is_in_line", "periodic_sleep_time", "shared_memory", "time_limit")

    def __init__(
        self,
        shared_memory: SharedMemory,
        time_limit: float | None = None,
        periodic_sleep_time: float | None = _DEFAULT_SLEEP,
    ) -> None:
        self.shared_memory = shared_memory
        self.time_limit = time_limit
        self.periodic_sleep_time = periodic_sleep_time
        self.is_in_line = False

    def __enter__(self) -> SharedMemory:
        sm = self.shared_memory
        self.is_in_line = sm.is_in_line()
        if not self.is_in_line and not sm.wait_my_turn(self.time_limit, self.periodic_sleep_time):
            raise Timeout(f"no turn of {sm.name!r} within {self.time_limit} s")
        return sm

    def __exit__(self, *exc: object) -> None:
        if not self.is_in_line:
            self.shared_memory.release()


wait_my_turn = WaitMyTurn


class AsyncWaitMyTurn(WaitMyTurn):
    """``async with async_wait_my_turn(sm):`` holds the turn for the block,
    awaited on asyncio (``SharedMemory.async_wait_my_turn``); otherwise as
    ``wait_my_turn``: a turn already held is kept, ``time_limit`` raises
    ``OperationTimedOutError``. Cancelling the awaiting task never enters the
    turn and never blocks the other processes."""

    __slots__ = ()

    async def __aenter__(self) -> SharedMemory:
        sm = self.shared_memory
        self.is_in_line = sm.is_in_line()
        if not self.is_in_line and not await sm.async_wait_my_turn(self.time_limit):
            raise Timeout(f"no turn of {sm.name!r} within {self.time_limit} s")
        return sm

    async def __aexit__(self, *exc: object) -> None:
        if not self.is_in_line:
            self.shared_memory.release()


async_wait_my_turn = AsyncWaitMyTurn


class GetInLine:
    """``with get_in_line(sm) as ok:`` tries for the turn without waiting;
    ``ok`` says whether this thread holds it in the block."""

    __slots__ = ("is_in_line", "shared_memory")

    def __init__(self, shared_memory: SharedMemory) -> None:
        self.shared_memory = shared_memory
        self.is_in_line = False

    def __enter__(self) -> bool:
        self.is_in_line = self.shared_memory.is_in_line()
        return True if self.is_in_line else self.shared_memory.get_in_line()

    def __exit__(self, *exc: object) -> None:
        if not self.is_in_line:
            self.shared_memory.release()


get_in_line = GetInLine


class wait_my_turn_when_has_messages(WaitMyTurn):
    """Holds the turn for the block once the queue has a message."""

    __slots__ = ()

    def __enter__(self) -> SharedMemory:
        sm = self.shared_memory
        deadline = _deadline(self.time_limit)
        while True:
            self.is_in_line = sm.is_in_line()
            if not self.is_in_line and not sm.wait_my_turn(
                _remaining(deadline), self.periodic_sleep_time
            ):
                raise Timeout(f"no message in {sm.name!r} within {self.time_limit} s")
            if sm.has_messages():
                return sm
            if self.is_in_line:
                # Waiting here would hold the turn the sender needs.
                raise Error("wait_my_turn_when_has_messages inside a held turn with no message")
            sm.release()
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout(f"no message in {sm.name!r} within {self.time_limit} s")
            _nap(self.periodic_sleep_time)
