"""Real processes sharing one segment: (c) many incrementers, (d) the root
namespace found by a late process, (f) a holder killed with SIGKILL, (g) the
GIL released while waiting, (i) fork and spawn children given a Segment and a
SharedList."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time

import pytest
from conftest import SEG_SIZE, recv

import shmheap

# ---- (c) 8 processes, one counter ---------------------------------------------

N_PROCS = 8
N_INCR = 400


def incrementer(name: str, n: int, go) -> None:
    seg = shmheap.Segment.attach(name)
    go.wait(30)
    for i in range(n):
        with seg.turn(timeout=60) as t:
            t.root["n"] += 1
            t.root["per"][i % 4] += 1
    seg.close()


def test_eight_processes_one_counter(seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["n"] = 0
        t.root["per"] = [0] * 4
    go = mp.get_context("fork").Event()
    for _ in range(N_PROCS):
        procs.start(incrementer, seg.name, N_INCR, go)
    go.set()
    procs.join_all(timeout=120)
    with seg.turn(timeout=10) as t:
        assert t.root["n"] == N_PROCS * N_INCR
        assert t.root["per"] == [N_PROCS * N_INCR // 4] * 4
        t.validate()


def batched_incrementer(name: str, n: int, batch: int, go) -> None:
    seg = shmheap.Segment.attach(name)
    seg.batch = batch
    assert seg.batch == batch
    go.wait(30)
    for _ in range(n):
        with seg.turn(timeout=60) as t:
            t.root["n"] += 1
    seg.close()


def test_batched_processes_count_exactly(seg, procs):
    """Processes that take turns in runs (`Segment.batch`) beside strict ones:
    every increment lands."""
    assert seg.batch == 1
    seg.batch = 0
    assert seg.batch == 1, "0 counts as 1"
    with seg.turn(timeout=10) as t:
        t.root["n"] = 0
    go = mp.get_context("fork").Event()
    batches = [1, 4, 16, 64, 1, 8]
    for b in batches:
        procs.start(batched_incrementer, seg.name, N_INCR, b, go)
    go.set()
    procs.join_all(timeout=120)
    with seg.turn(timeout=10) as t:
        assert t.root["n"] == len(batches) * N_INCR
        t.validate()


# ---- (d) the root namespace found by a late process -----------------------------


def root_writer(name: str) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        t.root["model"] = {"weights": [1.5, 2.5], "name": "m", "tags": {"a"}}


def root_appender(name: str) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        t.root["model"]["weights"].append(3.5)
        t.root["model"]["tags"].add("b")


def root_late_reader(name: str, conn) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        conn.send(shmheap.to_python(t.root["model"]))
        t.root["model"]["seen_by"] = os.getpid()


def test_root_found_by_late_third_process(seg, procs):
    procs.join(procs.start(root_writer, seg.name))
    procs.join(procs.start(root_appender, seg.name))
    a, b = mp.get_context("fork").Pipe()
    late = procs.start(root_late_reader, seg.name, b)
    got = recv(a)
    procs.join(late)
    assert got == {"weights": [1.5, 2.5, 3.5], "name": "m", "tags": {"a", "b"}}
    with seg.turn(timeout=10) as t:
        assert t.root["model"]["seen_by"] == late.pid


def test_root_outlives_creator_with_keep(names, procs):
    name = names("keep")
    with shmheap.Segment.create(name, SEG_SIZE, keep=True) as seg, seg.turn(timeout=10) as t:
        t.root["model"] = {"weights": [1.5, 2.5], "name": "m", "tags": {"a"}}
    # The creator left (keep=True): the name stays, a later process finds the root.
    procs.join(procs.start(root_appender, name))
    a, b = mp.get_context("spawn").Pipe()
    procs.join(procs.start(root_late_reader, name, b, ctx="spawn"))
    assert recv(a) == {"weights": [1.5, 2.5, 3.5], "name": "m", "tags": {"a", "b"}}


# ---- (f) a holder killed with SIGKILL --------------------------------------------


def killed_holder(name: str, ready) -> None:
    seg = shmheap.Segment.attach(name)
    with seg.turn(timeout=10) as t:
        t.root["data"] = [1, 2, 3]  # committed: the turn is handed on
        t.root["log"] = {"step": 1}
    t = seg.turn(timeout=10)  # held until SIGKILL
    ready.set()
    time.sleep(600)
    t.release()


def _kill_holder(seg, procs, ready_timeout=10.0):
    ready = mp.get_context("fork").Event()
    p = procs.start(killed_holder, seg.name, ready)
    assert ready.wait(ready_timeout), "the holder never took its turn"
    assert seg.try_turn() is None  # it holds the turn
    os.kill(p.pid, signal.SIGKILL)
    procs.join(p, 10, exitcode=-signal.SIGKILL)
    return p


def test_killed_holder_gives_peer_died_and_recover(seg, procs):
    p = _kill_holder(seg, procs)
    with pytest.raises(shmheap.PeerDied) as ei, seg.turn(timeout=10):
        pytest.fail("entered a turn whose holder died, without recovery")
    assert ei.value.pid == p.pid
    report = seg.recover()
    assert isinstance(report, dict), report
    with seg.turn(timeout=10) as t:
        assert t.root["data"] == [1, 2, 3]
        assert t.root["log"] == {"step": 1}
        t.root["data"].append(4)  # the segment works again
        assert t.root["data"] == [1, 2, 3, 4]
        t.validate()
    assert seg.recover() is None  # nothing left to recover


def test_killed_holder_auto_recover(names, procs):
    name = names("auto")
    with shmheap.Segment.create(name, SEG_SIZE, auto_recover=True) as seg:
        _kill_holder(seg, procs)
        with seg.turn(timeout=10) as t:
            assert t.root["data"] == [1, 2, 3]
        assert seg.last_recovery is not None


# ---- (g) the GIL is released while waiting -----------------------------------------


def slow_holder(name: str, ready, hold: float) -> None:
    seg = shmheap.Segment.attach(name)
    with seg.turn(timeout=10) as t:
        t.root["held_by"] = os.getpid()
        ready.set()
        time.sleep(hold)
        t.root["released"] = True
    seg.close()


def test_gil_released_while_waiting_for_turn(seg, procs):
    ready = mp.get_context("fork").Event()
    p = procs.start(slow_holder, seg.name, ready, 1.0)
    assert ready.wait(10)
    count = [0]
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    th = threading.Thread(target=counter, daemon=True)
    th.start()
    time.sleep(0.05)
    before = count[0]
    t0 = time.monotonic()
    with seg.turn(timeout=20) as t:  # waits ~1 s for the child
        waited = time.monotonic() - t0
        during = count[0] - before
        assert t.root["released"] is True
    stop.set()
    th.join(5)
    procs.join(p)
    assert waited > 0.5, waited
    # A thread kept running while the main thread waited: with the GIL held it
    # would not have counted at all.
    assert during > 10_000, during


# ---- (i) fork and spawn children receive a Segment and a SharedList ------------


def use_received(seg, lst, d, conn) -> None:
    with seg.turn(timeout=10) as t:
        lst.append(os.getpid())
        d["child"] = os.getpid()
        t.root["child_saw"] = list(lst)
        conn.send((seg.name, os.getpid() in seg.processes()))


@pytest.mark.parametrize("ctx", ["fork", "spawn"])
def test_children_receive_segment_and_shared_list(ctx, seg, procs):
    with seg.turn(timeout=10) as t:
        lst = t.put_message(["parent"])
        t.root["d"] = {}
        d = t.root["d"]
    a, b = mp.get_context(ctx).Pipe()
    p = procs.start(use_received, seg, lst, d, b, ctx=ctx)
    name, registered = recv(a)
    procs.join(p)
    assert name == seg.name
    assert registered, "the child is not among seg.processes() while attached"
    with seg.turn(timeout=10) as t:
        assert lst == ["parent", p.pid]
        assert d["child"] == p.pid
        assert t.root["child_saw"] == ["parent", p.pid]
        assert t.take_message() == ["parent", p.pid]
        t.free(lst)


# ---- Ctrl-C interrupts a wait for the turn ------------------------------------


def waits_for_ctrl_c(name, attached, held, conn) -> None:
    seg = shmheap.Segment.attach(name)  # attaching validates inside a turn
    attached.set()
    assert held.wait(10)
    try:
        with seg.turn():  # the parent holds the turn: only SIGINT ends this
            conn.send("entered")
    except KeyboardInterrupt:
        conn.send("interrupted")
    # The interrupted wait left no ticket behind: the turn still works here.
    with seg.turn(timeout=10) as t:
        conn.send(("after", t.root["x"]))


def test_ctrl_c_interrupts_a_wait_for_the_turn(seg, procs):
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    attached, held = ctx.Event(), ctx.Event()
    p = procs.start(waits_for_ctrl_c, seg.name, attached, held, b)
    assert attached.wait(10)
    with seg.turn(timeout=10) as t:
        t.root["x"] = 1
        held.set()
        time.sleep(0.3)  # the child is waiting in seg.turn() now
        os.kill(p.pid, signal.SIGINT)
        assert recv(a) == "interrupted"
    # The parent's turn ended: the child takes one and reads what it wrote.
    assert recv(a) == ("after", 1)
    procs.join(p)
