"""Issue 12's acceptance, tried as a new user would: every new kind put by one
process comes back equal in another, a numpy array is mutated in place by both
without a copy, and a dataclass field is incremented in place across processes."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import recv

import shmheap

np = pytest.importorskip("numpy")


@dataclasses.dataclass
class Counter:
    name: str
    n: int = 0

    def bump(self, k: int = 1) -> int:
        self.n += k
        return self.n


def reader(name: str, conn) -> None:
    with shmheap.Segment.attach(name) as seg:
        with seg.turn(timeout=30) as t:
            msg = t.take_message()
            big, z, dec, when, delta, arr = msg
            conn.send((big, z, dec, when, delta, arr.shape, arr.dtype.str, float(arr.sum())))
            arr += 2.0  # in place, in the segment
            t.root["arr"] = msg  # keep it reachable (the taker owns the message)
        for _ in range(500):
            with seg.turn(timeout=30) as t:
                t.root["counter"].bump()


def test_a_new_user_shares_every_kind(seg, procs):
    when = datetime.now(UTC)
    with seg.turn(timeout=10) as t:
        live = t.put_message([2**100, 1 + 2j, Decimal("3.14"), when, timedelta(days=3), np.zeros((1000, 3))])
        arr = live[5]
        assert isinstance(arr, np.ndarray) and arr.shape == (1000, 3)
        arr += 1.0
        t.root["counter"] = Counter("c")
    a, b = mp.get_context("fork").Pipe()
    p = procs.start(reader, seg.name, b)
    got = recv(a)
    assert got == (2**100, 1 + 2j, Decimal("3.14"), when, timedelta(days=3), (1000, 3), "<f8", 3000.0)
    for _ in range(500):
        with seg.turn(timeout=30) as t:
            t.root["counter"].bump()
    procs.join(p)
    with seg.turn(timeout=10) as t:
        # The reader's += went to the same bytes this process's view shows.
        assert float(arr.sum()) == 3.0 * 3000
        assert float(t.root["arr"][5].sum()) == 3.0 * 3000
        c = t.root["counter"]
        assert isinstance(c, Counter)
        assert c.n == 1000
        assert c == Counter("c", 1000)
        t.validate()
