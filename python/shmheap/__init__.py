"""shmheap: live Python objects shared between processes in one
shared-memory segment, read and mutated in place, turn by turn.

    import shmheap
    seg = shmheap.Segment.create("demo", 200 << 20)
    with seg.turn() as t:
        t.root["counters"] = [0] * 16
    # another process:
    seg = shmheap.Segment.attach("demo")
    with seg.turn() as t:
        t.root["counters"][3] += 1

A shared object is usable only while its process holds a turn of its
segment (`NotInTurn` otherwise); see the README for the guarantees.
"""

from __future__ import annotations

import collections.abc as _abc
import os as _os

from ._aio import AsyncTurn
from ._errors import (
    ClassNotFound,
    Corrupt,
    Error,
    NameTaken,
    NoMessages,
    NotFound,
    NotInTurn,
    OutOfMemory,
    PeerDied,
    StaleHandle,
    Timeout,
)
from ._native import (
    Segment,
    SharedByteArray,
    SharedDict,
    SharedList,
    SharedSet,
    Turn,
    _after_fork_in_child,
    to_python,
)
from ._native import (
    _TurnWaiter as _TurnWaiter,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncTurn",
    "ClassNotFound",
    "Corrupt",
    "Error",
    "NameTaken",
    "NoMessages",
    "NotFound",
    "NotInTurn",
    "OutOfMemory",
    "PeerDied",
    "Segment",
    "SharedByteArray",
    "SharedDict",
    "SharedList",
    "SharedSet",
    "StaleHandle",
    "Timeout",
    "Turn",
    "to_python",
]

_abc.MutableSequence.register(SharedList)
_abc.MutableMapping.register(SharedDict)
_abc.MutableSet.register(SharedSet)
_abc.MutableSequence.register(SharedByteArray)

# A forked child must not use its parent's turn or attachment: it attaches
# again, as a process of its own, when it first uses a segment.
_os.register_at_fork(after_in_child=_after_fork_in_child)
