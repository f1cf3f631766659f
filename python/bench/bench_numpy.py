#!/usr/bin/env python3
"""A numpy array shared in place between two processes: shmheap against
`multiprocessing.shared_memory` + `np.ndarray(buffer=...)` and InterProcessPyObjects'
numpy support, in one run, as one Markdown table.

    python python/bench/bench_numpy.py                  # 100 MB float64, every peer
    python python/bench/bench_numpy.py --quick          # 4 MB, a few seconds (CI smoke)
    python python/bench/bench_numpy.py --quick --only shmheap,local

Rows (best of N rounds; each round starts from fresh memory, so the pages are cold for
every peer):
  share   process A holds a local float64 array; time from just before A shares it until
          process B holds an ndarray over the shared data and has touched it (summed one
          element of every 4 KiB page). A and B are running and attached before the clock
          starts; the hand-over message is a pipe.
          shmheap: `t.root["a"] = arr` in A's turn, then `a = t.root["a"]` in B's turn.
          shared_memory: A creates a SharedMemory of the array's size and copies the array
          into an ndarray over its buffer; B attaches it by name and makes the ndarray.
          IPPO: `sm.put_message(arr)` in A's turn, `sm.take_message()` in B's.
  iadd    `a += 1` on the shared array in place, in B (shmheap: inside a turn). The local
          column is the same on a process-local array.
IPPO uses bench.py's import workaround for its cengal-light wheel (`load_ippo`).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
import traceback
from multiprocessing import resource_tracker, shared_memory

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import cpu_model, load_ippo, load_shmheap, loadavg

perf_counter = time.perf_counter
PAGE_ELEMS = 4096 // 8
PEERS = ["local", "shmheap", "shm", "ippo"]
TITLE = {
    "local": "local numpy",
    "shmheap": "shmheap",
    "shm": "shared_memory + np.ndarray(buffer=)",
    "ippo": "IPPO 2.0.0",
}
ALIASES = {"shared_memory": "shm", "interprocesspyobjects": "ippo"}
TIMEOUT = 300.0


def touch(a) -> float:
    """One element of every 4 KiB page (B's page tables filled, the data read)."""
    return float(a.reshape(-1)[::PAGE_ELEMS].sum())


def best_iadd(a, n: int) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = perf_counter()
        a += 1
        best = min(best, perf_counter() - t0)
    return best


# ---- the B side of one round: gets the array, touches it, times `a += 1` -------------


def side_b(peer: str, where, conn, iadd_runs: int) -> None:
    try:
        if peer == "shmheap":
            import shmheap

            seg = shmheap.Segment.attach(where)
            conn.send("ready")
            conn.recv()
            with seg.turn(timeout=60) as t:
                a = t.root["a"]
                s = touch(a)
                t1 = perf_counter()
                iadd = best_iadd(a, iadd_runs)
            conn.send((t1, s, a.shape, iadd))
            del a
            seg.close()
        elif peer == "shm":
            conn.send("ready")
            name, shape, dtype = conn.recv()
            shm = shared_memory.SharedMemory(name=name)
            a = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
            s = touch(a)
            t1 = perf_counter()
            iadd = best_iadd(a, iadd_runs)
            conn.send((t1, s, a.shape, iadd))
            del a
            shm.close()
        elif peer == "ippo":
            ip, why = load_ippo()
            if ip is None:
                raise RuntimeError(why)
            sm = ip.SharedMemory(where)
            with sm:
                sm.init_consumer(60)
                conn.send("ready")
                conn.recv()
                with ip.wait_my_turn_when_has_messages(sm):
                    a = sm.take_message()
                    s = touch(a)
                    t1 = perf_counter()
                    iadd = best_iadd(a, iadd_runs)
                conn.send((t1, s, a.shape, iadd))
                del a
    except BaseException:  # noqa: BLE001 - report, never hang the parent
        conn.send(("error", traceback.format_exc()))


def recv(conn, what: str):
    if not conn.poll(TIMEOUT):
        raise TimeoutError(f"no {what} from process B within {TIMEOUT} s")
    m = conn.recv()
    if isinstance(m, tuple) and m and m[0] == "error":
        raise RuntimeError(m[1])
    return m


def one_round(peer: str, arr: np.ndarray, iadd_runs: int, tag: str):
    """(share seconds, iadd seconds) of one round with fresh memory."""
    ctx = mp.get_context("fork")
    a_end, b_end = ctx.Pipe()
    name = f"bench_np_{peer}_{os.getpid()}_{tag}"
    size = arr.nbytes + (16 << 20)
    seg = sm = shm = None
    try:
        if peer == "shmheap":
            import shmheap

            seg = shmheap.Segment.create(name, size)
        elif peer == "ippo":
            ip, _ = load_ippo()
            sm = ip.SharedMemory(name, create=True, size=2 * arr.nbytes + (64 << 20))
            sm.__enter__()
        child = ctx.Process(target=side_b, args=(peer, name, b_end, iadd_runs), daemon=True)
        child.start()
        if peer == "ippo":
            sm.wait_consumer_ready(60)
        recv(a_end, "ready")
        t0 = perf_counter()
        if peer == "shmheap":
            with seg.turn(timeout=60) as t:
                t.root["a"] = arr
            a_end.send("go")
        elif peer == "shm":
            shm = shared_memory.SharedMemory(name=name, create=True, size=arr.nbytes)
            b = np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf)
            b[...] = arr
            a_end.send((name, arr.shape, arr.dtype.str))
            del b
        else:
            with ip.wait_my_turn(sm):
                sm.put_message(arr)
            a_end.send("go")
        t1, s, shape, iadd = recv(a_end, "result")
        child.join(TIMEOUT)
        if child.is_alive():
            child.kill()
            raise TimeoutError("process B did not exit")
        if shape != arr.shape or s != touch(arr):
            raise RuntimeError(f"B saw shape {shape} and sum {s}: not the array")
        return t1 - t0, iadd
    finally:
        if seg is not None:
            seg.close()
        if shm is not None:
            shm.close()
            shm.unlink()
        if sm is not None:
            sm.__exit__(None, None, None)


def fmt_time(s) -> str:
    if isinstance(s, str):
        return s
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 MB arrays, 2 rounds (CI smoke)")
    ap.add_argument("--mb", type=float, default=None, help="array size in MB (default 100)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per peer (default 5)")
    ap.add_argument("--only", default="", help="comma list of peers: " + ",".join(PEERS))
    args = ap.parse_args()
    mb = args.mb or (4 if args.quick else 100)
    rounds = args.rounds or (2 if args.quick else 5)
    peers = PEERS
    if args.only:
        want = [ALIASES.get(p.strip().lower(), p.strip().lower()) for p in args.only.split(",")]
        bad = [p for p in want if p not in PEERS]
        if bad:
            ap.error(f"unknown peer(s) {bad}; known: {PEERS}")
        peers = [p for p in PEERS if p in want]
    resource_tracker.ensure_running()
    n = int(mb * 1e6) // 8
    arr = np.arange(n, dtype=np.float64).reshape(-1, 1000) if n % 1000 == 0 else np.arange(
        n, dtype=np.float64
    )
    load_start = loadavg()
    t_start = time.monotonic()
    results: dict[tuple[str, str], object] = {}
    notes: list[str] = []
    for peer in peers:
        if peer == "local":
            local = arr.copy()
            results[("local", "iadd")] = best_iadd(local, 3 * rounds)
            results[("local", "share")] = "—"
            continue
        mod, why = (load_shmheap() if peer == "shmheap" else load_ippo()) if peer != "shm" else (
            True,
            "",
        )
        if mod is None:
            notes.append(f"{TITLE[peer]}: skipped, {why}")
            continue
        print(f"[bench_numpy] {peer}: {rounds} rounds of {mb:g} MB", file=sys.stderr, flush=True)
        best_share = best_iadd_t = float("inf")
        try:
            for r in range(rounds):
                share, iadd = one_round(peer, arr, 3, str(r))
                best_share, best_iadd_t = min(best_share, share), min(best_iadd_t, iadd)
            results[(peer, "share")] = best_share
            results[(peer, "iadd")] = best_iadd_t
        except Exception as e:  # noqa: BLE001 - an honest "did not work" cell
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            results[(peer, "share")] = results[(peer, "iadd")] = "error (see note)"
            notes.append(f"{TITLE[peer]}: {msg[:300]}")
    out = []
    out.append(f"| {mb:g} MB float64 array ({n:,} elements) | "
               + " | ".join(TITLE[p] for p in peers) + " |")
    out.append("|---|" + "---:|" * len(peers))
    labels = {
        "share": "share with another process (put → B has an ndarray, touched)",
        "iadd": "`a += 1` in place (in B)",
    }
    for row in ("share", "iadd"):
        cells = [fmt_time(results.get((p, row), "—")) for p in peers]
        out.append(f"| {labels[row]} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"- best of {rounds} rounds (`a += 1`: best of 3 per round); fresh memory "
               "each round; `python python/bench/bench_numpy.py"
               + (" --quick" if args.quick else "") + "`")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    out.append(f"- machine: nproc {affinity} (cpu_count {os.cpu_count()}), CPU: {cpu_model()}, "
               f"{platform.system()} {platform.release()}; load average {load_start} at start, "
               f"{loadavg()} at end; {time.monotonic() - t_start:.1f} s in all")
    out.append(f"- Python {platform.python_version()}, numpy {np.__version__}")
    for note in notes:
        out.append(f"- {note}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
