"""Async vs blocking turn hand-off between two Python processes, in one run
(the Python twin of examples/bench_async.rs).

Two processes make N moves each on a shared int, alternating by its parity:
each takes turns until it is its move, makes it (``+= 1``) and hands the turn
on; a turn that finds it is not its move counts as idle. A round trip is one
move of each. Pairs: both blocking (``with seg.turn()``, the baseline), both
asyncio (``async with seg.turn_async()``), and one of each.

    python python/bench/bench_async.py [N]      # N = 3000 moves by default
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import time

import shmheap


def _move(t, me: int) -> bool:
    c = t.root["c"]
    if c % 2 == me:
        t.root["c"] = c + 1
        return True
    return False


def _blocking(seg, n: int, me: int) -> float:
    moves, t0 = 0, None
    while moves < n:
        with seg.turn(timeout=60) as t:
            moved = _move(t, me)
        if moved:
            t0 = t0 or time.perf_counter()
            moves += 1
        else:
            os.sched_yield()
    return time.perf_counter() - t0


def _async(seg, n: int, me: int) -> float:
    async def main() -> float:
        moves, t0 = 0, None
        while moves < n:
            async with seg.turn_async(timeout=60) as t:
                moved = _move(t, me)
            if moved:
                t0 = t0 or time.perf_counter()
                moves += 1
            else:
                os.sched_yield()
        return time.perf_counter() - t0

    return asyncio.run(main())


def _peer(name: str, n: int, mode: str) -> None:
    seg = shmheap.Segment.attach(name)
    try:
        (_async if mode == "async" else _blocking)(seg, n, 1)
    finally:
        seg.close()


def pair(n: int, mine: str, peer: str) -> float:
    name = f"shmheap-bench-async-py-{os.getpid()}"
    with shmheap.Segment.create(name, 1 << 20) as seg:
        with seg.turn() as t:
            t.root["c"] = 0
        p = mp.get_context("spawn").Process(target=_peer, args=(name, n, peer))
        p.start()
        took = (_async if mine == "async" else _blocking)(seg, n, 0)
        p.join(120)
        if p.exitcode != 0:
            raise RuntimeError(f"peer exited with {p.exitcode}")
        with seg.turn() as t:
            assert t.root["c"] == 2 * n
    return n / took


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    print(f"{n} moves per process, alternating between two Python processes")
    print("| pair (this process / peer) | round trips/s | µs per round trip | vs blocking |")
    print("|---|---:|---:|---:|")
    base = pair(n, "blocking", "blocking")
    for what, rate in [
        ("blocking / blocking (baseline)", base),
        ("asyncio / asyncio", pair(n, "async", "async")),
        ("asyncio / blocking", pair(n, "async", "blocking")),
    ]:
        print(f"| {what} | {rate:.0f} | {1e6 / rate:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
