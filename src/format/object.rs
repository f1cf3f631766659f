//! Objects (kind 22): an instance of a class as the tuple layout with
//! exactly two slots, slot 0 a str (the class's import path) and slot 1 a
//! dict (the attributes, a mutable dict the object owns). Validation,
//! freeing and writing are the tuple's, plus [`check`].
//!
//! Pickled values (kind 21) need no code of their own: they are laid out,
//! written, read, validated and freed as bytes.

use super::{SEQ_SLOTS, Slot, T_DICT, T_STR, payload};
use crate::Error;
use crate::segment::{Mem, Offset};

/// Longest class path, in bytes (a str of `1..=MAX_CLASS_PATH` bytes).
pub(crate) const MAX_CLASS_PATH: usize = 1024;

/// Whether `class` is an acceptable class path (its length; UTF-8 is the
/// str's own rule).
pub(crate) fn class_ok(class: &str) -> bool {
    (1..=MAX_CLASS_PATH).contains(&class.len())
}

/// Checks the object at `b` (a block of kind 22 whose tuple layout, `len`
/// slots fitting the block, was checked by the caller) beyond the tuple's
/// rules: `len == 2`, slot 0 a str of an acceptable length, slot 1 a dict.
/// Returns the blocks of the class str and of the attribute dict (not yet
/// checked as blocks: the caller follows them as it follows any slot).
pub(crate) fn check(m: &Mem, b: Offset, len: u64) -> Result<(Offset, Offset), Error> {
    let bad = |what: &str| Err(Error::corrupt(b.get(), format!("object {what}")));
    if len != 2 {
        return bad("does not have exactly two slots");
    }
    let class = Slot::read_checked(m, b.add(SEQ_SLOTS))?;
    let attrs = Slot::read_checked(m, b.add(SEQ_SLOTS + 16))?;
    if class.tag != T_STR {
        return bad("class path is not a str");
    }
    if attrs.tag != T_DICT {
        return bad("attributes are not a dict");
    }
    let (c, d) = (Offset::new(class.payload), Offset::new(attrs.payload));
    // The str's own checks (block, length within it, UTF-8) follow when
    // the str is read or validated; here only the bound of a class path.
    let n = m.u64(payload(c))?;
    if n == 0 || n > MAX_CLASS_PATH as u64 {
        return bad("class path is empty or longer than 1024 bytes");
    }
    Ok((c, d))
}
