//! The one error type of shmheap.

use std::fmt;

/// Everything that can go wrong in a segment operation.
///
/// Every variant is something a caller can act on; `Display` says what
/// happened and where.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The segment name is not acceptable (empty, too long, `/`, `..`, NUL).
    InvalidName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A segment of that name exists already (`create` uses `O_EXCL`).
    NameTaken {
        /// The name given.
        name: String,
    },
    /// No segment of that name exists.
    NotFound {
        /// The name given.
        name: String,
    },
    /// The requested segment size is outside what shmheap supports.
    InvalidSize {
        /// The size asked for.
        size: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A system call failed.
    Io {
        /// What shmheap was doing.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The object does not start with the shmheap magic: not a segment.
    BadMagic,
    /// The segment was written by another format version.
    UnsupportedVersion {
        /// Version in the segment.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The object is smaller than its header says (truncated or lying header).
    Truncated {
        /// Size the header claims.
        claimed: u64,
        /// Size of the object.
        actual: u64,
    },
    /// The segment's bytes violate the format.
    Corrupt {
        /// Byte offset in the segment where the problem was found.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The process table is full.
    TooManyProcesses {
        /// The table's capacity.
        max: u32,
    },
    /// The segment has no free block large enough; nothing was changed.
    OutOfMemory {
        /// Bytes requested (including block overhead).
        requested: u64,
        /// Bytes free in the segment (possibly fragmented).
        free: u64,
    },
    /// The handle refers to an object that has been freed (or never was one).
    StaleHandle {
        /// The handle's offset.
        offset: u64,
        /// The handle's generation.
        generation: u64,
    },
    /// The object behind the handle cannot be freed or enqueued by the caller:
    /// it is still in the message queue, or owned by a container.
    NotOwned {
        /// The handle's offset.
        offset: u64,
        /// Who owns it.
        owner: &'static str,
    },
    /// The value has another type than the operation needs.
    TypeMismatch {
        /// The type the operation needs.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// An index past the end of a sequence.
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The sequence's length.
        len: usize,
    },
    /// A key that cannot be hashed (list, dict, set, bytearray).
    Unhashable {
        /// The key's type.
        kind: &'static str,
    },
    /// A key the dict does not hold (Python's `KeyError`).
    KeyNotFound {
        /// The key, as `Debug` shows it.
        key: String,
    },
    /// A value nests deeper than shmheap follows (writing, copying out,
    /// comparing): the limit keeps recursion off the end of the stack.
    NestingTooDeep {
        /// The limit.
        limit: u32,
    },
    /// The turn did not come within the timeout; the turn was not entered.
    Timeout,
    /// A blocking wait for the turn ([`crate::Segment::turn`] and friends,
    /// [`crate::Segment::recover`]) was called on the thread that took this
    /// process's current turn of the segment and still holds it (directly,
    /// or through an async task it runs): that wait could never end.
    /// Release the turn first (an async task awaits
    /// [`crate::Segment::turn_async`] instead, which queues).
    TurnHeld,
    /// A process died while holding the turn.
    PeerDied {
        /// Its process id.
        pid: u32,
    },
    /// A numeric array's shape does not fit its data (the product differs
    /// from the element count, overflows, or more than 32 dimensions), or
    /// a bool element is neither 0 nor 1.
    InvalidArray {
        /// What does not fit.
        what: String,
    },
    /// A [`crate::Value::Object`] that cannot be written (its class path
    /// is empty or longer than 1024 bytes); nothing was changed.
    InvalidObject {
        /// What is wrong with it.
        what: &'static str,
    },
    /// A value could not be converted to or from a Rust type (serde
    /// interop: `to_value`, `from_value`).
    Convert {
        /// What did not fit, and where in the value.
        what: String,
    },
}

impl Error {
    pub(crate) fn corrupt(offset: u64, what: impl Into<String>) -> Self {
        Error::Corrupt {
            offset,
            what: what.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => {
                write!(f, "invalid segment name {name:?}: {reason}")
            }
            Error::NameTaken { name } => write!(f, "a segment named {name:?} exists already"),
            Error::NotFound { name } => write!(f, "no segment named {name:?}"),
            Error::InvalidSize { size, reason } => {
                write!(f, "invalid segment size {size}: {reason}")
            }
            Error::Io { op, source } => write!(f, "{op} failed: {source}"),
            Error::BadMagic => write!(f, "not a shmheap segment (bad magic)"),
            Error::UnsupportedVersion { found, expected } => write!(
                f,
                "segment format version {found} is not supported (this build reads {expected})"
            ),
            Error::Truncated { claimed, actual } => write!(
                f,
                "segment is truncated: header claims {claimed} bytes, object has {actual}"
            ),
            Error::Corrupt { offset, what } => {
                write!(f, "corrupt segment at offset {offset:#x}: {what}")
            }
            Error::TooManyProcesses { max } => {
                write!(f, "segment process table is full ({max} processes)")
            }
            Error::OutOfMemory { requested, free } => write!(
                f,
                "segment out of memory: {requested} bytes requested, {free} bytes free"
            ),
            Error::StaleHandle { offset, generation } => write!(
                f,
                "stale handle (offset {offset:#x}, generation {generation}): the object was freed"
            ),
            Error::NotOwned { offset, owner } => write!(
                f,
                "object at {offset:#x} is owned by {owner} and cannot be taken by the caller"
            ),
            Error::TypeMismatch { expected, found } => {
                write!(f, "type mismatch: expected {expected}, found {found}")
            }
            Error::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range for length {len}")
            }
            Error::Unhashable { kind } => write!(f, "unhashable key type: {kind}"),
            Error::KeyNotFound { key } => write!(f, "key not found: {key}"),
            Error::NestingTooDeep { limit } => {
                write!(f, "value nests deeper than {limit} levels")
            }
            Error::Timeout => write!(f, "timed out waiting for the turn"),
            Error::TurnHeld => write!(
                f,
                "this thread holds the segment's turn already: a blocking wait here would never end"
            ),
            Error::PeerDied { pid } => write!(f, "process {pid} died while holding the turn"),
            Error::InvalidArray { what } => write!(f, "invalid array: {what}"),
            Error::InvalidObject { what } => write!(f, "invalid object: {what}"),
            Error::Convert { what } => write!(f, "value conversion failed: {what}"),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Convert {
            what: msg.to_string(),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Convert {
            what: msg.to_string(),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
