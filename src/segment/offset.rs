//! Offsets into a segment: a newtype, never a bare integer.

use std::fmt;

/// A byte offset from the start of a segment.
///
/// Every reference inside a segment is one of these, relative to the
/// segment's base, so a segment means the same at any address it is mapped.
/// `Offset::NULL` (0) is the "no object" sentinel: offset 0 is the header,
/// never an object.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub(crate) struct Offset(u64);

impl Offset {
    /// The sentinel for "none".
    pub(crate) const NULL: Offset = Offset(0);

    /// Wraps a raw offset read from the segment (not yet checked: every
    /// access through [`super::Mem`] checks bounds and alignment).
    #[inline]
    pub(crate) const fn new(raw: u64) -> Offset {
        Offset(raw)
    }

    /// The raw value, as stored in the segment.
    #[inline]
    pub(crate) const fn get(self) -> u64 {
        self.0
    }

    /// Whether this is the sentinel.
    #[inline]
    pub(crate) const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// `self + n`, or `None` on overflow.
    #[inline]
    pub(crate) fn checked_add(self, n: u64) -> Option<Offset> {
        self.0.checked_add(n).map(Offset)
    }

    /// `self + n`; the caller knows it does not overflow (both in bounds).
    #[inline]
    pub(crate) const fn add(self, n: u64) -> Offset {
        Offset(self.0 + n)
    }
}

impl fmt::Debug for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{:#x}", self.0)
    }
}
