"""Shared fixtures for the shmheap Python tests.

Every test gets unique segment names (pid + counter) that are unlinked after
it, a whole-test watchdog (faulthandler dumps every thread's stack and exits
the run if a test hangs: pytest-timeout is not available), and ``procs``, a
helper that starts ``multiprocessing`` children and joins them with a timeout,
failing (and killing them) if one is still alive.
"""

from __future__ import annotations

import faulthandler
import itertools
import multiprocessing as mp
import os
import sys

import pytest

import shmheap

# One hang must not hang the run: every test gets this long at most.
TEST_WATCHDOG_SECONDS = float(os.environ.get("SHMHEAP_TEST_WATCHDOG", "240"))
# A child process gets this long to finish unless the test says otherwise.
CHILD_TIMEOUT = 60.0
SEG_SIZE = 16 << 20

_counter = itertools.count()


def unique_name(tag: str = "t") -> str:
    return f"shmt-{tag}-{os.getpid()}-{next(_counter)}"


def unlink_quietly(name: str) -> None:
    try:
        shmheap.Segment.unlink(name)
    except (shmheap.NotFound, FileNotFoundError):
        pass


@pytest.fixture(autouse=True)
def _watchdog():
    faulthandler.dump_traceback_later(TEST_WATCHDOG_SECONDS, exit=True, file=sys.stderr)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def names():
    """``names()`` -> a fresh segment name, unlinked when the test ends."""
    made: list[str] = []

    def make(tag: str = "t") -> str:
        n = unique_name(tag)
        made.append(n)
        return n

    yield make
    for n in made:
        unlink_quietly(n)


@pytest.fixture
def seg(names):
    """A fresh 16 MiB segment, closed and unlinked after the test."""
    s = shmheap.Segment.create(names("seg"), SEG_SIZE)
    try:
        yield s
    finally:
        if not s.closed:
            s.close()


class Procs:
    """Children started through one multiprocessing context, never left behind."""

    def __init__(self) -> None:
        self.started: list = []

    def start(self, target, *args, ctx: str = "fork", **kwargs):
        p = mp.get_context(ctx).Process(target=target, args=args, kwargs=kwargs, daemon=True)
        p.start()
        self.started.append(p)
        return p

    def join(self, p, timeout: float = CHILD_TIMEOUT, exitcode: int | None = 0) -> None:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join(5)
            pytest.fail(f"child {p.pid} ({p.name}) still alive after {timeout} s: killed")
        if exitcode is not None:
            assert p.exitcode == exitcode, f"child {p.pid} exited with {p.exitcode}"

    def join_all(self, timeout: float = CHILD_TIMEOUT, exitcode: int | None = 0) -> None:
        for p in list(self.started):
            self.join(p, timeout, exitcode)

    def kill_all(self) -> None:
        for p in self.started:
            if p.is_alive():
                p.kill()
                p.join(5)


@pytest.fixture
def procs():
    pr = Procs()
    try:
        yield pr
    finally:
        pr.kill_all()


def recv(conn, timeout: float = CHILD_TIMEOUT):
    """``conn.recv()`` that fails the test instead of hanging."""
    if not conn.poll(timeout):
        pytest.fail(f"no answer from the child within {timeout} s")
    return conn.recv()
