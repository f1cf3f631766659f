#!/usr/bin/env python3
"""A dataclass field `+= 1` in place: shmheap's live instances against a local dataclass
and InterProcessPyObjects' dataclass support, in one run, as one Markdown table.

    python python/bench/bench_objects.py            # about ten seconds
    python python/bench/bench_objects.py --quick    # a second or two (CI smoke)

Rows (each the bare loop body, timed with `time.perf_counter()`, best of N runs, nothing
subtracted; every peer inside its own turn / lock for the whole run, as a process that
holds the turn for a batch of updates would):
  iadd   `c.n += 1` on an instance of `@dataclass class Counter: n: int; f: float; s: str`
  read   `v = c.n`
  write  `c.f = 1.5`

Peers:
  local  a plain local dataclass instance (the floor)
  shmheap  `t.root["c"] = Counter(...)`, then `c = t.root["c"]` (a live instance), inside
         one `with seg.turn() as t:`
  IPPO   InterProcessPyObjects 2.0.0: `c = sm.put_message(Counter(...))` (its shared
         dataclass proxy) inside one `with wait_my_turn(sm):`; loaded with bench.py's
         import workaround for its cengal-light wheel. The issue quotes 152 k/s for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from itertools import repeat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import cpu_model, load_ippo, load_shmheap, loadavg

perf_counter = time.perf_counter


@dataclasses.dataclass
class Counter:
    n: int = 0
    f: float = 0.0
    s: str = "counter"


def loop_iadd(c, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        c.n += 1
    return perf_counter() - t0


def loop_read(c, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        v = c.n  # noqa: F841
    return perf_counter() - t0


def loop_write(c, n):
    t0 = perf_counter()
    for _ in repeat(None, n):
        c.f = 1.5
    return perf_counter() - t0


ROWS = [
    ("iadd", "dataclass field `c.n += 1`", loop_iadd),
    ("read", "dataclass field read `v = c.n`", loop_read),
    ("write", "dataclass field write `c.f = 1.5`", loop_write),
]
PEERS = ["local", "shmheap", "ippo"]
TITLE = {"local": "local dataclass", "shmheap": "shmheap", "ippo": "IPPO 2.0.0"}


def best_rate(loop, c, runs, run_s):
    """Operations per second: best of `runs` runs of about `run_s` seconds each."""
    n = 1000
    while True:  # calibrate n to about run_s
        dt = loop(c, n)
        if dt >= run_s / 4 or n >= 1 << 26:
            break
        n *= 4
    n = max(1, int(n * run_s / max(dt, 1e-9)))
    return max(n / loop(c, n) for _ in range(runs))


def run_local(cfg):
    c = Counter()
    out = {r: best_rate(loop, c, cfg.runs, cfg.run_s) for r, _, loop in ROWS}
    assert c.n > 0
    return out


def run_shmheap(cfg):
    shmheap, _ = load_shmheap()
    name = f"shmheap_bench_objects_{os.getpid()}"
    with shmheap.Segment.create(name, 16 << 20) as seg, seg.turn(timeout=10) as t:
        t.root["c"] = Counter()
        c = t.root["c"]
        assert isinstance(c, Counter)
        out = {r: best_rate(loop, c, cfg.runs, cfg.run_s) for r, _, loop in ROWS}
        before = c.n
        loop_iadd(c, 10)
        assert t.root["c"].n == before + 10  # the segment's field, not a local one
    return out


def run_ippo(cfg):
    ip, why = load_ippo()
    if ip is None:
        raise RuntimeError(why)
    name = f"shmheap_bench_objects_ippo_{os.getpid()}"
    sm = ip.SharedMemory(name, create=True, size=16 << 20)
    with sm:
        with ip.wait_my_turn(sm):
            c = sm.put_message(Counter())
            out = {r: best_rate(loop, c, cfg.runs, cfg.run_s) for r, _, loop in ROWS}
            before = c.n
            loop_iadd(c, 10)
            assert c.n == before + 10
        sm._creator_destroy_timeout = 0.0  # no consumer ever came: do not wait for one
    return out


RUN = {"local": run_local, "shmheap": run_shmheap, "ippo": run_ippo}


class Cfg:
    def __init__(self, quick):
        self.runs = 2 if quick else 5
        self.run_s = 0.05 if quick else 0.3


def fmt(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    return f"{v / 1e3:.0f} k/s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (CI smoke)")
    ap.add_argument("--only", default="", help="comma list of peers: " + ",".join(PEERS))
    args = ap.parse_args()
    cfg = Cfg(args.quick)
    peers = [p for p in PEERS if not args.only or p in args.only.split(",")]
    t_start = time.monotonic()
    load_start = loadavg()
    results, errors = {}, {}
    for p in peers:
        print(f"[bench_objects] {p}", file=sys.stderr, flush=True)
        try:
            results[p] = RUN[p](cfg)
        except Exception as e:  # noqa: BLE001 - a peer that fails is reported, not fatal
            errors[p] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
    head = ["row"] + [TITLE[p] for p in peers]
    ratios = [b for b in ("local", "ippo") if b in peers and "shmheap" in peers]
    head += [f"shmheap ÷ {TITLE[b]}" for b in ratios]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    notes = []
    for r, label, _ in ROWS:
        cells = [label]
        for p in peers:
            if p in results:
                cells.append(fmt(results[p][r]))
            else:
                if errors[p] not in notes:
                    notes.append(errors[p])
                cells.append(f"error [{notes.index(errors[p]) + 1}]")
        for b in ratios:
            a, base = results.get("shmheap", {}).get(r), results.get(b, {}).get(r)
            cells.append(f"{a / base:.2f}×" if a and base else "")
        out.append("| " + " | ".join(cells) + " |")
    if notes:
        out.append("")
        out += [f"[{i + 1}] {n}  " for i, n in enumerate(notes)]
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = "?"
    out.append("")
    out.append(f"- machine: nproc {affinity}, CPU: {cpu_model()}, {platform.system()} "
               f"{platform.release()}; load average {load_start} at start, {loadavg()} at end")
    out.append(f"- Python {platform.python_version()}; command: "
               f"`{' '.join([sys.executable] + sys.argv)}`")
    out.append(f"- {'--quick: smoke numbers only' if args.quick else 'full'}; best of "
               f"{cfg.runs} runs of ~{cfg.run_s:g} s of the bare loop, one process holding its "
               f"turn throughout; {time.monotonic() - t_start:.0f} s in all")
    print("\n".join(out))


if __name__ == "__main__":
    main()
