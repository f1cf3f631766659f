"""(j) SharedByteArray: the buffer protocol is zero-copy across processes, and
resizing while a view is exported raises BufferError."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from conftest import recv

import shmheap


def write_through_view(name: str, conn) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        ba = t.root["buf"]
        with memoryview(ba) as mv:
            mv[0:5] = b"HELLO"
            mv[-1] = ord("!")
        conn.send(bytes(ba))


def test_memoryview_is_zero_copy_across_processes(seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["buf"] = bytearray(b"hello world")
        ba = t.root["buf"]
        assert isinstance(ba, shmheap.SharedByteArray)
        mv = memoryview(ba)
        assert not mv.readonly and len(mv) == 11 and mv.format == "B"
        mv[6] = ord("W")  # a write through the view is a write to the segment
        assert ba[6] == ord("W") and ba == b"hello World"
        mv.release()
    a, b = mp.get_context("fork").Pipe()
    p = procs.start(write_through_view, seg.name, b)
    assert recv(a) == b"HELLO Worl!"
    procs.join(p)
    with seg.turn(timeout=10) as t:
        assert t.root["buf"] == b"HELLO Worl!"
        with memoryview(t.root["buf"]) as mv2:
            assert mv2.tobytes() == b"HELLO Worl!"


def test_resize_while_exported_raises_buffer_error(seg):
    with seg.turn(timeout=10) as t:
        ba = t.put_message(bytearray(b"abc"))
        mv = memoryview(ba)
        for resize in (lambda: ba.append(1), lambda: ba.extend(b"de"), lambda: ba.pop(),
                       lambda: ba.clear(), lambda: ba.__delitem__(0), lambda: ba.insert(0, 1),
                       lambda: ba.__iadd__(b"x"), lambda: ba.__setitem__(slice(0, 1), b"xyz")):
            with pytest.raises(BufferError):
                resize()
        assert ba == b"abc"
        ba[0] = ord("A")  # same size: allowed
        assert mv[0] == ord("A")
        mv.release()
        ba.append(ord("d"))  # released: resizing works again
        assert ba == b"Abcd"
        assert t.take_message() == b"Abcd"  # a queued message is the queue's until taken
        t.free(ba)


def test_bytearray_methods(seg):
    with seg.turn(timeout=10) as t:
        ba = t.put_message(bytearray(b"hello"))
        local = bytearray(b"hello")
        for op in (lambda b: b.append(33), lambda b: b.extend(b" wo"), lambda b: b.insert(0, 62),
                   lambda b: b.pop(), lambda b: b.pop(0), lambda b: b.remove(ord("l")),
                   lambda b: b.reverse(), lambda b: b.__setitem__(slice(1, 3), b"XYZ"),
                   lambda b: b.__delitem__(slice(None, None, 2)), lambda b: b.__iadd__(b"++")):
            r1, r2 = op(local), op(ba)
            if r1 is local:  # __iadd__ returns the object itself (or another wrapper of it)
                r1 = None
                r2 = None if isinstance(r2, shmheap.SharedByteArray) else r2
            assert r1 == r2
            assert ba == local and len(ba) == len(local) and list(ba) == list(local)
        assert ba[1:3] == local[1:3] and isinstance(ba[1:3], bytearray)
        assert ba[-1] == local[-1]
        assert ord("+") in ba
        assert ba.copy() == local and isinstance(ba.copy(), bytearray)
        # bytearray's other methods through __getattr__
        assert ba.upper() == local.upper()
        assert ba.find(b"+") == local.find(b"+")
        assert ba.hex() == local.hex()
        with pytest.raises(IndexError):
            ba[100]
        with pytest.raises(ValueError):
            ba.remove(250)
