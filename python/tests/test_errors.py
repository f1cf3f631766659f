"""(e) The errors a user meets: NotInTurn, Timeout, NameTaken / NotFound,
StaleHandle, NoMessages."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
from conftest import SEG_SIZE, recv

import shmheap


def test_exception_hierarchy():
    for cls in (shmheap.NameTaken, shmheap.NotFound, shmheap.Timeout, shmheap.OutOfMemory,
                shmheap.NoMessages, shmheap.PeerDied, shmheap.Corrupt, shmheap.StaleHandle,
                shmheap.NotInTurn):
        assert issubclass(cls, shmheap.Error)
    assert issubclass(shmheap.Error, Exception)
    assert issubclass(shmheap.NameTaken, FileExistsError)
    assert issubclass(shmheap.NotFound, FileNotFoundError)
    assert issubclass(shmheap.Timeout, TimeoutError)
    assert issubclass(shmheap.OutOfMemory, MemoryError)
    assert issubclass(shmheap.NoMessages, LookupError)


# ---- NotInTurn --------------------------------------------------------------


def test_not_in_turn_outside_any_turn(seg):
    with seg.turn(timeout=10) as t:
        lst = t.put_message([1, 2, 3])
        t.root["d"] = {"a": 1}
        d = t.root["d"]
        t.root["s"] = {1}
        s = t.root["s"]
        ba = t.put_message(bytearray(b"abc"))
    # The turn ended: every access raises, none reads unsynchronised memory.
    accesses = [
        lambda: lst[0],
        lambda: len(lst),
        lambda: lst.append(4),
        lambda: list(lst),
        lambda: lst == [1, 2, 3],
        lambda: shmheap.to_python(lst),
        lambda: d["a"],
        lambda: d.__setitem__("b", 2),
        lambda: len(d),
        lambda: 1 in s,
        lambda: s.add(2),
        lambda: ba[0],
        lambda: memoryview(ba),
    ]
    for i, f in enumerate(accesses):
        with pytest.raises(shmheap.NotInTurn):
            f()
            pytest.fail(f"access {i} succeeded outside a turn")
    # ... and in the next turn they work again, unchanged.
    with seg.turn(timeout=10):
        assert lst == [1, 2, 3] and d == {"a": 1} and s == {1} and ba == b"abc"


def test_not_in_turn_after_release(seg):
    t = seg.turn(timeout=10)
    assert t.held
    lst = t.put_message([1])
    root = t.root
    t.release()
    assert not t.held
    with pytest.raises(shmheap.NotInTurn):
        lst.append(2)
    with pytest.raises(shmheap.NotInTurn):
        root["x"] = 1
    with pytest.raises(shmheap.NotInTurn):
        t.put_message(1)
    with pytest.raises(shmheap.NotInTurn):
        _ = t.root
    t.release()  # releasing twice is harmless
    with seg.turn(timeout=10) as t2:
        assert lst == [1]
        assert "x" not in t2.root


def test_not_in_turn_from_another_thread(seg):
    import threading

    errors = []
    with seg.turn(timeout=10) as t:
        lst = t.put_message([1])

        def other():
            try:
                lst.append(2)
            except shmheap.NotInTurn:
                errors.append("NotInTurn")
            except Exception as e:  # noqa: BLE001 - reported as the failure
                errors.append(repr(e))

        th = threading.Thread(target=other)
        th.start()
        th.join(10)
        assert lst == [1]
    assert errors == ["NotInTurn"], "a thread without the turn used the turn of another thread"


# ---- Timeout ----------------------------------------------------------------


def holder(name: str, ready, done) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        t.root["data"] = [1, 2, 3]
        ready.set()
        done.wait(30)
        t.root["data"].append(4)


def test_timeout_while_another_process_holds(seg, procs):
    ctx = mp.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    p = procs.start(holder, seg.name, ready, done)
    assert ready.wait(10)
    entered = False
    t0 = time.monotonic()
    with pytest.raises(shmheap.Timeout) as ei, seg.turn(timeout=0.3):
        entered = True
    waited = time.monotonic() - t0
    assert isinstance(ei.value, TimeoutError)
    assert not entered
    assert 0.25 <= waited < 5, waited
    assert seg.try_turn() is None
    done.set()
    procs.join(p)
    with seg.turn(timeout=10) as t:
        # The holder's data is intact and its turn ran to the end.
        assert t.root["data"] == [1, 2, 3, 4]
        t.validate()


# ---- NameTaken / NotFound ---------------------------------------------------


def test_name_taken_and_not_found(names):
    name = names("taken")
    with shmheap.Segment.create(name, SEG_SIZE) as seg:
        with pytest.raises(shmheap.NameTaken):
            shmheap.Segment.create(name, SEG_SIZE)
        with pytest.raises(FileExistsError):
            shmheap.Segment.create(name, SEG_SIZE)
        assert seg.name == name
    # The creator's with block unlinked the name.
    with pytest.raises(shmheap.NotFound):
        shmheap.Segment.attach(name)
    with pytest.raises(FileNotFoundError):
        shmheap.Segment.attach(names("never"))


# ---- StaleHandle ----------------------------------------------------------------


def freer(name: str, conn) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        lst = t.take_message()
        t.free(lst)
        del t.root["x"]  # removing a slot frees what it owned
        conn.send("freed")


def test_stale_handle_freed_in_another_process(seg, procs):
    with seg.turn(timeout=10) as t:
        lst = t.put_message([1, 2, 3])
        t.root["x"] = {"k": [1]}
        x = t.root["x"]
        inner = x["k"]
    a, b = mp.get_context("fork").Pipe()
    p = procs.start(freer, seg.name, b)
    assert recv(a) == "freed"
    procs.join(p)
    with seg.turn(timeout=10) as t:
        for f in (lambda: lst[0], lambda: len(lst), lambda: lst.append(1),
                  lambda: x["k"], lambda: inner.append(2)):
            with pytest.raises(shmheap.StaleHandle):
                f()
        # The space can be reused without the stale handles seeing it.
        t.root["y"] = [9, 9, 9]
        with pytest.raises(shmheap.StaleHandle):
            lst[0]
        t.validate()


def test_stale_handle_same_process(seg):
    with seg.turn(timeout=10) as t:
        d = t.put_message({"a": 1})
        assert t.take_message() == {"a": 1}
        t.free(d)
        with pytest.raises(shmheap.StaleHandle):
            d["a"]
        t.free(5)  # freeing a plain value is a no-op


# ---- NoMessages -------------------------------------------------------------------


def test_no_messages(seg):
    with seg.turn(timeout=10) as t:
        assert not t.has_messages()
        assert t.message_count() == 0
        with pytest.raises(shmheap.NoMessages):
            t.take_message()
        with pytest.raises(LookupError):
            t.read_message()
        assert t.put_message(7) == 7
        assert t.put_message("s") == "s"
        assert t.message_count() == 2
        assert t.read_message() == 7  # a peek
        assert t.take_message() == 7  # FIFO
        assert t.take_message() == "s"
        with pytest.raises(shmheap.NoMessages):
            t.take_message()


def test_messages_fifo_and_kinds(seg):
    msgs = [None, True, 3, 2.5, "str", b"bytes", frozenset({1}), (1, (2, "x")),
            [1, [2]], {"a": {1: 2}}, {1, 2}, bytearray(b"ba")]
    with seg.turn(timeout=10) as t:
        for m in msgs:
            t.put_message(m)
    with seg.turn(timeout=10) as t:
        for m in msgs:
            got = t.take_message()
            assert got == m and type(shmheap.to_python(got)) is type(m), (m, got)
            t.free(got)
        assert not t.has_messages()
        t.validate()


def test_tuple_holding_live_container(seg):
    with seg.turn(timeout=10) as t:
        t.put_message((1, [2, 3]))
        tup = t.take_message()
        assert isinstance(tup, tuple)
        assert isinstance(tup[1], shmheap.SharedList)
        tup[1].append(4)
        assert tup == (1, [2, 3, 4])
        t.free(tup)
        with pytest.raises(shmheap.StaleHandle):
            tup[1].append(5)


def test_unsupported(seg):
    with seg.turn(timeout=10) as t:
        # Ints beyond int64 are stored since format 4 (test_kinds_scalars.py).
        t.root["big"] = [1, -(2**63) - 1]
        assert t.root.pop("big") == [1, -(2**63) - 1]
        with pytest.raises(TypeError):
            t.root["x"] = lambda: 0  # neither a plain class instance nor picklable
        with pytest.raises(TypeError):
            t.root[[1]] = 1  # unhashable key, as with dict
        assert not t.has_messages()
        t.validate()


def test_out_of_memory_leaves_data_intact(names):
    with shmheap.Segment.create(names("oom"), 1 << 20) as seg, seg.turn(timeout=10) as t:
        t.root["keep"] = [1, 2, 3]
        with pytest.raises(shmheap.OutOfMemory):
            t.root["big"] = b"x" * (2 << 20)
        with pytest.raises(MemoryError):
            t.root["keep"].extend(range(1 << 20))
        assert t.root["keep"][:3] == [1, 2, 3]
        t.validate()
