"""Objects of no built-in kind: instances of dataclasses and plain classes go
in as live objects (a class path and a shared attribute dict) and come back
as instances whose attribute reads and writes go to the segment; everything
else is pickled and comes back as an unpickled copy."""

from __future__ import annotations

import copy
import dataclasses
import enum
import fractions
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import types

import pytest
from conftest import CHILD_TIMEOUT, recv

import shmheap

# ---- classes (module level: importable by path in every process) ---------------------


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

    def norm2(self) -> int:
        return self.x * self.x + self.y * self.y

    def shift(self, dx: int) -> None:
        self.x += dx


@dataclasses.dataclass
class Counter:
    n: int = 0
    log: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: int
    b: str = "b"


@dataclasses.dataclass(slots=True)
class Slotted:
    a: int
    b: list


@dataclasses.dataclass
class Line:
    start: Point
    end: Point

    def length2(self) -> int:
        return Point(self.end.x - self.start.x, self.end.y - self.start.y).norm2()


class Plain:
    kind = "plain"  # a class attribute

    def __init__(self, v):
        self.v = v
        self.calls = 0

    def bump(self):
        self.calls += 1
        return self.calls

    @property
    def double(self):
        return self.v * 2


class WithSlots:
    __slots__ = ("__weakref__", "a", "b")

    def __init__(self, a):
        self.a = a  # b stays unset

    def total(self):
        return self.a + getattr(self, "b", 0)


class MoreSlots(WithSlots):
    __slots__ = ("c",)

    def __init__(self, a, c):
        super().__init__(a)
        self.c = c


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Reduced:
    """Takes its pickling in its own hands: pickled, not live."""

    def __init__(self, v):
        self.v = v

    def __reduce__(self):
        return (Reduced, (self.v,))


class Oops(ValueError):
    pass


# ---- pickled values: copies ---------------------------------------------------------


def test_pickled_values_round_trip_as_copies(seg):
    values = [
        Color.GREEN,
        Oops("bad", 7),
        fractions.Fraction(3, 7),
        Reduced([1, 2]),
        range(3, 9, 2),
        types.SimpleNamespace(a=1),
        slice(1, 5),
    ]
    with seg.turn(timeout=10) as t:
        t.root["v"] = values
        got = list(t.root["v"])
        assert got[0] is Color.GREEN  # an enum member unpickles to the singleton
        assert isinstance(got[1], Oops) and got[1].args == ("bad", 7)
        assert got[2] == fractions.Fraction(3, 7)
        assert isinstance(got[3], Reduced) and got[3].v == [1, 2]
        assert got[4] == range(3, 9, 2)
        assert got[5] == types.SimpleNamespace(a=1)
        assert got[6] == slice(1, 5)
        # A copy: changing it changes nothing in the segment.
        got[3].v.append(3)
        got[5].a = 99
        again = t.root["v"]
        assert again[3].v == [1, 2]
        assert again[5].a == 1
        assert again[3] is not got[3]
        # to_python and the list's own copy unpickle too.
        local = shmheap.to_python(t.root["v"])
        assert local[0] is Color.GREEN and local[2] == got[2] and local[3].v == [1, 2]
        t.validate()


def test_unpicklable_values_are_refused_with_a_type_error(seg):
    def local_function():
        pass

    class Local:
        pass

    with seg.turn(timeout=10) as t:
        for bad in (threading.Lock(), local_function, Local()):
            with pytest.raises(TypeError, match="cannot store a value of type"):
                t.root["x"] = bad
        assert "x" not in t.root
        t.validate()


def test_objects_and_pickles_are_not_keys(seg):
    with seg.turn(timeout=10) as t:
        t.root["d"] = {}
        for key in (Color.RED, Frozen(1), Plain(1)):
            with pytest.raises(TypeError, match="unhashable"):
                t.root["d"][key] = 1
        with pytest.raises(TypeError, match="unhashable"):
            t.root["s"] = {Color.RED}
        assert len(t.root["d"]) == 0


# ---- live instances -----------------------------------------------------------------


def test_dataclass_round_trip_is_live(seg):
    with seg.turn(timeout=10) as t:
        t.root["p"] = Point(3, 4)
        p = t.root["p"]
        assert isinstance(p, Point)
        assert p.__class__ is Point
        assert type(p) is not Point  # a live instance: a subclass made for Point
        assert p == Point(3, 4) and Point(3, 4) == p
        assert p != Point(3, 5)
        assert repr(p) == "Point(x=3, y=4)"
        assert p.norm2() == 25
        assert dataclasses.asdict(p) == {"x": 3, "y": 4}
        assert dataclasses.fields(p)[0].name == "x"
        p.x += 1
        p.shift(10)  # a method writing self.x
        assert t.root["p"].x == 14
        assert t.root["p"] == Point(14, 4)
        assert vars(p) == {"x": 14, "y": 4}
        assert isinstance(vars(p), shmheap.SharedDict)
        p.extra = "new"  # a new attribute goes to the segment too
        assert t.root["p"].extra == "new"
        del p.extra
        with pytest.raises(AttributeError):
            p.extra  # noqa: B018
        with pytest.raises(AttributeError):
            del p.missing
        local = shmheap.to_python(p)
        assert type(local) is Point and local == Point(14, 4)
        for c in (copy.copy(p), copy.deepcopy(p), dataclasses.replace(p, y=0)):
            assert type(c) is Point
        local.x = -1
        assert t.root["p"].x == 14
        t.validate()


def test_plain_class_with_dict(seg):
    with seg.turn(timeout=10) as t:
        t.root["o"] = Plain([1, 2])
        o = t.root["o"]
        assert isinstance(o, Plain)
        assert o.kind == "plain"  # class attribute
        assert o.double == [1, 2, 1, 2]  # property reading a shared attribute
        assert o.bump() == 1 and o.bump() == 2
        assert t.root["o"].calls == 2
        assert isinstance(o.v, shmheap.SharedList)
        o.v.append(3)  # nested containers are live
        assert t.root["o"].v == [1, 2, 3]
        o.kind = "mine"  # an instance attribute shadows the class attribute
        assert t.root["o"].kind == "mine" and Plain.kind == "plain"
        # Two reads of one object are the same object (plain class: identity).
        assert t.root["o"] == o and hash(t.root["o"]) == hash(o)
        t.root["o2"] = Plain(0)
        assert t.root["o2"] != o
        local = shmheap.to_python(o)
        assert type(local) is Plain
        assert local.__dict__ == {"v": [1, 2, 3], "calls": 2, "kind": "mine"}
        assert type(local.v) is list


def test_plain_class_with_slots(seg):
    with seg.turn(timeout=10) as t:
        t.root["w"] = WithSlots(5)
        t.root["m"] = MoreSlots(1, [7])
        w, m = t.root["w"], t.root["m"]
        assert isinstance(w, WithSlots) and isinstance(m, MoreSlots)
        assert w.total() == 5
        with pytest.raises(AttributeError):
            w.b  # noqa: B018 - an unset slot stays unset
        w.b = 10
        assert t.root["w"].total() == 15
        assert m.c == [7] and isinstance(m.c, shmheap.SharedList)
        m.c.append(8)
        m.a += 1
        assert t.root["m"].c == [7, 8] and t.root["m"].a == 2
        with pytest.raises(AttributeError):
            t.root["w"].not_a_slot = 1  # as on a local instance: no __dict__
        local = shmheap.to_python(m)
        assert type(local) is MoreSlots and (local.a, local.c) == (2, [7, 8])
        s = Slotted(1, [2])
        t.root["s"] = s
        assert t.root["s"] == s
        t.root["s"].b.append(3)
        assert t.root["s"] == Slotted(1, [2, 3])


def test_frozen_dataclass(seg):
    with seg.turn(timeout=10) as t:
        t.root["f"] = Frozen(1)
        f = t.root["f"]
        assert f == Frozen(1) and hash(f) == hash(Frozen(1))
        with pytest.raises(dataclasses.FrozenInstanceError):
            f.a = 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            del f.b
        assert t.root["f"].a == 1
        assert shmheap.to_python(f) == Frozen(1)


def test_nested_objects_and_containers_are_live(seg):
    with seg.turn(timeout=10) as t:
        t.root["line"] = Line(Point(0, 0), Point(3, 4))
        t.root["bag"] = {"c": Counter(), "objs": [Point(1), Plain(2)]}
        line = t.root["line"]
        assert line.length2() == 25
        line.end.x += 3
        assert t.root["line"].end == Point(6, 4)
        c = t.root["bag"]["c"]
        c.log.append("a")
        c.n += 1
        t.root["bag"]["objs"][0].y = 9
        assert t.root["bag"]["c"] == Counter(1, ["a"])
        assert t.root["bag"]["objs"][0] == Point(1, 9)
        assert shmheap.to_python(t.root["bag"])["c"] == Counter(1, ["a"])
        # Plain has identity equality: check its parts.
        objs = shmheap.to_python(t.root["bag"]["objs"])
        assert objs[0] == Point(1, 9) and type(objs[1]) is Plain and objs[1].v == 2
        # Storing a live instance elsewhere stores a copy of it.
        t.root["copy"] = line
        t.root["copy"].start.x = 100
        assert line.start.x == 0


def test_objects_as_messages(seg):
    with seg.turn(timeout=10) as t:
        p = t.put_message(Point(1, 2))
        assert p == Point(1, 2)
        p.x = 5
        got = t.take_message()
        assert got == Point(5, 2)
        got.y += 1
        assert got.norm2() == 34
        before = t.stats()["blocks"]
        t.free(got)
        assert t.stats()["blocks"] < before
        t.validate()


def test_outside_a_turn_attribute_access_raises_not_in_turn(seg):
    with seg.turn(timeout=10) as t:
        t.root["p"] = Point(1, 2)
        p = t.root["p"]
    assert isinstance(p, Point)  # the class is local: no turn needed
    with pytest.raises(shmheap.NotInTurn):
        p.x  # noqa: B018
    with pytest.raises(shmheap.NotInTurn):
        p.x = 3
    with pytest.raises(shmheap.NotInTurn):
        p.norm2()
    with seg.turn(timeout=10) as t:
        assert p.x == 1  # usable again in a later turn


def test_stale_after_free(seg):
    with seg.turn(timeout=10) as t:
        t.root["p"] = Point(1, 2)
        p = t.root["p"]
        del t.root["p"]
        with pytest.raises(shmheap.StaleHandle):
            p.x  # noqa: B018


# ---- across processes ---------------------------------------------------------------

N_INCR = 5000


def incr_field(name, n, go, done) -> None:
    seg = shmheap.Segment.attach(name)
    go.wait(30)
    for _ in range(n):
        with seg.turn(timeout=60) as t:
            t.root["c"].n += 1
    done.send("ok")
    seg.close()


def test_two_processes_increment_a_dataclass_field_to_an_exact_count(seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["c"] = Counter()
    ctx = mp.get_context("fork")
    go = ctx.Event()
    pipes = [ctx.Pipe() for _ in range(2)]
    for _, b in pipes:
        procs.start(incr_field, seg.name, N_INCR, go, b)
    go.set()
    for a, _ in pipes:
        assert recv(a, timeout=120) == "ok"
    procs.join_all(timeout=120)
    with seg.turn(timeout=10) as t:
        assert t.root["c"].n == 2 * N_INCR
        assert t.root["c"] == Counter(2 * N_INCR)
        t.validate()


def child_uses_objects(name, conn) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        p = t.root["p"]
        assert isinstance(p, Point) and p == Point(1, 2)
        p.shift(100)
        t.root["w"].b = os.getpid()
        t.root["o"].v.append("child")
        t.root["from_child"] = Line(Point(os.getpid()), Point(0))
        conn.send((p.norm2(), repr(p)))


def test_a_child_process_reads_and_changes_objects(seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["p"] = Point(1, 2)
        t.root["w"] = WithSlots(1)
        t.root["o"] = Plain([])
    a, b = mp.get_context("fork").Pipe()
    p = procs.start(child_uses_objects, seg.name, b)
    assert recv(a) == (101 * 101 + 4, "Point(x=101, y=2)")
    procs.join(p)
    with seg.turn(timeout=10) as t:
        assert t.root["p"] == Point(101, 2)
        assert t.root["w"].total() == 1 + p.pid
        assert t.root["o"].v == ["child"]
        assert t.root["from_child"].start.x == p.pid
        t.validate()


def received_instance(seg, obj, conn) -> None:
    with seg.turn(timeout=10):
        obj.n += 1
        obj.log.append(os.getpid())
        conn.send(type(obj).__mro__[1].__name__)


@pytest.mark.parametrize("ctx", ["fork", "spawn"])
def test_a_live_instance_pickles_to_another_process_live(ctx, seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["c"] = Counter(1)
        c = t.root["c"]
        # Pickled live (a reference into the segment), as SharedList is; no
        # turn is needed to pickle it.
    data = pickle.dumps(c)
    a, b = mp.get_context(ctx).Pipe()
    p = procs.start(received_instance, seg, c, b, ctx=ctx)
    assert recv(a) == "Counter"
    procs.join(p)
    with seg.turn(timeout=10) as t:
        assert t.root["c"] == Counter(2, [p.pid])
        assert pickle.loads(data) == Counter(2, [p.pid])


# ---- a class the reader cannot import -----------------------------------------------

READER = textwrap.dedent(
    """
    import sys, shmheap
    seg = shmheap.Segment.attach(sys.argv[1])
    with seg.turn(timeout=10) as t:
        try:
            t.root["thing"]
        except shmheap.ClassNotFound as e:
            assert isinstance(e, TypeError) and isinstance(e, shmheap.Error)
            print("ClassNotFound", e.path, "|", e)
        try:
            t.root["pickled"]
        except shmheap.ClassNotFound as e:
            print("ClassNotFound", "|", e)
        print("other", t.root["other"])
    seg.close()
    """
)


def test_a_class_the_reader_cannot_import_gives_a_clear_error(seg):
    mod = types.ModuleType("shmheap_only_in_writer")
    sys.modules[mod.__name__] = mod
    exec(  # noqa: S102 - a module that exists only in this process
        "import dataclasses\n"
        "@dataclasses.dataclass\nclass Thing:\n    a: int\n"
        "class Pick:\n    def __reduce__(self): return (Pick, ())\n",
        mod.__dict__,
    )
    try:
        with seg.turn(timeout=10) as t:
            t.root["thing"] = mod.Thing(1)
            t.root["pickled"] = mod.Pick()
            t.root["other"] = 5
            assert t.root["thing"] == mod.Thing(1)
        out = subprocess.run(
            [sys.executable, "-c", READER, seg.name],
            check=False,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            cwd="/",
        )
    finally:
        del sys.modules[mod.__name__]
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ClassNotFound shmheap_only_in_writer:Thing |"), lines
    assert "shmheap_only_in_writer:Thing" in lines[0].split("|", 1)[1]
    assert lines[1].startswith("ClassNotFound |") and "shmheap_only_in_writer" in lines[1]
    assert lines[2] == "other 5"
