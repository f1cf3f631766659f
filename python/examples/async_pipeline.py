"""An async pipeline between two processes, the twin of
examples/async_pipeline.rs: an asyncio producer task puts messages into a
segment's queue while other tasks of the same event loop keep running (a
heartbeat, a monitor taking turns of its own), and a consumer in another
process (this script run again) takes them with ``seg.turn_async()`` on its
own event loop and counts them in the root namespace.

    python python/examples/async_pipeline.py          # 20 messages
    python python/examples/async_pipeline.py 100
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import shmheap


async def producer(n: int) -> int:
    name = f"shmheap-async-pipeline-py-{os.getpid()}"
    t0 = time.monotonic()

    def ms() -> int:
        return int((time.monotonic() - t0) * 1000)

    with shmheap.Segment.create(name, 8 << 20) as seg:
        async with seg.turn_async() as t:
            t.root["consumed"] = 0
        print(f"[{ms():>4} ms] producer: created {name}, starting the consumer process")
        child = await asyncio.create_subprocess_exec(sys.executable, __file__, "consumer", name)

        async def heartbeat() -> None:
            beats = 0
            while True:
                await asyncio.sleep(0.025)
                beats += 1
                if beats % 2 == 0:
                    print(f"[{ms():>4} ms] heartbeat: {beats} beats")

        async def monitor() -> None:
            while True:
                await asyncio.sleep(0.06)
                async with seg.turn_async() as t:
                    print(
                        f"[{ms():>4} ms] monitor: {t.message_count()} queued, "
                        f"{t.root['consumed']} consumed"
                    )

        tasks = [asyncio.create_task(heartbeat()), asyncio.create_task(monitor())]
        for i in range(n):
            async with seg.turn_async() as t:
                t.put_message({"seq": i, "text": f"message {i}", "square": i * i})
            print(f"[{ms():>4} ms] producer: put message {i}")
            await asyncio.sleep(0.01)
        async with seg.turn_async() as t:
            t.put_message("stop")
        print(f"[{ms():>4} ms] producer: put stop")
        code = await asyncio.wait_for(child.wait(), 60)
        for task in tasks:
            task.cancel()
        async with seg.turn_async() as t:
            consumed = t.root["consumed"]
        print(f"[{ms():>4} ms] producer: consumer exited ({code}); it consumed {consumed} of {n}")
        return 0 if consumed == n and code == 0 else 1


async def consumer(name: str) -> int:
    seg = shmheap.Segment.attach(name)
    t0 = time.monotonic()
    print(f"           consumer {os.getpid()}: attached to {name}")
    total = 0
    while True:
        async with seg.turn_async(timeout=30) as t:
            msg = t.take_message() if t.has_messages() else None
            if isinstance(msg, shmheap.SharedDict):
                local = msg.copy()
                t.free(msg)
                t.root["consumed"] += 1
                msg = local
        if msg == "stop":
            break
        if msg is None:
            await asyncio.sleep(0.003)  # nothing queued: let the producer work
            continue
        total += msg["square"]
        print(f"           consumer: took {msg} after {int((time.monotonic() - t0) * 1000)} ms")
    print(f"           consumer: stop; the squares add up to {total}")
    seg.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "consumer":
        sys.exit(asyncio.run(consumer(sys.argv[2])))
    sys.exit(asyncio.run(producer(int(sys.argv[1]) if len(sys.argv) > 1 else 20)))
