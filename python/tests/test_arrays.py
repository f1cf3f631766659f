"""Numeric arrays: numpy arrays (and memoryview, array.array) go in as
shared arrays and come back as numpy arrays over the segment's bytes (no
copy), mutated in place by several processes."""

from __future__ import annotations

import array
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import recv

import shmheap

np = pytest.importorskip("numpy")

DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
]


def sample(dtype: str, shape=(3, 4)) -> np.ndarray:
    n = int(np.prod(shape))
    if dtype == "bool":
        return (np.arange(n) % 3 == 0).reshape(shape)
    info = np.iinfo(dtype) if dtype[0] in "iu" else np.finfo(dtype)
    a = np.linspace(0, 1, n).reshape(shape) * (float(info.max) / 2)
    a = a.astype(dtype)
    a.flat[-1] = info.max
    a.flat[0] = info.min
    return a


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def inside(seg: shmheap.Segment, a: np.ndarray) -> bool:
    start, end = seg._mapping_range()
    return start <= address(a) and address(a) + a.nbytes <= end


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips_as_a_view(seg, dtype):
    a = sample(dtype)
    with seg.turn(timeout=10) as t:
        t.root["a"] = a
        b = t.root["a"]
        assert isinstance(b, np.ndarray)
        assert b.dtype == np.dtype(dtype)
        assert b.shape == a.shape
        assert np.array_equal(a, b)
        assert b.flags.writeable and b.flags.c_contiguous
        assert inside(seg, b), "the ndarray's buffer is the segment's bytes"
        assert address(b) % 64 == 0
        assert np.array_equal(shmheap.to_python(t.root)["a"], a)
        t.validate()


def test_non_contiguous_inputs_are_copied_in_c_order(seg):
    a = np.arange(24, dtype=np.int32).reshape(4, 6)
    with seg.turn(timeout=10) as t:
        for name, x in {"step": a[:, ::2], "T": a.T, "neg": a[::-1, ::-3]}.items():
            assert not x.flags.c_contiguous
            t.root[name] = x
            got = t.root[name]
            assert got.shape == x.shape and np.array_equal(got, x), name
            assert got.flags.c_contiguous


def test_zero_d_and_empty_arrays(seg):
    with seg.turn(timeout=10) as t:
        t.root["z"] = np.array(3.5)
        z = t.root["z"]
        assert z.shape == () and z.dtype == np.float64 and float(z) == 3.5
        for shape in [(0,), (3, 0), (0, 2, 5)]:
            t.root["e"] = np.zeros(shape, dtype=np.uint16)
            e = t.root["e"]
            assert e.shape == shape and e.dtype == np.uint16 and e.size == 0
            del e
        t.validate()


def test_big_endian_input_is_stored_native(seg):
    a = np.arange(5, dtype=">i4")
    with seg.turn(timeout=10) as t:
        t.root["a"] = a
        assert t.root["a"].dtype == np.int32
        assert t.root["a"].tolist() == [0, 1, 2, 3, 4]


def test_memoryview_and_array_array_are_arrays(seg):
    with seg.turn(timeout=10) as t:
        t.root["d"] = array.array("d", [1.5, 2.5])
        assert t.root["d"].dtype == np.float64 and t.root["d"].tolist() == [1.5, 2.5]
        t.root["q"] = memoryview(array.array("q", [1, -2, 3]))
        assert t.root["q"].dtype == np.int64 and t.root["q"].tolist() == [1, -2, 3]
        m = memoryview(bytes(range(6))).cast("B", (2, 3))
        t.root["m"] = m
        assert t.root["m"].dtype == np.uint8 and t.root["m"].tolist() == [[0, 1, 2], [3, 4, 5]]
        # bytes and bytearray keep their meaning.
        t.root["b"] = b"xy"
        t.root["ba"] = bytearray(b"xy")
        assert t.root["b"] == b"xy"
        assert isinstance(t.root["ba"], shmheap.SharedByteArray)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(3, dtype=np.complex128),
        np.array([object(), 1], dtype=object),
        np.zeros(2, dtype="datetime64[s]"),
        np.zeros(2, dtype=np.float16),
        np.zeros(2, dtype=[("x", "i4"), ("y", "f8")]),
    ],
    ids=["complex128", "object", "datetime64", "float16", "structured"],
)
def test_other_dtypes_are_refused_by_name(seg, bad):
    with seg.turn(timeout=10) as t:
        with pytest.raises(TypeError) as e:
            t.root["x"] = bad
        assert "x" not in t.root
    assert str(bad.dtype) in str(e.value)


def test_refused_complex_array_names_the_dtype(seg):
    with seg.turn(timeout=10) as t:
        with pytest.raises(TypeError, match="complex128"):
            t.put_message(np.zeros(2, dtype=complex))
        assert not t.has_messages()


def test_in_place_ops_are_seen_by_a_later_read(seg):
    with seg.turn(timeout=10) as t:
        t.root["a"] = np.zeros((100, 3))
        a = t.root["a"]
        a += 10
        a[5, 1] = -1
        b = t.root["a"]
        assert address(a) == address(b)
        assert b[0, 0] == 10 and b[5, 1] == -1
        assert t.root["a"].sum() == 10 * 300 - 11


def test_free_while_a_view_is_exported_raises_buffer_error(seg):
    with seg.turn(timeout=10) as t:
        t.root["a"] = np.arange(10.0)
        t.root["lst"] = [np.arange(3), 1]
        a = t.root["a"]
        inner = t.root["lst"][0]
        for op in [
            lambda: t.root.__setitem__("a", 1),
            lambda: t.root.__delitem__("a"),
            lambda: t.root.pop("a"),
            lambda: t.root.clear(),
            lambda: t.root.update({"a": 2}),
            lambda: t.root["lst"].__setitem__(0, 5),
            lambda: t.root["lst"].__delitem__(0),
            lambda: t.root["lst"].pop(0),
            lambda: t.root["lst"].clear(),
            lambda: t.root.__delitem__("lst"),
        ]:
            with pytest.raises(BufferError):
                op()
        # Nothing changed: the data is intact, the view still good.
        assert a.tolist() == list(np.arange(10.0))
        assert inner.tolist() == [0, 1, 2]
        assert t.root["lst"][1] == 1
        t.root["lst"][1] = 7  # other items are free to change
        t.validate()
        # A taken message holding one: t.free refuses too.
        t.put_message([np.ones(4)])
        msg = t.take_message()
        view = msg[0]
        with pytest.raises(BufferError):
            t.free(msg)
        assert view.tolist() == [1.0] * 4
        del view, inner
        t.free(msg)
        t.root["lst"].clear()
        # Once the views are gone, freeing works.
        del a
        t.root["a"] = 1
        assert t.root["a"] == 1
        t.validate()


def test_other_views_die_with_their_base(seg):
    with seg.turn(timeout=10) as t:
        t.root["a"] = np.arange(8)
        sl = t.root["a"][2:4]  # a view of a view: keeps the base alive
        with pytest.raises(BufferError):
            del t.root["a"]
        del sl
        del t.root["a"]
        t.validate()


def test_bare_array_message_taken_is_a_local_copy(seg):
    with seg.turn(timeout=10) as t:
        t.put_message(np.arange(6, dtype=np.int16).reshape(2, 3))
        peeked = t.read_message()
        assert inside(seg, peeked)
        del peeked
        got = t.take_message()
        assert not inside(seg, got), "the message was freed: a copy"
        assert got.dtype == np.int16 and got.tolist() == [[0, 1, 2], [3, 4, 5]]
        got += 1  # a writable local array
        assert got.tolist() == [[1, 2, 3], [4, 5, 6]]
        assert not t.has_messages()
        assert t.validate()["roots"] == 0, "the taken message was freed"


def test_shared_array_put_again_is_copied(seg):
    with seg.turn(timeout=10) as t:
        t.root["a"] = np.arange(4.0)
        t.root["b"] = t.root["a"]
        b = t.root["b"]
        b += 1
        assert t.root["a"].tolist() == [0, 1, 2, 3]
        assert t.root["b"].tolist() == [1, 2, 3, 4]


def test_bad_shapes_are_value_errors(seg):
    with seg.turn(timeout=10) as t, pytest.raises(ValueError):
        t.root["a"] = np.zeros((1,) * 33)


# ---- across processes --------------------------------------------------------

ROUNDS = 50


def adder(name: str, key: str, rounds: int, conn) -> None:
    with shmheap.Segment.attach(name) as seg:
        with seg.turn(timeout=30) as t:
            a = t.root[key]
            conn.send((inside(seg, a), address(a) - seg._mapping_range()[0]))
        for _ in range(rounds):
            with seg.turn(timeout=30):
                a += 1  # the view made in an earlier turn: no copy, no lookup
                a[0, 0] += 2
        del a


def test_two_processes_mutate_one_array_in_place(seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["a"] = np.zeros((1000, 3))
        mine = t.root["a"]
        offset = address(mine) - seg._mapping_range()[0]
    a, b = mp.get_context("fork").Pipe()
    child = procs.start(adder, seg.name, "a", ROUNDS, b)
    assert recv(a) == (True, offset), "the child's ndarray is over the same bytes"
    for _ in range(ROUNDS):
        with seg.turn(timeout=30):
            mine += 1
            mine[0, 0] += 2
    procs.join(child)
    with seg.turn(timeout=10) as t:
        assert address(t.root["a"]) == address(mine)
        expect = np.full((1000, 3), 2.0 * ROUNDS)
        expect[0, 0] = 6.0 * ROUNDS
        assert np.array_equal(mine, expect)
        assert np.array_equal(t.root["a"], expect)
        t.validate()


def spawn_reader(name: str, conn) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=30) as t:
        a = t.root["w"]
        a *= 2
        conn.send((type(a).__name__, a.sum().item(), inside(seg, a)))
        del a


def test_a_spawned_process_sees_and_changes_the_array(seg, procs):
    with seg.turn(timeout=10) as t:
        t.root["w"] = np.arange(10, dtype=np.float32)
    a, b = mp.get_context("spawn").Pipe()
    child = procs.start(spawn_reader, seg.name, b, ctx="spawn")
    kind, total, in_segment = recv(a, 120)
    procs.join(child, 120)
    assert (kind, total, in_segment) == ("ndarray", 90.0, True)
    with seg.turn(timeout=10) as t:
        assert t.root["w"].tolist() == [2.0 * i for i in range(10)]


def test_import_shmheap_does_not_import_numpy():
    code = "import sys, shmheap; print('numpy' in sys.modules)"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=False, text=True, timeout=60
    )
    assert (r.returncode, r.stdout.strip()) == (0, "False"), r.stderr


NO_NUMPY = """
import sys
sys.modules["numpy"] = None  # numpy cannot be imported in this process
import shmheap
with shmheap.Segment.attach(sys.argv[1]) as seg, seg.turn(timeout=30) as t:
    m = t.root["w"]
    assert isinstance(m, memoryview), type(m)
    assert (m.format, m.shape, m.readonly) == ("d", (2, 3), False), (m.format, m.shape)
    m[1, 2] = 42.0
    assert m.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 42.0]]
    del m
    t.root["from_mv"] = memoryview(bytearray(8)).cast("d")
print("ok")
"""


def test_without_numpy_an_array_reads_as_a_memoryview(seg):
    with seg.turn(timeout=10) as t:
        t.root["w"] = np.arange(6.0).reshape(2, 3)
    r = subprocess.run(
        [sys.executable, "-c", NO_NUMPY, seg.name],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    with seg.turn(timeout=10) as t:
        assert t.root["w"][1, 2] == 42.0
        assert t.root["from_mv"].tolist() == [0.0]


EXAMPLE = Path(__file__).resolve().parents[2] / "target" / "debug" / "examples" / "array_peer"


@pytest.mark.skipif(
    not EXAMPLE.exists(),
    reason="the Rust example is not built (cargo build --example array_peer)",
)
def test_the_rust_side_reads_the_same_array_as_f64(seg):
    with seg.turn(timeout=10) as t:
        t.root["array"] = np.arange(1000.0).reshape(10, 100)
        mine = t.root["array"]
    r = subprocess.run(
        [str(EXAMPLE), seg.name, "--add", "1"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={**os.environ, "RUST_BACKTRACE": "1"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "shape [10, 100] sum 500500"
    with seg.turn(timeout=10):
        assert mine[0, 0] == 1.0 and mine[9, 99] == 1000.0
