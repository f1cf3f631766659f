"""(a) the seed's README example end to end, and (l) the shmheap.cengal layer."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SEG_SIZE, recv, unlink_quietly

import shmheap
from shmheap import cengal
from shmheap.cengal import (
    IList,
    NoMessagesInQueueError,
    OperationTimedOutError,
    SharedMemory,
    wait_my_turn,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cengal_seed.py"


# ---- (a) the seed example -----------------------------------------------------


def test_seed_example_runs_with_exact_count():
    unlink_quietly("test_shared_mem")
    try:
        out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=False,
                             timeout=300, cwd=str(EXAMPLE.parent))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the example hung: {e.stdout!r} {e.stderr!r}")
    finally:
        unlink_quietly("test_shared_mem")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert "consumer: took ['hello', 0, (8, 2.0, False), {b'world': -6, 5: 4}]" in out.stdout \
        or any(line.startswith("consumer: took") for line in lines), out.stdout
    assert "creator: consumer exited with 0" in out.stdout, out.stdout
    assert lines[-1] == "count: 4000000 (expected 4000000)", out.stdout


def test_seed_example_changed_only_in_its_import_line():
    src = EXAMPLE.read_text()
    assert "from shmheap.cengal import *" in src
    assert "cengal.hardware" not in src and "ipc_py_objects" not in src


# ---- (l) the cengal layer ----------------------------------------------------------


def test_star_import_names():
    ns: dict = {}
    exec("from shmheap.cengal import *", ns)  # noqa: S102 - the star import is the API
    for n in ("SharedMemory", "wait_my_turn", "IList", "NoMessagesInQueueError"):
        assert n in ns
    assert cengal.NoMessagesInQueueError is shmheap.NoMessages
    assert cengal.OperationTimedOutError is shmheap.Timeout
    assert cengal.IList is shmheap.SharedList


def test_messages_in_one_process(names):
    name = names("cg")
    with SharedMemory(name, True, SEG_SIZE) as sm:
        assert sm.create and sm.name == name and sm.size >= SEG_SIZE
        # Outside wait_my_turn every operation takes a turn for itself.
        assert not sm.has_messages()
        with pytest.raises(NoMessagesInQueueError):
            sm.take_message()
        with pytest.raises(NoMessagesInQueueError):
            sm.read_message()
        assert sm.get_message() is None
        assert sm.get_message("dflt") == "dflt"
        assert sm.pop_message(7) == 7
        assert sm.put_message(5) == 5
        assert sm.has_messages()
        assert sm.read_message() == 5 and sm.get_message() == 5  # peeks
        assert sm.take_message() == 5
        with wait_my_turn(sm) as same:
            assert same is sm and sm.is_in_line()
            lst = sm.put_message([1, 2])
            assert isinstance(lst, IList)
            lst.append(3)
            with wait_my_turn(sm):  # nested: keeps the outer turn
                lst.append(4)
            assert sm.is_in_line()  # the inner block did not hand the turn on
            assert sm.take_message() == [1, 2, 3, 4]
            sm.destroy_obj(lst)
            with pytest.raises(shmheap.StaleHandle):
                lst[0]
            assert sm.pop_message() is None
        assert not sm.is_in_line()
        with pytest.raises(shmheap.NotInTurn):
            sm.put_message([1])[0]  # a live object outside any turn
    # Leaving the creator's block unlinks the name.
    with pytest.raises(shmheap.NotFound):
        shmheap.Segment.attach(name)


def test_method_style_turns_and_get_in_line(names):
    with SharedMemory(names("cgm"), True, SEG_SIZE) as sm:
        assert sm.wait_my_turn() is True
        assert sm.is_in_line()
        sm.put_message({"a": 1})
        assert sm.current_turn is not None and sm.current_turn.held
        sm.root["x"] = 1
        sm.release()
        assert not sm.is_in_line()
        assert sm.get_in_line() is True
        assert sm.root["x"] == 1
        d = sm.take_message()
        assert d == {"a": 1}
        sm.release()
        with pytest.raises(shmheap.NotInTurn):
            d["a"]


def test_creator_unlinks_stale_segment(names):
    name = names("stale")
    old = shmheap.Segment.create(name, 1 << 20, keep=True)
    with old.turn(timeout=10) as t:
        t.root["old"] = True
    old.close()
    with SharedMemory(name, True, SEG_SIZE) as sm, wait_my_turn(sm):
        assert "old" not in sm.root
    with pytest.raises(ValueError):
        SharedMemory(names("nosize"), True)


def test_timeouts(names):
    name = names("cgt")
    consumer = SharedMemory(names("absent"), False)
    t0 = time.monotonic()
    assert consumer.init_consumer(time_limit=0.2) is False
    assert time.monotonic() - t0 < 5
    with SharedMemory(name, True, SEG_SIZE, creator_destroy_timeout=0.5) as sm:
        assert sm.wait_consumer_ready(time_limit=0.2) is False
        assert sm.wait_for_messages(time_limit=0.2) is False


def cengal_holder(name: str, ready, done) -> None:
    with SharedMemory(name, False) as c:
        c.init_consumer(time_limit=10)
        with wait_my_turn(c):
            c.put_message("from holder")
            ready.set()
            done.wait(30)


def test_wait_my_turn_time_limit_raises_and_never_enters(names, procs):
    name = names("cgh")
    ctx = mp.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    with SharedMemory(name, True, SEG_SIZE) as sm:
        p = procs.start(cengal_holder, name, ready, done)
        assert ready.wait(10)
        entered = False
        with pytest.raises(OperationTimedOutError), wait_my_turn(sm, time_limit=0.2):
            entered = True
        assert not entered and not sm.is_in_line()
        assert sm.wait_my_turn(time_limit=0.2) is False
        done.set()
        assert sm.wait_for_messages(time_limit=10)
        assert sm.take_message() == "from holder"
        procs.join(p)


def cengal_consumer(name: str, conn) -> None:
    consumer = SharedMemory(name, False)
    with consumer:
        consumer.init_consumer(time_limit=10)
        assert consumer.wait_for_messages(time_limit=10)
        with wait_my_turn(consumer):
            data = consumer.take_message()
            data[1] += 10
            data[3]["n"] = os.getpid()
            consumer.put_message(("reply", len(data)))
        # ops outside wait_my_turn take their own turn
        consumer.put_message(bytearray(b"raw"))
    conn.send("closed")


def test_two_processes(names, procs):
    name = names("cg2")
    a, b = mp.get_context("fork").Pipe()
    creator = SharedMemory(name, True, SEG_SIZE)
    with creator:
        p = procs.start(cengal_consumer, name, b)
        assert creator.wait_consumer_ready(time_limit=20)
        with wait_my_turn(creator):
            data = creator.put_message(["hello", 0, (8, 2.0, False), {b"world": -6, 5: 4}])
        assert recv(a) == "closed"
        procs.join(p)
        with wait_my_turn(creator):
            assert data == ["hello", 10, (8, 2.0, False), {b"world": -6, 5: 4, "n": p.pid}]
            assert creator.take_message() == ("reply", 4)
            ba = creator.take_message()
            assert ba == b"raw"
            creator.destroy_obj(ba)
            assert not creator.has_messages()
        # the consumer left: leaving this block does not wait 5 s for it
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 3


def test_seed_semantics_read_message_peeks_take_removes(names):
    with SharedMemory(names("cgp"), True, SEG_SIZE) as sm:
        for m in ("a", "b", "c"):
            sm.put_message(m)
        assert sm.read_message() == "a"
        assert sm.get_message() == "a"
        assert sm.take_message() == "a"
        assert sm.pop_message() == "b"
        assert sm.message_count() == 1
