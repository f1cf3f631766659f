"""Big ints, complex, Decimal and the datetime family: round trips, Python's
equality across kinds as dict keys, and values shared between processes
(hashes equal whatever each process's PYTHONHASHSEED)."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from conftest import recv

import shmheap

AWARE = timezone(timedelta(hours=-5, minutes=-30, seconds=-7, microseconds=-8))

VALUES = [
    2**64,
    -(2**63) - 1,
    2**100,
    -(10**300),
    1 + 2j,
    complex(0.0, -0.0),
    Decimal("3.14"),
    Decimal("1.10"),
    Decimal("-0"),
    Decimal("1E+999999"),
    Decimal("-Infinity"),
    Decimal("sNaN"),
    datetime(2024, 2, 29, 12, 30, 15, 123456),
    datetime(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=AWARE, fold=1),
    datetime(2020, 1, 1, tzinfo=UTC),
    date(2000, 2, 29),
    time(23, 59, 59, 999999),
    time(1, 2, 3, tzinfo=timezone(timedelta(hours=14))),
    timedelta(days=-999999999),
    timedelta(days=3, seconds=5, microseconds=-1),
]


def same(a, b) -> bool:
    """Equal, of the same type, with the same repr (Decimal exponents,
    tzinfo and fold too)."""
    if isinstance(a, Decimal) and a.is_nan():
        return isinstance(b, Decimal) and repr(a) == repr(b)
    return type(a) is type(b) and a == b and repr(a) == repr(b)


@pytest.mark.parametrize("v", VALUES, ids=repr)
def test_each_type_round_trips(seg, v):
    with seg.turn(timeout=10) as t:
        got = t.put_message(v)
        assert same(got, v), (got, v)
        t.root["x"] = [v, (v,)]
        lst = t.root["x"]
        assert same(lst[0], v)
        assert same(lst[1][0], v)
        assert same(shmheap.to_python(lst)[0], v)
        t.validate()


def test_the_issue_message(seg):
    msg = [2**100, 1 + 2j, Decimal("3.14"), datetime.now(UTC), timedelta(days=3)]
    with seg.turn(timeout=10) as t:
        t.put_message(msg)
    with seg.turn(timeout=10) as t:
        got = t.take_message()
        assert got == msg
        assert [type(x) for x in got] == [type(x) for x in msg]
        t.free(got)


def test_big_ints_and_inplace_arithmetic(seg):
    with seg.turn(timeout=10) as t:
        t.root["n"] = [2**63 - 1]
        t.root["n"][0] += 1
        assert t.root["n"][0] == 2**63
        t.root["n"][0] -= 1
        assert t.root["n"][0] == 2**63 - 1
        assert type(t.root["n"][0]) is int


def test_zoneinfo_datetimes_keep_their_current_offset(seg):
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        tz = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database")
    v = datetime(2024, 7, 1, 12, tzinfo=tz)
    with seg.turn(timeout=10) as t:
        got = t.put_message(v)
    assert got == v
    assert got.tzinfo == timezone(timedelta(hours=2))


def test_dict_keys_across_kinds(seg):
    with seg.turn(timeout=10) as t:
        t.root["d"] = {1: "one", 2**100: "big", Decimal("0.1"): "tenth",
                       datetime(2020, 1, 1, tzinfo=UTC): "utc", 0.5: "half",
                       date(2020, 1, 1): "date", timedelta(days=1): "day", 1 + 1j: "c"}
        d = t.root["d"]
        assert d[Decimal("1.0")] == "one"
        assert d[1 + 0j] == "one"
        assert d[True] == "one"
        assert d[float(2**100)] == "big"
        assert d[Decimal(2**100)] == "big"
        assert d[Decimal("0.10")] == "tenth"
        assert 0.1 not in d
        assert d[Decimal("0.5")] == "half"
        east = timezone(timedelta(hours=5, minutes=30))
        assert d[datetime(2020, 1, 1, 5, 30, tzinfo=east)] == "utc"
        assert datetime(2020, 1, 1) not in d
        assert datetime(2020, 1, 1, 0, 0) not in d
        assert d[timedelta(hours=24)] == "day"
        assert d[complex(1, 1)] == "c"
        d[Decimal("1.000")] = "uno"
        assert len(d) == 8
        local = {1: "uno", 2**100: "big"}
        assert all(d[k] == v for k, v in local.items())
        s = t.put_message({Decimal(2), 2, 2 + 0j})
        assert len(s) == 1
        with pytest.raises(TypeError):
            t.root["bad"] = {Decimal("sNaN"): 1}
        t.validate()


def test_ordering_and_errors(seg):
    with seg.turn(timeout=10) as t:
        t.root["l"] = [Decimal("2.5"), 2**70, 1, 0.5]
        lst = t.root["l"]
        lst.sort()
        assert lst == [0.5, 1, Decimal("2.5"), 2**70]
        t.root["c"] = [1j, 1]
        with pytest.raises(TypeError):
            t.root["c"].sort()
        t.root["dt"] = [datetime(2020, 1, 1), datetime(2020, 1, 1, tzinfo=UTC)]
        with pytest.raises(TypeError):
            t.root["dt"].sort()
        # Any other object is pickled now; what pickle refuses is a TypeError.
        with pytest.raises(TypeError):
            t.put_message(lambda: 0)


def child_puts(name: str, conn) -> None:
    with shmheap.Segment.attach(name) as seg, seg.turn(timeout=10) as t:
        t.root["vals"] = VALUES
        t.root["keys"] = {v: i for i, v in enumerate(VALUES) if not _snan(v)}
    conn.send("ok")


def _snan(v) -> bool:
    return isinstance(v, Decimal) and v.is_snan()


def test_values_put_by_one_process_read_equal_in_another(seg, procs):
    a, b = mp.get_context("fork").Pipe()
    p = procs.start(child_puts, seg.name, b)
    assert recv(a) == "ok"
    procs.join(p)
    with seg.turn(timeout=10) as t:
        got = shmheap.to_python(t.root["vals"])
        assert all(same(x, y) for x, y in zip(got, VALUES, strict=True))
        keys = t.root["keys"]
        # Equal keys of other kinds collapse as in a local dict
        # (complex(0, -0) == Decimal('-0') == 0).
        local = {v: i for i, v in enumerate(VALUES) if not _snan(v)}
        assert len(keys) == len(local)
        for v in VALUES:
            if not _snan(v):
                assert keys[v] == local[v]


READER = """
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
import shmheap
with shmheap.Segment.attach(sys.argv[1]) as seg, seg.turn(timeout=10) as t:
    d = t.root["h"]
    assert d[Decimal("1.0")] == "one", d
    assert d[2**100] == "big"
    assert d[Decimal("3.14")] == "pi"
    assert d[datetime(2020, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))] == "utc"
    assert d[timedelta(days=3)] == "td"
    assert d[1 + 2j] == "c"
    d[Decimal("2.5")] = "from the reader"
print("found")
"""


def test_hashes_agree_across_processes_with_other_hash_seeds(seg):
    with seg.turn(timeout=10) as t:
        t.root["h"] = {1: "one", 2**100: "big", Decimal("3.14"): "pi",
                       datetime(2020, 1, 1, tzinfo=UTC): "utc",
                       timedelta(days=3): "td", 1 + 2j: "c"}
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run([sys.executable, "-c", READER, seg.name], check=False, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "found"
    with seg.turn(timeout=10) as t:
        assert t.root["h"][2.5] == "from the reader"
        t.validate()
