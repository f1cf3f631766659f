"""(h) Threads of one process take turns like processes do."""

from __future__ import annotations

import threading

import pytest

import shmheap

N = 2000


def test_two_threads_exact_count(seg):
    with seg.turn(timeout=10) as t:
        t.root["n"] = 0
        t.root["l"] = [0, 0]
    errors = []

    def work(slot):
        try:
            for _ in range(N):
                with seg.turn(timeout=30) as t:
                    t.root["n"] += 1
                    t.root["l"][slot] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ths = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(2)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)
        assert not th.is_alive(), "a thread is stuck"
    assert errors == []
    with seg.turn(timeout=10) as t:
        assert t.root["n"] == 2 * N
        assert t.root["l"] == [N, N]


def test_second_turn_in_same_thread_is_an_error(seg):
    with seg.turn(timeout=10) as t:
        with pytest.raises(shmheap.Error):
            seg.turn(timeout=1)
        assert t.held
        t.root["still"] = True
    with seg.turn(timeout=10) as t:
        assert t.root["still"] is True


def test_thread_waits_for_the_holding_thread(seg):
    order = []
    held = threading.Event()

    def other():
        held.wait(10)
        with seg.turn(timeout=30) as t:
            order.append("other")
            t.root["other"] = list(t.root["main"])

    th = threading.Thread(target=other, daemon=True)
    th.start()
    with seg.turn(timeout=10) as t:
        t.root["main"] = [1]
        held.set()
        # The other thread is waiting (GIL released): give it time to get in.
        th.join(0.3)
        assert th.is_alive()
        t.root["main"].append(2)
        order.append("main")
    th.join(30)
    assert not th.is_alive()
    assert order == ["main", "other"]
    with seg.turn(timeout=10) as t:
        assert t.root["other"] == [1, 2]


def test_try_turn_in_threads(seg):
    with seg.turn(timeout=10):
        got = []
        th = threading.Thread(target=lambda: got.append(seg.try_turn()))
        th.start()
        th.join(10)
        assert got == [None]
    t = seg.try_turn()
    assert t is not None and t.held
    t.release()
