"""shmheap's exceptions. The native module raises these (errors.rs)."""

from __future__ import annotations


class Error(Exception):
    """Base of every shmheap error."""


class NameTaken(Error, FileExistsError):
    """A segment of that name exists already."""


class NotFound(Error, FileNotFoundError):
    """No segment of that name exists."""


class Timeout(Error, TimeoutError):
    """The turn did not come within the timeout; it was not entered."""


class OutOfMemory(Error, MemoryError):
    """The segment has no room for the value; nothing was changed."""


class NoMessages(Error, LookupError):
    """The message queue is empty."""


class PeerDied(Error):
    """A process died while holding the turn; `seg.recover()` recovers."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class Corrupt(Error):
    """The segment's bytes violate the format (or it is not a segment, or
    of another format version)."""


class StaleHandle(Error):
    """The shared object was freed."""


class NotInTurn(Error):
    """A shared object was used while this thread holds no turn of its
    segment."""


class ClassNotFound(Error, TypeError):
    """An object in the segment cannot be rebuilt in this process: its class
    (``.path``, ``"module:qualname"``) cannot be imported here, or is not a
    plain class here; or a pickled value names a class or module that
    cannot be imported."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
