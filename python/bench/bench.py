#!/usr/bin/env python3
"""shmheap's Python package against its peers, in one run, as one Markdown table.

    python python/bench/bench.py                 # every row, every peer (about a minute)
    python python/bench/bench.py --quick         # a few seconds, every row (CI smoke)
    python python/bench/bench.py --only shmheap,local --rows read,write

Peers, each beside shmheap wherever it can do the row:
  local          a plain `list`/`dict` in this one process (the ratio column's baseline)
  ShareableList  `multiprocessing.shared_memory.ShareableList`
  Manager        `multiprocessing.Manager()` list/dict/Queue proxies
  IPPO           InterProcessPyObjects 2.0.0 (`pip install InterProcessPyObjects==2.0.0
                 typing_extensions`); its wheel needs an import workaround, see
                 `_CengalCythonAlias` below, applied here and never in the package.

In-turn rows time the bare loop body with `time.perf_counter()`, best of N runs, nothing
subtracted. Two-process rows run two processes (a `multiprocessing` context, fork by
default) under a watchdog; the taking side counts what it took in fixed time windows and
the best window is reported. A peer that is not installed is skipped with a note.
"""

from __future__ import annotations

import argparse
import collections
import glob
import importlib.abc
import importlib.machinery
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import sys
import time
import traceback
from itertools import repeat
from multiprocessing import resource_tracker, shared_memory

perf_counter = time.perf_counter
sched_yield = getattr(os, "sched_yield", lambda: time.sleep(0))

# ---- the workloads -------------------------------------------------------------------

SEED = ["hello", 0, (8, 2.0, False), {b"world": -6, 5: 4}]
INTS = list(range(1000))
BYTES_LEN = 400 * 1024
# No zero byte anywhere: ShareableList strips trailing NULs from the bytes it returns.
BYTES = (bytes(range(1, 256)) * (BYTES_LEN // 255 + 1))[:BYTES_LEN]
PAGE = 4096
DICT_KEYS = 1000
DICT_KEY = "key500"


def touch_seed(m):
    """Reads every item of the seed's message, nested ones included."""
    s = m[0]
    i = m[1]
    a, b, c = m[2]
    d = m[3]
    return len(s) + i + a + int(b) + int(c) + d[b"world"] + d[5]


def touch_ints(m):
    return sum(m)


def touch_bytes(m):
    """len() and one byte of every 4 KiB page (sum of a strided memoryview slice)."""
    mv = memoryview(m)
    return len(mv) + sum(mv[::PAGE])


PAYLOADS = {"seed": SEED, "ints": INTS, "bytes": BYTES}
TOUCH = {"seed": touch_seed, "ints": touch_ints, "bytes": touch_bytes}
EXPECT = {k: TOUCH[k](PAYLOADS[k]) for k in PAYLOADS}

# ---- rows ------------------------------------------------------------------------------

# id, label, unit, kind
ROWS = [
    ("read", "1. item read `v = l[7]` (20-item list)", "ops", "inturn"),
    ("write", "2. item write `l[2] = 1234`", "ops", "inturn"),
    ("iadd", "3. `l[15] += 999`", "ops", "inturn"),
    ("dget", f"4. dict get `d[k]` ({DICT_KEYS} str keys)", "ops", "inturn"),
    ("diadd", "5. dict `d[k] += 1`", "ops", "inturn"),
    ("seed1", "6a. seed message put → take + read, one per turn", "msgs", "pair"),
    ("seed64", "6b. seed message, up to 64 per turn", "msgs", "pair"),
    ("ints", "7. 1000-int list message, put → take + sum", "msgs", "pair"),
    ("alt", "8. two-process strict alternation (counter += 1, hand over)", "rt", "pair"),
    ("bytes", "9. 400 KiB bytes message put → take + touch [t]", "bytes", "pair"),
    ("len", "diag: `len(l)` (an empty native call)", "ops", "inturn"),
    ("turn", "diag: uncontended turn enter + exit, one process", "ops", "inturn"),
    ("putake", "diag: seed message put + take + read + free, one turn, one process", "msgs",
     "inturn"),
]
ROW = {r[0]: r for r in ROWS}

PEERS = ["local", "shmheap", "sl", "manager", "ippo"]
PEER_TITLE = {
    "local": "local list/dict",
    "shmheap": "shmheap",
    "sl": "ShareableList",
    "manager": "Manager",
    "ippo": "IPPO 2.0.0",
}
PEER_ALIASES = {"shareablelist": "sl", "interprocesspyobjects": "ippo", "mgr": "manager"}

# Rows a peer cannot do, with why (the footnote under "—").
CANNOT = {
    ("local", "alt"): "one process: there is no other side to hand a turn to.",
    ("local", "turn"): "a local list needs no turn.",
    ("sl", "dget"): "ShareableList holds only a flat list; there is no shared dict.",
    ("sl", "diadd"): "ShareableList holds only a flat list; there is no shared dict.",
    ("sl", "seed1"): "ShareableList items are int/float/bool/str/bytes/None only: "
    "the seed's message nests a tuple and a dict.",
    ("sl", "seed64"): "ShareableList items are int/float/bool/str/bytes/None only: "
    "the seed's message nests a tuple and a dict.",
    ("sl", "turn"): "ShareableList has no turn or lock of its own.",
    ("manager", "seed64"): "Manager has no turns: every put and get is its own round trip "
    "to the manager process, so there is nothing to batch in.",
    ("manager", "turn"): "Manager has no turn: each proxy call is one locked round trip.",
    ("sl", "putake"): "a diagnostic for the message stores with turns only.",
    ("manager", "putake"): "a diagnostic for the message stores with turns only.",
}
NOTES = {
    ("local", "seed1"): "local, message rows: a `collections.deque` in one process, append "
    "then popleft + the same read, no copy, no second process: the Python-side floor.",
    ("sl", "ints"): "ShareableList, message rows: it is fixed-size and has no queue, so one "
    "pre-made ShareableList is a mailbox of depth 1 (items written one by one, `sl[i] = v`) "
    "and a second one holds [written, read, stop] sequence numbers that both sides poll "
    "under a `multiprocessing.Lock` (`os.sched_yield()` on a miss). The lock is needed: "
    "`sl[i] = v` re-packs the slot's format with `struct.pack_into`, which zeroes before "
    "it writes, and an unlocked reader in the other process died on the empty format "
    "(ValueError) in this bench.",
    ("sl", "alt"): "ShareableList alternation: a counter slot, read and (when its parity says "
    "it is this side's turn) written under a `multiprocessing.Lock`, `os.sched_yield()` on a "
    "miss; ShareableList has no lock of its own.",
    ("manager", "seed1"): "Manager, message rows: a `Manager().Queue(maxsize=64)` proxy "
    "(put/get, each a round trip to the manager process).",
    ("manager", "alt"): "Manager alternation: a `Manager().list()` counter, polled and "
    "written by parity (two proxy round trips per poll).",
    ("manager", "iadd"): "Manager `+=`: a proxy getitem then a setitem, two round trips, "
    "not atomic.",
    ("ippo", "read"): "IPPO, in-turn rows: a message's live IList / IMutableMapping, used "
    "inside `with wait_my_turn(sm):`.",
    ("ippo", "seed1"): "IPPO, message rows: the creator puts inside `wait_my_turn`, the "
    "consumer (`init_consumer`) takes with `take_message_2`, reads, `destroy_obj`s; a "
    "[stop, taken] IList message bounds the queue at 64.",
    ("ippo", "alt"): "IPPO alternation: `with wait_my_turn(sm):` and a parity check on an "
    "IList counter. Its lock is no queue: the side that just released usually wins again, "
    "and the waiter retries after `hps_sleep(1e-9)`, a nanosleep (tens of µs with the kernel's "
    "timer slack).",
}
NOTES[("shmheap", "seed1")] = (
    "shmheap, message rows: the putter puts while `t.message_count() < 64`, the taker takes "
    "up to the batch per turn, reads, `t.free()`s; the taker stops the putter with a "
    "`multiprocessing.Event` (polled every 16 turns); in both, a turn that found nothing to do "
    "(queue full / empty) is followed by `time.sleep(--idle-sleep)` before the next one, as "
    "for IPPO.")
for _k in ("seed64", "ints", "bytes"):
    NOTES[("shmheap", _k)] = NOTES[("shmheap", "seed1")]
NOTES[("ippo", "seed1")] += (" A turn that found nothing to do (queue full / empty) is "
                             "followed by `time.sleep(--idle-sleep)`: without it the idle "
                             "side's retries lock the other side out.")
for _k in ("seed64", "bytes"):
    NOTES[("local", _k)] = NOTES[("local", "seed1")]
    NOTES[("manager", _k)] = NOTES[("manager", "seed1")]
    NOTES[("ippo", _k)] = NOTES[("ippo", "seed1")]
NOTES[("local", "ints")] = NOTES[("local", "seed1")]
NOTES[("local", "putake")] = NOTES[("local", "seed1")]
NOTES[("manager", "ints")] = NOTES[("manager", "seed1")]
NOTES[("ippo", "ints")] = NOTES[("ippo", "seed1")]
NOTES[("sl", "bytes")] = NOTES[("sl", "ints")]
for _k in ("write", "iadd", "dget", "diadd", "len", "turn", "putake"):
    NOTES[("ippo", _k)] = NOTES[("ippo", "read")]

WINDOW = 64  # messages in flight at most (the queue bound), and the batch size of 6b
BATCH = {"seed1": 1, "seed64": 64, "ints": 1, "bytes": 1}
KIND = {"seed1": "seed", "seed64": "seed", "ints": "ints", "bytes": "bytes"}

TARGETS = [
    # label, row, threshold (ops/s or GiB/s), or "local/3"
    ("read ≥ 15 M/s", "read", 15e6),
    ("read within 3× of a local list", "read", "local/3"),
    ("write ≥ 15 M/s", "write", 15e6),
    ("write within 3× of a local list", "write", "local/3"),
    ("`+=` ≥ 6 M/s", "iadd", 6e6),
    ("dict get ≥ 8 M/s", "dget", 8e6),
    ("seed message end to end ≥ 200 k/s (one per turn)", "seed1", 200e3),
    ("seed message end to end ≥ 200 k/s (batched)", "seed64", 200e3),
    ("1000-int list ≥ 30 k/s", "ints", 30e3),
    ("alternation ≥ 500 k round trips/s", "alt", 500e3),
    ("bytes ≥ 10 GiB/s", "bytes", 10.0),
]


class Cfg:
    """Timing knobs, picklable for the child processes."""

    def __init__(self, quick):
        self.quick = quick
        self.runs = 2 if quick else 5  # in-turn: best of `runs` runs of `run_s`
        self.run_s = 0.02 if quick else 0.2
        self.windows = 2 if quick else 5  # two-process: best of `windows` windows of `span`
        self.span = 0.03 if quick else 0.2
        self.warm = 0.01 if quick else 0.05
        self.setup_budget = 30.0  # two-process row: from start to the first item taken
        self.budget = 2.0 if quick else 30.0  # then to the last window: else report what we have
        self.turn_timeout = 10.0
        # A turn-based side (shmheap, IPPO) whose turn in a message row found nothing to do
        # (queue full / empty) sleeps this long before asking again; see --idle-sleep.
        self.idle_s = 20e-6


# ---- InterProcessPyObjects: the import workaround ------------------------------------


class _CengalCythonAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """cengal-light 5.0.1 (IPPO 2.0.0's dependency) ships every Cython extension as
    `<pkg>/cython_module.cpython-3XX-<arch>.so` (its init symbol is PyInit_cython_module)
    while its Python code imports it as `<pkg>.<name>__cython`, so `import ipc_py_objects`
    dies with ModuleNotFoundError (first on
    cengal.time_management.high_precision_sync_sleep.versions.v_0
    .high_precision_sync_sleep__cython). This finder, last on sys.meta_path so it only sees
    names nothing else found, loads the shipped `cython_module` file under its own name and
    hands it out under the name that was asked for."""

    def find_spec(self, fullname, path=None, target=None):
        if not (fullname.startswith("cengal.") and fullname.endswith("__cython")):
            return None
        parent = sys.modules.get(fullname.rpartition(".")[0])
        for d in getattr(parent, "__path__", None) or ():
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                hits = glob.glob(os.path.join(d, "cython_module" + suffix))
                if hits:
                    return importlib.util.spec_from_loader(fullname, self, origin=hits[0])
        return None

    def create_module(self, spec):
        real_name = spec.name.rpartition(".")[0] + ".cython_module"
        real = importlib.util.spec_from_file_location(real_name, spec.origin)
        mod = importlib.util.module_from_spec(real)
        real.loader.exec_module(mod)
        sys.modules[real_name] = mod
        return mod

    def exec_module(self, module):
        pass


def load_ippo():
    """(module, version) or (None, why not)."""
    if not any(isinstance(f, _CengalCythonAlias) for f in sys.meta_path):
        sys.meta_path.append(_CengalCythonAlias())
    try:
        import ipc_py_objects
    except Exception as e:  # noqa: BLE001 - any failure means "skip this peer"
        return None, f"not importable ({type(e).__name__}: {e})"
    try:
        from importlib.metadata import version

        ver = version("InterProcessPyObjects")
    except Exception:  # noqa: BLE001
        ver = getattr(ipc_py_objects, "__version__", "?")
    return ipc_py_objects, ver


def load_shmheap():
    try:
        import shmheap

        shmheap.Segment  # noqa: B018 - the lead's package may be a stub while it is built
    except Exception as e:  # noqa: BLE001
        return None, f"not importable ({type(e).__name__}: {e})"
    return shmheap, getattr(shmheap, "__version__", "?")


# ---- in-turn loops -------------------------------------------------------------------
# Each times exactly the loop body the row names, n times, and nothing else.


def _loop_read(lst, d, k, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        v = lst[7]  # noqa: F841
    return perf_counter() - t0


def _loop_write(lst, d, k, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        lst[2] = 1234
    return perf_counter() - t0


def _loop_iadd(lst, d, k, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        lst[15] += 999
    return perf_counter() - t0


def _loop_dget(lst, d, k, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        v = d[k]  # noqa: F841
    return perf_counter() - t0


def _loop_diadd(lst, d, k, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        d[k] += 1
    return perf_counter() - t0


def _loop_len(lst, d, k, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        v = len(lst)  # noqa: F841
    return perf_counter() - t0


LOOPS = {
    "read": _loop_read,
    "write": _loop_write,
    "iadd": _loop_iadd,
    "dget": _loop_dget,
    "diadd": _loop_diadd,
    "len": _loop_len,
}


def best_rate(loop, args, cfg, reset=None):
    """Calibrates n to about cfg.run_s, then the best of cfg.runs runs, in ops/s."""
    n = 8
    while True:
        if reset:
            reset()
        dt = loop(*args, n)
        if dt >= cfg.run_s / 10 or n >= 1 << 28:
            break
        n = n * 16 if dt < 1e-5 else max(n * 2, int(n * cfg.run_s / 10 / dt * 1.3))
    n = max(1, int(n * cfg.run_s / dt))
    best = 0.0
    for _ in range(cfg.runs):
        if reset:
            reset()
        best = max(best, n / loop(*args, n))
    return best


def run_inturn_rows(peer, objs, rows, cfg, results):
    """objs: (lst, d, reset); the caller holds the turn (if the peer has one)."""
    lst, d, reset = objs
    for r in rows:
        if r in LOOPS:
            results[(peer, r)] = best_rate(LOOPS[r], (lst, d, DICT_KEY), cfg, reset)


def _fresh():
    return list(range(20)), {f"key{i}": i for i in range(DICT_KEYS)}


def inturn_local(rows, cfg, results, ctx):
    lst, d = _fresh()

    def reset():
        lst[15] = 15
        d[DICT_KEY] = 500

    run_inturn_rows("local", (lst, d, reset), rows, cfg, results)
    if "putake" in rows:
        dq = collections.deque()

        def loop_putake(a, b, c, n):
            put, take = dq.append, dq.popleft
            t0 = perf_counter()
            for _ in repeat(None, n):
                put(SEED)
                touch_seed(take())
            return perf_counter() - t0

        results[("local", "putake")] = best_rate(loop_putake, (None, None, None), cfg)


def inturn_shmheap(rows, cfg, results, ctx):
    sh, _ = load_shmheap()
    name = f"shmheap-bench-inturn-{os.getpid()}"
    with sh.Segment.create(name, 16 << 20) as seg:
        with seg.turn() as t:
            lst0, d0 = _fresh()
            try:
                t.root["l"] = lst0
                t.root["d"] = d0
                via_root = True
            except sh.Error:  # a build without the root namespace yet: hold messages instead
                t.put_message(lst0)
                t.put_message(d0)
                lst_m, d_m = t.take_message(), t.take_message()  # live; the queue is empty
                via_root = False
        with seg.turn() as t:
            if via_root:
                lst = t.root["l"]
                d = t.root["d"]
            else:
                lst, d = lst_m, d_m
                results[("shmheap", "_via")] = "message"

            def reset():
                lst[15] = 15
                d[DICT_KEY] = 500

            run_inturn_rows("shmheap", (lst, d, reset), rows, cfg, results)
            if "putake" in rows:

                def loop_putake(a, b, c, n):
                    put, take, free = t.put_message, t.take_message, t.free
                    t0 = perf_counter()
                    for _ in repeat(None, n):
                        put(SEED)
                        m = take()
                        touch_seed(m)
                        free(m)
                    return perf_counter() - t0

                results[("shmheap", "putake")] = best_rate(loop_putake, (None, None, None), cfg)
        if "turn" in rows:

            def loop_turn(a, b, c, n):
                turn = seg.turn
                t0 = perf_counter()
                for _ in repeat(None, n):
                    with turn():
                        pass
                return perf_counter() - t0

            results[("shmheap", "turn")] = best_rate(loop_turn, (None, None, None), cfg)


def inturn_sl(rows, cfg, results, ctx):
    sl = shared_memory.ShareableList(list(range(20)))
    try:

        def reset():
            sl[15] = 15

        run_inturn_rows("sl", (sl, None, reset), [r for r in rows if r not in ("dget", "diadd")],
                        cfg, results)
    finally:
        sl.shm.close()
        sl.shm.unlink()


def inturn_manager(rows, cfg, results, ctx):
    with ctx.Manager() as m:
        lst0, d0 = _fresh()
        lst = m.list(lst0)
        d = m.dict(d0)

        def reset():
            lst[15] = 15
            d[DICT_KEY] = 500

        run_inturn_rows("manager", (lst, d, reset), rows, cfg, results)


def inturn_ippo(rows, cfg, results, ctx):
    ip, _ = load_ippo()
    name = f"shmheap_bench_ippo_inturn_{os.getpid()}"
    sm = ip.SharedMemory(name, create=True, size=16 << 20)
    with sm:
        with ip.wait_my_turn(sm):
            lst0, d0 = _fresh()
            sm.put_message(lst0)
            sm.put_message(d0)
            lst = sm.take_message()  # the live IList, and the queue is empty again
            d = sm.take_message()

            def reset():
                lst[15] = 15
                d[DICT_KEY] = 500

            run_inturn_rows("ippo", (lst, d, reset), rows, cfg, results)
            if "putake" in rows:

                def loop_putake(a, b, c, n):
                    put, take, free = sm.put_message, sm.take_message_2, sm.destroy_obj
                    t0 = perf_counter()
                    for _ in repeat(None, n):
                        put(SEED)
                        m, off = take()
                        touch_seed(m)
                        free(off)
                    return perf_counter() - t0

                results[("ippo", "putake")] = best_rate(loop_putake, (None, None, None), cfg)
        if "turn" in rows:

            def loop_turn(a, b, c, n):
                wmt = ip.wait_my_turn
                t0 = perf_counter()
                for _ in repeat(None, n):
                    with wmt(sm):
                        pass
                return perf_counter() - t0

            results[("ippo", "turn")] = best_rate(loop_turn, (None, None, None), cfg)
        sm._creator_destroy_timeout = 0.0  # no consumer ever came: do not wait for one


INTURN = {
    "local": inturn_local,
    "shmheap": inturn_shmheap,
    "sl": inturn_sl,
    "manager": inturn_manager,
    "ippo": inturn_ippo,
}

# ---- two-process plumbing --------------------------------------------------------------


class Windows:
    """The taking side's clock: after a warm-up from the first item, counts what was done
    in cfg.windows windows of cfg.span seconds; rate() is the best window."""

    __slots__ = ("budget", "c_first", "c_mark", "deadline", "n", "partial", "phase", "rates", "span",
                 "t_first", "t_mark", "warm")

    def __init__(self, cfg):
        self.n = cfg.windows
        self.span = cfg.span
        self.warm = cfg.warm
        self.budget = cfg.budget
        self.deadline = perf_counter() + cfg.setup_budget
        self.phase = 0
        self.t_mark = 0.0
        self.c_mark = 0
        self.t_first = 0.0
        self.c_first = 0
        self.rates = []
        self.partial = None

    def tick(self, count):
        """True once the last window closed (or the budget ran out: then the rate since the
        first item counts, flagged partial)."""
        now = perf_counter()
        if now > self.deadline:
            if self.phase == 0:
                raise TimeoutError("nothing taken within the row's setup budget")
            if count == self.c_first:
                raise TimeoutError(f"nothing done within the row's budget (count {count})")
            self.rates.append((count - self.c_first) / (now - self.t_first))
            self.partial = f"{count - self.c_first} in {now - self.t_first:.1f} s"
            return True
        if self.phase == 0:
            if count > 0:
                self.phase, self.t_mark, self.c_mark = 1, now, count
                self.t_first, self.c_first = now, count
                self.deadline = now + self.budget
        elif self.phase == 1:
            if now - self.t_mark >= self.warm:
                self.phase, self.t_mark, self.c_mark = 2, now, count
        elif now - self.t_mark >= self.span:
            self.rates.append((count - self.c_mark) / (now - self.t_mark))
            self.t_mark, self.c_mark = now, count
            return len(self.rates) >= self.n
        return False

    def result(self, **extra):
        return dict(rate=max(self.rates), rates=self.rates, partial=self.partial, **extra)


def seg_size(row):
    """Segment size for a row, the same for shmheap and IPPO (IPPO zeroes its segment in
    Python at creation, about 50 MB/s on a loaded box: keep it small)."""
    return 64 << 20 if row == "bytes" else 16 << 20


def _deadline_check(deadline):
    if perf_counter() > deadline:
        raise TimeoutError("row overran its budget")


def _child(fn, conn, args):
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as e:  # noqa: BLE001 - the parent reports it in the table
        conn.send(("err", f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        conn.close()


def run_pair(ctx, cfg, a, b):
    """Runs a = (fn, args) and b = (fn, args) in two processes; b is the timed side. Returns
    b's result, or raises. A watchdog kills both after the row's budget."""
    procs, conns = [], []
    for fn, args in (a, b):
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_child, args=(fn, w, args), daemon=True)
        p.start()
        w.close()
        procs.append(p)
        conns.append(r)
    allow = cfg.setup_budget + cfg.budget + 15.0
    deadline = time.monotonic() + allow
    out = [None, None]
    try:
        for i in (1, 0):
            while out[i] is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"watchdog: no answer within {allow:.0f} s")
                if conns[i].poll(min(left, 0.5)):
                    try:
                        out[i] = conns[i].recv()
                    except EOFError:
                        out[i] = ("err", f"process died (exit code {procs[i].exitcode})", "")
                elif not procs[i].is_alive() and not conns[i].poll(0):
                    out[i] = ("err", f"process died (exit code {procs[i].exitcode})", "")
    finally:
        for p in procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=5.0)
        for c in conns:
            c.close()
    for o in (out[1], out[0]):
        if o[0] != "ok":
            if os.environ.get("BENCH_DEBUG"):
                print(o[2], file=sys.stderr)
            raise RuntimeError(o[1])
    return out[1][1]


# ---- local: the in-process floor for message rows --------------------------------------


def local_msgs(row, cfg):
    kind, batch = KIND[row], BATCH[row]
    payload, touch = PAYLOADS[kind], TOUCH[kind]
    dq = collections.deque()
    win = Windows(cfg)
    count = acc = it = 0
    while True:
        for _ in range(batch):
            dq.append(payload)
        for _ in range(batch):
            acc += touch(dq.popleft())
        count += batch
        it += 1
        if not it & 15 and win.tick(count):
            break
    return win.result(checked=acc == count * EXPECT[kind])


# ---- shmheap two-process sides -------------------------------------------------------


def _shm_attach(name, deadline):
    sh, why = load_shmheap()
    if sh is None:
        raise RuntimeError(why)
    while True:
        try:
            return sh.Segment.attach(name)
        except sh.NotFound:
            _deadline_check(deadline)
            time.sleep(0.001)


def shm_msg_put(name, stop, row, cfg):
    kind, batch = KIND[row], BATCH[row]
    payload = PAYLOADS[kind]
    deadline = perf_counter() + cfg.setup_budget + cfg.budget
    seg = _shm_attach(name, deadline)
    sleep, idle_s = time.sleep, cfg.idle_s
    with seg:
        tt = cfg.turn_timeout
        it = 0
        while True:
            if not it & 15 and stop.is_set():
                break
            with seg.turn(timeout=tt) as t:
                k = min(batch, WINDOW - t.message_count())
                for _ in range(k):
                    t.put_message(payload)
            if not k and idle_s:
                sleep(idle_s)
            it += 1
            if not it & 255:
                _deadline_check(deadline)


def shm_msg_take(name, stop, row, cfg):
    kind, batch = KIND[row], BATCH[row]
    touch = TOUCH[kind]
    win = Windows(cfg)
    seg = _shm_attach(name, win.deadline)
    sleep, idle_s = time.sleep, cfg.idle_s
    with seg:
        tt = cfg.turn_timeout
        count = acc = it = 0
        while True:
            with seg.turn(timeout=tt) as t:
                k = min(batch, t.message_count())
                for _ in range(k):
                    m = t.take_message()
                    acc += touch(m)
                    t.free(m)  # a no-op for bytes: an immutable value is freed when taken
            if not k and idle_s:
                sleep(idle_s)
            count += k
            it += 1
            if not it & 15 and win.tick(count):
                stop.set()
                break
        time.sleep(0.05)
        with seg.turn(timeout=tt) as t:
            while t.has_messages():
                t.free(t.take_message())
            stats = dict(t.stats())
    return win.result(checked=acc == count * EXPECT[kind], stats=stats)


def shm_alt(name, me, cfg):
    win = Windows(cfg)
    seg = _shm_attach(name, win.deadline)
    sh, _ = load_shmheap()
    with seg:
        tt = cfg.turn_timeout
        with seg.turn(timeout=tt) as t:
            try:
                c = t.root["alt"]  # [counter, stop]; stays usable in later turns
            except sh.Error:  # no root namespace in this build: the only message, peeked
                c = t.read_message()
        it = v = 0
        while True:
            with seg.turn(timeout=tt) as t:
                if c[1]:
                    break
                v = c[0]
                if v % 2 == me:
                    c[0] = v + 1
            it += 1
            if not it & 15:
                if me == 0:
                    if perf_counter() > win.deadline:
                        raise TimeoutError("row overran its budget")
                elif win.tick(v // 2):
                    with seg.turn(timeout=tt) as t:
                        c[1] = 1
                    break
    return win.result() if me == 1 else None


def pair_shmheap(row, cfg, ctx):
    sh, _ = load_shmheap()
    name = f"shmheap-bench-{row}-{os.getpid()}"
    with sh.Segment.create(name, seg_size(row)) as seg:
        if row == "alt":
            with seg.turn() as t:
                try:
                    t.root["alt"] = [0, 0]
                except sh.Error:
                    t.put_message([0, 0])
            return run_pair(ctx, cfg, (shm_alt, (name, 0, cfg)), (shm_alt, (name, 1, cfg)))
        stop = ctx.Event()
        return run_pair(ctx, cfg, (shm_msg_put, (name, stop, row, cfg)),
                        (shm_msg_take, (name, stop, row, cfg)))


# ---- IPPO two-process sides: creator puts, consumer takes ------------------------------


def ippo_creator(name, row, cfg):
    ip, why = load_ippo()
    if ip is None:
        raise RuntimeError(why)
    deadline = perf_counter() + cfg.setup_budget + cfg.budget
    sleep, idle_s = time.sleep, cfg.idle_s
    sm = ip.SharedMemory(name, create=True, size=seg_size(row))
    with sm:
        with ip.wait_my_turn(sm):
            ctl = sm.put_message([0, 0, 0])  # [stop, taken, counter]: the consumer takes it
        sm.wait_consumer_ready(cfg.setup_budget)
        it = 0
        if row == "alt":
            while True:
                with ip.wait_my_turn(sm):
                    if ctl[0]:
                        break
                    v = ctl[2]
                    if v % 2 == 0:
                        ctl[2] = v + 1
                it += 1
                if not it & 255:
                    _deadline_check(deadline)
            return
        kind, batch = KIND[row], BATCH[row]
        payload = PAYLOADS[kind]
        put = 0
        while True:
            with ip.wait_my_turn(sm):
                if ctl[0]:
                    break
                k = min(batch, WINDOW - (put - ctl[1]))
                for _ in range(k):
                    sm.put_message(payload)
            if not k and idle_s:
                sleep(idle_s)
            put += k
            it += 1
            if not it & 255:
                _deadline_check(deadline)


def ippo_consumer(name, row, cfg):
    ip, why = load_ippo()
    if ip is None:
        raise RuntimeError(why)
    win = Windows(cfg)
    sleep, idle_s = time.sleep, cfg.idle_s
    sm = ip.SharedMemory(name)
    with sm:
        sm.init_consumer(cfg.setup_budget)
        with ip.wait_my_turn_when_has_messages(sm):
            ctl = sm.take_message()
        it = 0
        if row == "alt":
            v = 0
            while True:
                with ip.wait_my_turn(sm):
                    v = ctl[2]
                    if v % 2 == 1:
                        ctl[2] = v + 1
                it += 1
                if not it & 15 and win.tick(v // 2):
                    with ip.wait_my_turn(sm):
                        ctl[0] = 1
                    break
            return win.result()
        kind, batch = KIND[row], BATCH[row]
        touch = TOUCH[kind]
        count = acc = 0
        while True:
            with ip.wait_my_turn(sm):
                k = 0
                while k < batch and sm.has_messages():
                    m, off = sm.take_message_2()
                    acc += touch(m)
                    sm.destroy_obj(off)
                    k += 1
                ctl[1] += k
            if not k and idle_s:
                sleep(idle_s)
            count += k
            if win.tick(count):  # every iteration: one is 0.1 ms or more here
                with ip.wait_my_turn(sm):
                    ctl[0] = 1
                break
    return win.result(checked=acc == count * EXPECT[kind])


def pair_ippo(row, cfg, ctx):
    name = f"shmheap_bench_ippo_{row}_{os.getpid()}"
    return run_pair(ctx, cfg, (ippo_creator, (name, row, cfg)), (ippo_consumer, (name, row, cfg)))


# ---- ShareableList two-process sides ---------------------------------------------------


def sl_put(box_name, ctl_name, lock, row, cfg):
    deadline = perf_counter() + cfg.setup_budget + cfg.budget
    box = shared_memory.ShareableList(name=box_name)
    ctl = shared_memory.ShareableList(name=ctl_name)  # [written, read, stop]
    try:
        kind = KIND[row]
        payload = PAYLOADS[kind]
        it = 0
        while True:
            with lock:
                if ctl[2]:
                    break
                free = ctl[0] == ctl[1]
            if free:  # the box is ours until we bump `written`
                if kind == "bytes":
                    box[0] = payload
                else:
                    for i, v in enumerate(payload):
                        box[i] = v
                with lock:
                    ctl[0] += 1
            else:
                sched_yield()
            it += 1
            if not it & 255:
                _deadline_check(deadline)
    finally:
        box.shm.close()
        ctl.shm.close()


def sl_take(box_name, ctl_name, lock, row, cfg):
    win = Windows(cfg)
    box = shared_memory.ShareableList(name=box_name)
    ctl = shared_memory.ShareableList(name=ctl_name)
    try:
        kind = KIND[row]
        touch = TOUCH[kind]
        count = acc = 0
        while True:
            with lock:
                full = ctl[0] > ctl[1]
            if full:  # the box is ours until we bump `read`
                acc += touch(box[0] if kind == "bytes" else box)
                with lock:
                    ctl[1] += 1
                count += 1
            else:
                sched_yield()
            if win.tick(count):
                with lock:
                    ctl[2] = 1
                break
    finally:
        box.shm.close()
        ctl.shm.close()
    return win.result(checked=acc == count * EXPECT[kind])


def sl_alt(ctl_name, lock, me, cfg):
    win = Windows(cfg)
    ctl = shared_memory.ShareableList(name=ctl_name)  # [counter, stop]
    try:
        it = v = 0
        while True:
            with lock:
                if ctl[1]:
                    break
                v = ctl[0]
                mine = v % 2 == me
                if mine:
                    ctl[0] = v + 1
            if not mine:
                sched_yield()
            it += 1
            if not it & 15:
                if me == 0:
                    if perf_counter() > win.deadline:
                        raise TimeoutError("row overran its budget")
                elif win.tick(v // 2):
                    with lock:
                        ctl[1] = 1
                    break
    finally:
        ctl.shm.close()
    return win.result() if me == 1 else None


def pair_sl(row, cfg, ctx):
    made = []
    lock = ctx.Lock()
    try:
        if row == "alt":
            ctl = shared_memory.ShareableList([0, 0])
            made.append(ctl)
            return run_pair(ctx, cfg, (sl_alt, (ctl.shm.name, lock, 0, cfg)),
                            (sl_alt, (ctl.shm.name, lock, 1, cfg)))
        kind = KIND[row]
        box = shared_memory.ShareableList([BYTES] if kind == "bytes" else [0] * len(INTS))
        made.append(box)
        ctl = shared_memory.ShareableList([0, 0, 0])
        made.append(ctl)
        args = (box.shm.name, ctl.shm.name, lock, row, cfg)
        return run_pair(ctx, cfg, (sl_put, args), (sl_take, args))
    finally:
        for s in made:
            s.shm.close()
            s.shm.unlink()


# ---- Manager two-process sides -------------------------------------------------------


def mgr_put(q, stop, row, cfg):
    deadline = perf_counter() + cfg.setup_budget + cfg.budget
    payload = PAYLOADS[KIND[row]]
    while not stop.is_set():
        try:
            q.put(payload, True, 0.05)
        except queue_mod.Full:
            _deadline_check(deadline)


def mgr_take(q, stop, row, cfg):
    win = Windows(cfg)
    kind = KIND[row]
    touch = TOUCH[kind]
    count = acc = 0
    while True:
        try:
            m = q.get(True, 0.05)
            acc += touch(m)
            count += 1
        except queue_mod.Empty:
            pass
        if win.tick(count):
            stop.set()
            break
    return win.result(checked=acc == count * EXPECT[kind])


def mgr_alt(lst, me, cfg):
    win = Windows(cfg)
    it = v = 0
    while not lst[1]:
        v = lst[0]
        if v % 2 == me:
            lst[0] = v + 1
        it += 1
        if not it & 15:
            if me == 0:
                if perf_counter() > win.deadline:
                    raise TimeoutError("row overran its budget")
            elif win.tick(v // 2):
                lst[1] = 1
                break
    return win.result() if me == 1 else None


def pair_manager(row, cfg, ctx):
    with ctx.Manager() as m:
        if row == "alt":
            lst = m.list([0, 0])
            return run_pair(ctx, cfg, (mgr_alt, (lst, 0, cfg)), (mgr_alt, (lst, 1, cfg)))
        q = m.Queue(WINDOW)
        stop = ctx.Event()
        return run_pair(ctx, cfg, (mgr_put, (q, stop, row, cfg)), (mgr_take, (q, stop, row, cfg)))


def pair_local(row, cfg, ctx):
    return local_msgs(row, cfg)


PAIR = {
    "local": pair_local,
    "shmheap": pair_shmheap,
    "sl": pair_sl,
    "manager": pair_manager,
    "ippo": pair_ippo,
}

# ---- the table -----------------------------------------------------------------------


def fmt_rate(row, v):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    unit = ROW[row][2]
    if unit == "bytes":
        return f"{v:.2f} GiB/s"
    suffix = {"ops": "/s", "msgs": " msg/s", "rt": " rt/s"}[unit]
    for scale, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.3g} {p}{suffix}"
    return f"{v:.3g}{suffix}"


def as_value(row, rate):
    """Two-process results are counts/s; bytes rows become GiB/s."""
    if ROW[row][2] == "bytes":
        return rate * BYTES_LEN / 2**30
    return rate


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a few seconds in all: short runs, every row (CI smoke)")
    ap.add_argument("--only", default="",
                    help="comma list of peers: " + ",".join(PEERS) + " (shareablelist, "
                    "interprocesspyobjects accepted)")
    ap.add_argument("--rows", default="", help="comma list of rows: " + ",".join(ROW))
    ap.add_argument("--start-method", default="fork", choices=["fork", "spawn", "forkserver"])
    ap.add_argument("--idle-sleep", type=float, default=20e-6, metavar="SECONDS",
                    help="message rows: a shmheap/IPPO side whose turn found nothing to do "
                    "sleeps this long before asking again (default 20e-6; 0 = retry at once)")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers there")
    args = ap.parse_args()

    cfg = Cfg(args.quick)
    cfg.idle_s = args.idle_sleep
    peers = PEERS
    if args.only:
        want = [PEER_ALIASES.get(p.strip().lower(), p.strip().lower()) for p in args.only.split(",")]
        bad = [p for p in want if p not in PEERS]
        if bad:
            ap.error(f"unknown peer(s) {bad}; known: {PEERS}")
        peers = [p for p in PEERS if p in want]
    rows = [r[0] for r in ROWS]
    if args.rows:
        want = [r.strip() for r in args.rows.split(",")]
        bad = [r for r in want if r not in ROW]
        if bad:
            ap.error(f"unknown row(s) {bad}; known: {list(ROW)}")
        rows = [r for r in rows if r in want]
    if args.start_method != "fork":
        # IPPO's README: its hash maps need the same PYTHONHASHSEED in every process.
        os.environ.setdefault("PYTHONHASHSEED", "0")
    ctx = mp.get_context(args.start_method)
    # One resource tracker for every process: otherwise each forked child that attaches a
    # multiprocessing SharedMemory (ShareableList, IPPO) starts its own, and that one unlinks
    # the segment, as "leaked", the moment the child exits.
    resource_tracker.ensure_running()

    t_start = time.monotonic()
    load_start = loadavg()
    skipped = {}  # peer -> why
    versions = {}
    for p, loader in (("shmheap", load_shmheap), ("ippo", load_ippo)):
        if p in peers:
            mod, info = loader()
            if mod is None:
                skipped[p] = info
            else:
                versions[p] = info

    results = {}  # (peer, row) -> float, or str for "error ..."
    errors = {}  # (peer, row) -> message
    live = [p for p in peers if p not in skipped]
    inturn_rows = [r for r in rows if ROW[r][3] == "inturn"]
    pair_rows = [r for r in rows if ROW[r][3] == "pair"]
    for p in live:
        todo = [r for r in inturn_rows if (p, r) not in CANNOT]
        if not todo:
            continue
        print(f"[bench] {p}: in-turn rows {','.join(todo)}", file=sys.stderr, flush=True)
        try:
            INTURN[p](todo, cfg, results, ctx)
        except Exception as e:  # noqa: BLE001
            for r in todo:
                if (p, r) not in results:
                    errors[(p, r)] = f"{type(e).__name__}: {e}"
    for r in pair_rows:
        for p in live:
            if (p, r) in CANNOT:
                continue
            print(f"[bench] {p}: {r}", file=sys.stderr, flush=True)
            try:
                res = PAIR[p](r, cfg, ctx)
                results[(p, r)] = as_value(r, res["rate"])
                if res.get("checked") is False:
                    errors[(p, r)] = "the reader's checksum did not match (counted anyway)"
                if res.get("partial"):
                    errors[(p, r)] = (f"ran out of its {cfg.budget:g} s budget before "
                                      f"{cfg.windows} windows: {res['partial']}, rate over that")
            except Exception as e:  # noqa: BLE001
                errors[(p, r)] = f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"

    # footnotes: one number per distinct text, in order of first use
    foot = {}

    def mark(text):
        if text not in foot:
            foot[text] = len(foot) + 1
        return f"[{foot[text]}]"

    cols = [p for p in peers]
    head = ["row"] + [PEER_TITLE[p] for p in cols]
    has_ratio_local = "shmheap" in cols and "local" in cols
    has_ratio_ippo = "shmheap" in cols and "ippo" in cols
    if has_ratio_local:
        head.append("shmheap ÷ local")
    if has_ratio_ippo:
        head.append("shmheap ÷ IPPO")
    out = []
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for r in rows:
        cells = [ROW[r][1].replace(" [t]", mark(
            "bytes rows: the reader takes the message, then `len()` and the sum of one byte per "
            "4 KiB page (`sum(memoryview(m)[::4096])`); GiB/s counts the 400 KiB payload "
            "(409600 bytes) per message, end to end.")) if "[t]" in ROW[r][1] else ROW[r][1]]
        for p in cols:
            key = (p, r)
            if p in skipped:
                cell = "skipped" + mark(f"{PEER_TITLE[p]} skipped: {skipped[p]}.")
            elif key in CANNOT:
                cell = "—" + mark(CANNOT[key])
            elif key in errors and key not in results:
                cell = "error" + mark(f"{PEER_TITLE[p]}, row {r}: {errors[key]}")
            elif key in results:
                cell = fmt_rate(r, results[key])
                if key in NOTES:
                    cell += mark(NOTES[key])
                if (p == "shmheap" and ROW[r][3] == "inturn" and r not in ("turn", "putake")
                        and results.get(("shmheap", "_via")) == "message"):
                    cell += mark("shmheap, in-turn rows: this build has no `t.root` yet "
                                 "(`Error: root: not yet`), so the list and the dict are "
                                 "taken messages held live (`l = t.take_message()`) "
                                 "inside the one `with seg.turn() as t:`.")
                if key in errors:
                    cell += mark(f"{PEER_TITLE[p]}, row {r}: {errors[key]}")
            else:
                cell = "—"
            cells.append(cell)
        for ok, base in ((has_ratio_local, "local"), (has_ratio_ippo, "ippo")):
            if not ok:
                continue
            a, b = results.get(("shmheap", r)), results.get((base, r))
            if base == "local" and ROW[r][3] != "inturn":
                b = None  # the local message floor is no like-for-like baseline
            cells.append(f"{a / b:.2f}×" if isinstance(a, float) and isinstance(b, float)
                         and b > 0 else "")
        out.append("| " + " | ".join(cells) + " |")

    if foot:
        out.append("")
        for text, n in foot.items():
            out.append(f"[{n}] {text}  ")

    if "shmheap" in cols:
        out.append("")
        out.append("| target (from the issue) | measured (shmheap) | met |")
        out.append("|---|---:|:---:|")
        for label, r, thr in TARGETS:
            if r not in rows:
                continue
            v = results.get(("shmheap", r))
            if thr == "local/3":
                loc = results.get(("local", r))
                if not isinstance(loc, float):
                    continue
                label = f"{label} (≥ {fmt_rate(r, loc / 3)}, a third of local's {fmt_rate(r, loc)})"
                thr = loc / 3
            if isinstance(v, float):
                out.append(f"| {label} | {fmt_rate(r, v)} | {'yes' if v >= thr else 'no'} |")
            else:
                why = skipped.get("shmheap") or errors.get(("shmheap", r), "not measured")
                out.append(f"| {label} | — ({why}) | no |")

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = "?"
    cmd = " ".join([sys.executable] + sys.argv)
    out.append("")
    out.append(f"- machine: nproc {affinity} (cpu_count {os.cpu_count()}), CPU: {cpu_model()}, "
               f"{platform.system()} {platform.release()}; load average {load_start} at start, "
               f"{loadavg()} at end")
    out.append(f"- Python {platform.python_version()} ({platform.python_implementation()}), "
               f"shmheap {versions.get('shmheap', '—')}, InterProcessPyObjects "
               f"{versions.get('ippo', '—')}; processes by `multiprocessing` "
               f"{args.start_method}")
    out.append(f"- command: `{cmd}`")
    if args.quick:
        how = "--quick: smoke numbers only, too short to quote"
    else:
        how = "full"
    out.append(f"- {how}; in-turn rows: best of {cfg.runs} runs of ~{cfg.run_s:g} s of the bare "
               f"loop, nothing subtracted; two-process rows: best of {cfg.windows} windows of "
               f"{cfg.span:g} s after {cfg.warm:g} s warm-up, counted by the taking side; "
               f"{time.monotonic() - t_start:.0f} s in all")
    out.append("- the machine is shared (other engineers compile on the same 2 cores): expect "
               "noise, numbers are best-of-N, and two-process rows suffer most when a compiler "
               "takes one of the cores")
    print("\n".join(out))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": {f"{p}/{r}": v for (p, r), v in results.items()},
                       "errors": {f"{p}/{r}": v for (p, r), v in errors.items()},
                       "skipped": skipped, "versions": versions, "command": cmd,
                       "quick": args.quick}, f, indent=1)


if __name__ == "__main__":
    main()
