"""Async turns on asyncio across real processes: ``async with
seg.turn_async()``, the event loop running while the turn is awaited,
cancellation (``asyncio.wait_for``, ``TaskGroup``) that never enters and never
blocks the others, exact counts with async and blocking peers, a killed
holder. Peers are ``multiprocessing`` children (fork and spawn), joined with
timeouts; every test runs under the conftest watchdog and its own
``asyncio.timeout``."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal

import pytest
from conftest import SEG_SIZE, recv

import shmheap

LIMIT = 60.0  # seconds any one test's event loop may run


def run(coro):
    async def guarded():
        async with asyncio.timeout(LIMIT):
            return await coro

    return asyncio.run(guarded())


def holder(name: str, held, release, exit_) -> None:
    """Holds the turn from ``held`` until ``release``; leaves on ``exit_``."""
    seg = shmheap.Segment.attach(name)
    t = seg.turn(timeout=30)
    held.set()
    release.wait(60)
    t.release()
    exit_.wait(60)
    seg.close()


def _start_holder(seg, procs, ctx="fork"):
    c = mp.get_context(ctx)
    held, release, exit_ = c.Event(), c.Event(), c.Event()
    p = procs.start(holder, seg.name, held, release, exit_, ctx=ctx)
    assert held.wait(30), "the holder never took the turn"
    return p, release, exit_


def test_async_with_puts_and_takes(seg):
    async def main():
        async with seg.turn_async() as t:
            t.put_message([1, 2, 3])
            t.root["x"] = {"a": 1}
        t = await seg.turn_async(timeout=5)
        try:
            msg = t.take_message()
            assert msg == [1, 2, 3]
            msg.append(4)
            assert t.root["x"] == {"a": 1}
            t.free(msg)
        finally:
            t.release()
        assert not t.held

    run(main())


def test_the_loop_keeps_running_while_the_turn_is_awaited(seg, procs):
    """A ticker task ticks while another process holds the turn; the holder
    is released only after 20 ticks, so the turn cannot come earlier."""
    p, release, exit_ = _start_holder(seg, procs)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1
                if ticks == 20:
                    release.set()

        tk = asyncio.create_task(ticker())
        async with seg.turn_async(timeout=30) as t:
            assert release.is_set(), "the turn came before the holder let go"
            at = ticks
            t.root["ok"] = True
        tk.cancel()
        return at

    assert run(main()) >= 20
    exit_.set()
    procs.join(p)


def grabber(name: str, attached, go, conn) -> None:
    seg = shmheap.Segment.attach(name)
    attached.set()
    go.wait(60)
    try:
        with seg.turn(timeout=30) as t:
            t.root["grabbed"] = os.getpid()
        conn.send("got")
    except shmheap.Timeout:
        conn.send("timeout")
    seg.close()


def test_cancelled_waits_never_enter_nor_block(seg, procs):
    c = mp.get_context("spawn")
    attached, go = c.Event(), c.Event()
    a, b = c.Pipe()
    # A spawned interpreter (attaching takes a turn: before the holder holds).
    g = procs.start(grabber, seg.name, attached, go, b, ctx="spawn")
    assert attached.wait(60), "the grabber never attached"
    p, release, exit_ = _start_holder(seg, procs)

    async def main():
        # asyncio.wait_for cancels the wait.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(seg.turn_async(), 0.05)
        # Our own timeout.
        with pytest.raises(shmheap.Timeout):
            async with seg.turn_async(timeout=0.05):
                pytest.fail("entered a held turn")
        # A TaskGroup cancelled by a sibling's failure.
        entered = []

        async def wait_turn():
            async with seg.turn_async():
                entered.append(1)

        async def fail_soon():
            await asyncio.sleep(0.05)
            raise RuntimeError("boom")

        with pytest.raises(ExceptionGroup):
            async with asyncio.TaskGroup() as tg:
                tg.create_task(wait_turn())
                tg.create_task(wait_turn())  # queued behind the first, locally
                tg.create_task(fail_soon())
        assert entered == []
        # A wait that drew a ticket stays queued while the other process
        # queues behind it, then is cancelled while the holder lets go.
        task = asyncio.create_task(wait_turn())
        await asyncio.sleep(0.05)
        go.set()
        await asyncio.sleep(0.2)  # the grabber draws its ticket
        release.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return entered

    entered = run(main())
    # The grabber got the turn (it waited 30 s at most), whatever our task did.
    assert recv(a) == "got"
    procs.join(g)
    exit_.set()
    procs.join(p)
    assert entered in ([], [1])
    # Nothing left behind: the turn is free and nobody waits.
    t = seg.try_turn()
    assert t is not None
    with t:
        assert t.waiters == 0
        assert t.root["grabbed"] == g.pid


N_PROCS = 4
N_TURNS = 150


def async_incrementer(name: str, n: int, tasks: int, go) -> None:
    seg = shmheap.Segment.attach(name)
    go.wait(30)

    async def one():
        for _ in range(n):
            async with seg.turn_async(timeout=60) as t:
                v = t.root["n"]
                await asyncio.sleep(0)  # the turn held across an await
                t.root["n"] = v + 1

    async def main():
        await asyncio.gather(*(one() for _ in range(tasks)))

    asyncio.run(main())
    seg.close()


def blocking_incrementer(name: str, n: int, go) -> None:
    seg = shmheap.Segment.attach(name)
    go.wait(30)
    for _ in range(n):
        with seg.turn(timeout=60) as t:
            v = t.root["n"]
            t.root["n"] = v + 1
    seg.close()


def test_exact_counts_async_and_blocking_processes(seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["n"] = 0
    # Spawned interpreters (a fresh Python each).
    go = mp.get_context("spawn").Event()
    for i in range(N_PROCS):
        if i % 2:
            procs.start(blocking_incrementer, seg.name, N_TURNS, go, ctx="spawn")
        else:
            procs.start(async_incrementer, seg.name, N_TURNS, 3, go, ctx="spawn")
    go.set()
    procs.join_all(120)
    with seg.turn(timeout=10) as t:
        assert t.root["n"] == (N_PROCS // 2) * N_TURNS * 3 + (N_PROCS // 2) * N_TURNS


def test_tasks_of_one_process_are_fifo_and_blocking_in_the_loop_is_refused(seg):
    async def main():
        order = []
        first = await seg.turn_async()
        # A blocking wait on the loop's thread, which holds the turn: an
        # error, not a hang.
        with pytest.raises(shmheap.Error):
            seg.turn(timeout=1)

        async def task(i):
            async with seg.turn_async(timeout=30):
                order.append(i)
                await asyncio.sleep(0)

        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(task(i)))
            await asyncio.sleep(0)  # each starts waiting in turn
        first.release()
        await asyncio.gather(*tasks)
        return order

    assert run(main()) == list(range(6))


def killed_holder(name: str, ready) -> None:
    seg = shmheap.Segment.attach(name)
    with seg.turn(timeout=10) as t:
        t.root["data"] = [1, 2, 3]
    t = seg.turn(timeout=10)  # held until SIGKILL
    ready.set()
    import time

    time.sleep(600)
    t.release()


def test_killed_holder_gives_async_waiters_peer_died(seg, procs):
    ready = mp.get_context("fork").Event()
    p = procs.start(killed_holder, seg.name, ready)
    assert ready.wait(10)

    async def main():
        waits = [asyncio.create_task(_enter(seg)) for _ in range(2)]
        await asyncio.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
        return await asyncio.gather(*waits, return_exceptions=True)

    results = run(main())
    procs.join(p, 10, exitcode=-signal.SIGKILL)
    for r in results:
        assert isinstance(r, shmheap.PeerDied), r
        assert r.pid == p.pid
    assert isinstance(seg.recover(), dict)

    async def after():
        async with seg.turn_async(timeout=10) as t:
            return list(t.root["data"])

    assert run(after()) == [1, 2, 3]


async def _enter(seg):
    async with seg.turn_async(timeout=30):
        return "entered"


def test_auto_recover_async(names, procs):
    name = names("auto")
    with shmheap.Segment.create(name, SEG_SIZE, auto_recover=True) as seg:
        ready = mp.get_context("fork").Event()
        p = procs.start(killed_holder, name, ready)
        assert ready.wait(10)

        async def main():
            w = asyncio.create_task(_enter(seg))
            await asyncio.sleep(0.05)
            os.kill(p.pid, signal.SIGKILL)
            return await w

        assert run(main()) == "entered"
        procs.join(p, 10, exitcode=-signal.SIGKILL)
        assert seg.last_recovery is not None
        assert seg.last_recovery["dead_pid"] == p.pid


def test_bad_timeout_is_a_value_error(seg):
    with pytest.raises(ValueError):
        seg.turn_async(timeout=-1)
    with pytest.raises(ValueError):
        seg.turn_async(timeout=float("nan"))


def test_cengal_async_wait_my_turn(names, procs):
    from test_cengal import cengal_holder

    from shmheap.cengal import OperationTimedOutError, SharedMemory, async_wait_my_turn

    name = names("cga")
    ctx = mp.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    with SharedMemory(name, True, SEG_SIZE) as sm:
        p = procs.start(cengal_holder, name, ready, done)
        assert ready.wait(10)

        async def main():
            with pytest.raises(OperationTimedOutError):
                async with async_wait_my_turn(sm, time_limit=0.2):
                    pytest.fail("entered a turn held elsewhere")
            assert not sm.is_in_line()
            assert await sm.async_wait_my_turn(time_limit=0.2) is False
            done.set()
            assert await sm.async_wait_for_messages(time_limit=10)
            async with async_wait_my_turn(sm):
                assert sm.is_in_line()
                assert sm.take_message() == "from holder"
                sm.put_message("from async")
            assert not sm.is_in_line()
            assert await sm.async_wait_my_turn(time_limit=10) is True
            try:
                assert sm.read_message() == "from async"
            finally:
                sm.release()

        run(main())
        procs.join(p)
