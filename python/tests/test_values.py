"""(k) repr, == with local values, to_python, copy(), and the Python types a
value comes back as."""

from __future__ import annotations

import pickle
from collections import abc

import pytest

import shmheap

NESTED = ["hello", 0, (8, 2.0, False), {b"world": -6, 5: 4}, [1, [2, {3}]], {"s": {1, 2}},
          bytearray(b"ba"), None, -(2**63), 2**63 - 1, 1e300, "é✓", b"\x00\xff"]


def test_repr_shows_the_values(seg):
    with seg.turn(timeout=10) as t:
        lst = t.put_message([1, "a", (2.0, None), b"x"])
        d = t.put_message({"k": [1]})
        s = t.put_message({3})
        ba = t.put_message(bytearray(b"ab"))
        assert "1, 'a', (2.0, None), b'x'" in repr(lst)
        assert "'k': [1]" in repr(d)
        assert "3" in repr(s)
        assert "b'ab'" in repr(ba) or "bytearray(b'ab')" in repr(ba)
        assert str(lst) == repr(lst)


def test_equality_with_local_values(seg):
    with seg.turn(timeout=10) as t:
        lst = t.put_message(list(NESTED))
        assert lst == NESTED and NESTED == lst
        assert not (lst != NESTED)  # noqa: SIM202 - __ne__ itself
        assert lst != NESTED[:-1] and lst != NESTED + [1]
        assert lst[3] == {b"world": -6, 5: 4} and lst[3] != {b"world": -6}
        assert lst[4] == [1, [2, {3}]]
        assert lst[5] == {"s": {1, 2}}
        assert lst[6] == b"ba" and lst[6] == bytearray(b"ba")
        assert lst[2] == (8, 2.0, False) and isinstance(lst[2], tuple)
        s = t.put_message({1, 2})
        assert s == {1, 2} and s == frozenset({1, 2}) and s != {1}
        # 1 == 1.0 == True, as in Python
        assert t.put_message([1, 2.0]) == [1.0, 2]
        d = t.put_message({1: "one"})
        assert d[1.0] == "one" and d[True] == "one" and True in d
        # comparisons
        assert t.put_message([1, 2]) < [1, 3]
        assert t.put_message({1}) < {1, 2}
        # a shared object equals another shared object with the same contents
        assert lst == t.put_message(list(NESTED))


def test_shared_types_are_the_abcs(seg):
    with seg.turn(timeout=10) as t:
        assert isinstance(t.put_message([]), abc.MutableSequence)
        assert isinstance(t.put_message({}), abc.MutableMapping)
        assert isinstance(t.put_message(set()), abc.MutableSet)
        assert isinstance(t.root, shmheap.SharedDict)


def test_value_types_come_back(seg):
    with seg.turn(timeout=10) as t:
        t.root["v"] = list(NESTED)
        v = t.root["v"]
        assert isinstance(v, shmheap.SharedList)
        types = [type(x) for x in v]
        assert types[:3] == [str, int, tuple]
        assert types[3] is shmheap.SharedDict
        assert types[4] is shmheap.SharedList and type(v[4][1][1]) is shmheap.SharedSet
        assert types[6] is shmheap.SharedByteArray
        assert v[7] is None and type(v[2][2]) is bool
        assert v[8] == -(2**63) and v[9] == 2**63 - 1 and v[10] == 1e300
        assert v[11] == "é✓" and v[12] == b"\x00\xff"
        assert type(t.put_message(frozenset({1}))) is frozenset


def test_to_python_and_copy_are_deep_local(seg):
    with seg.turn(timeout=10) as t:
        lst = t.put_message(list(NESTED))
        for local in (shmheap.to_python(lst), lst.copy()):
            assert type(local) is list and local == NESTED
            assert type(local[3]) is dict and type(local[4]) is list
            assert type(local[4][1]) is list and type(local[4][1][1]) is set
            assert type(local[5]["s"]) is set and type(local[6]) is bytearray
            local[4][1].append("x")  # a local copy: the segment does not change
            local[3].clear()
        assert lst == NESTED
        d = t.put_message({"a": [1, {"b": {2}}]})
        dc = d.copy()
        assert type(dc) is dict and type(dc["a"]) is list and type(dc["a"][1]) is dict
        assert type(dc["a"][1]["b"]) is set
        s = t.put_message({1, (2, 3)})
        assert type(s.copy()) is set and s.copy() == {1, (2, 3)}
        assert shmheap.to_python(5) == 5 and shmheap.to_python("x") == "x"
        assert type(shmheap.to_python(t.put_message(bytearray(b"z")))) is bytearray
        assert shmheap.to_python(t.root) == {}


def test_in_place_scalar_mutation(seg):
    with seg.turn(timeout=10) as t:
        t.root["counters"] = [0] * 16
        t.root["f"] = {"x": 1.5}
    for _ in range(3):
        with seg.turn(timeout=10) as t:
            t.root["counters"][3] += 1
            t.root["counters"][-1] -= 2
            t.root["f"]["x"] *= 2
    with seg.turn(timeout=10) as t:
        c = t.root["counters"]
        assert c[3] == 3 and c[15] == -6 and sum(c) == -3
        assert t.root["f"]["x"] == 12.0


def test_design_example(seg):
    """The DESIGN.md example, as written there."""
    with seg.turn() as t:
        t.put_message(["hello", 0, (8, 2.0, False), {b"world": -6, 5: 4}])
        t.root["counters"] = [0] * 16
    with seg.turn(timeout=1.0) as t:
        msg = t.take_message()
        msg[1] += 999
        msg.append(3.5)
        assert msg[-1] == 3.5
        assert msg[1:3] == [999, (8, 2.0, False)]
        del msg[::2]
        assert msg == [999, {b"world": -6, 5: 4}]
        t.root["counters"][3] += 1
        t.free(msg)


def test_segment_properties_and_pickle(seg):
    assert seg.size >= 16 << 20
    assert not seg.closed
    assert isinstance(seg.processes(), list)
    s2 = pickle.loads(pickle.dumps(seg))
    assert s2.name == seg.name
    s2.close()
    with seg.turn(timeout=10) as t:
        st = t.stats()
        assert isinstance(st, dict) and st
        assert isinstance(t.validate(), dict)
        assert t.waiters == 0


def test_closed_segment(names):
    s = shmheap.Segment.create(names("closed"), 1 << 20)
    s.close()
    assert s.closed
    with pytest.raises(shmheap.Error):
        s.turn(timeout=1)
