"""Transactional turns: ``with seg.transaction() as t:`` commits on a normal
exit; an exception leaving the block rolls the whole turn back and
propagates; a process killed inside one leaves nothing of it behind."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest
from conftest import recv

import shmheap


def fill(seg) -> None:
    with seg.turn(timeout=10) as t:
        t.root["a"] = 100
        t.root["b"] = 0
        t.root["log"] = ["start"]
        t.root["d"] = {"x": [1, 2], "y": {"z": 3}}
        t.root["s"] = {1, 2}
        t.root["ba"] = bytearray(b"hello")


def state(seg):
    with seg.turn(timeout=10) as t:
        r = t.root
        return (
            r["a"],
            r["b"],
            list(r["log"]),
            {k: (list(v) if k == "x" else dict(v)) for k, v in r["d"].items()},
            set(r["s"]),
            bytes(r["ba"]),
            sorted(r.keys()),
            t.stats()["used"],
        )


class Boom(Exception):
    pass


def transfer(t, amount: int, fail: bool) -> None:
    t.root["a"] -= amount
    t.root["log"].append(f"moved {amount}")
    t.root["d"]["x"].append(amount)
    del t.root["d"]["y"]
    t.root["s"].add(amount)
    t.root["ba"][0] = ord("J")
    t.root["ba"].extend(b" world")
    t.root["new"] = {"big": list(range(1000))}
    if fail:
        raise Boom("half-way")
    t.root["b"] += amount


def test_normal_exit_commits(seg):
    fill(seg)
    with seg.transaction(timeout=10) as t:
        assert t.is_transaction
        transfer(t, 30, fail=False)
    a, b, log, d, s, ba, keys, _ = state(seg)
    assert (a, b) == (70, 30)
    assert log == ["start", "moved 30"]
    assert d == {"x": [1, 2, 30]}
    assert s == {1, 2, 30}
    assert ba == b"Jello world"
    assert "new" in keys


def test_an_exception_rolls_everything_back_and_propagates(seg):
    fill(seg)
    before = state(seg)
    with pytest.raises(Boom), seg.transaction(timeout=10) as t:
        transfer(t, 30, fail=True)
    assert state(seg) == before
    with seg.turn(timeout=10) as t:
        assert not t.is_transaction
        report = t.validate()
        assert report["orphans"] == 0


def test_plain_turns_are_not_transactions(seg):
    fill(seg)
    with pytest.raises(Boom), seg.turn(timeout=10) as t:
        assert not t.is_transaction
        t.root["a"] = 1
        raise Boom()
    assert state(seg)[0] == 1


def test_rollback_keeps_the_turn_and_commit_hands_it_on(seg):
    fill(seg)
    before = state(seg)
    t = seg.transaction()
    transfer(t, 5, fail=False)
    t.rollback()
    assert t.held and t.is_transaction
    assert t.root["a"] == 100
    t.root["b"] = 7
    t.commit()
    assert not t.held
    after = state(seg)
    assert after[1] == 7
    assert after[0] == before[0] and after[2] == before[2]


def test_a_rolled_back_free_is_valid_again(seg):
    fill(seg)
    with seg.turn(timeout=10) as t:
        t.put_message(["owned", [1, 2, 3]])
        m = t.take_message()
    with pytest.raises(Boom), seg.transaction(timeout=10) as t:
        t.free(m)
        raise Boom()
    with seg.turn(timeout=10) as t:
        assert list(m) == ["owned", [1, 2, 3]]


# ---- across a real second process ----------------------------------------------


def failing_child(name: str, conn) -> None:
    seg = shmheap.Segment.attach(name)
    try:
        with seg.transaction(timeout=30) as t:
            transfer(t, 40, fail=True)
    except Boom:
        conn.send("raised")
    seg.close()


def test_an_exception_in_another_process_leaves_the_data(seg, procs):
    fill(seg)
    before = state(seg)
    parent, child = mp.get_context("fork").Pipe()
    p = procs.start(failing_child, seg.name, child)
    assert recv(parent, 60) == "raised"
    procs.join(p, 60)
    assert state(seg) == before


def killed_child(name: str, ready) -> None:
    seg = shmheap.Segment.attach(name)
    t = seg.transaction(timeout=30)
    transfer(t, 50, fail=False)
    ready.set()  # half of nothing committed: killed inside the turn
    time.sleep(600)


def test_a_process_killed_inside_a_transaction_leaves_nothing(seg, procs):
    fill(seg)
    before = state(seg)
    ready = mp.get_context("fork").Event()
    p = procs.start(killed_child, seg.name, ready)
    assert ready.wait(30), "the child never finished its changes"
    os.kill(p.pid, signal.SIGKILL)
    procs.join(p, 10, exitcode=-signal.SIGKILL)
    with pytest.raises(shmheap.PeerDied), seg.turn(timeout=10):
        pytest.fail("entered a turn whose holder died")
    assert isinstance(seg.recover(), dict)
    assert state(seg) == before
