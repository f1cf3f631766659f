//! shmheap: live, structured, dynamically typed data shared between processes
//! in one shared-memory segment, read and mutated in place, turn by turn.
//!
//! ```no_run
//! use shmheap::{Segment, value};
//! # fn main() -> Result<(), shmheap::Error> {
//! let seg = Segment::create("demo-doc", 1 << 20)?;
//! let mut turn = seg.turn()?;
//! let h = turn.put_message(&value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}]))?;
//! let h2 = turn.take_message()?.unwrap();
//! assert_eq!(h, h2);
//! let mut list = turn.list_mut(h)?;
//! *list.int_mut(1)? += 999;
//! list.push(3.5)?;
//! assert_eq!(list.get(0)?.as_str()?, "hello");
//! # Ok(()) }
//! ```
//!
//! Layers (each uses only the ones before it): [`os`] (system calls),
//! `segment` (mapping, header, bounds-checked memory), `turn` (the fair
//! N-process turn), `alloc` (the in-segment allocator), `format` (the archived
//! layout and its validator), `value` (owned values and views), `queue` (the
//! message queue). See `FORMAT.md` for the byte layout.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]

#[cfg(not(target_endian = "little"))]
compile_error!("shmheap's segment format is little-endian; big-endian targets are not supported");
#[cfg(not(target_pointer_width = "64"))]
compile_error!("shmheap needs a 64-bit target (segments of 16 GiB and more)");

mod alloc;
mod error;
mod format;
pub mod os;
mod queue;
mod segment;
mod segment_api;
mod turn;
mod value;

pub use alloc::Stats;
pub use error::Error;
pub use format::validate::Report;
pub use segment::{Handle, Segment, SegmentOptions};
pub use turn::Turn;
pub use value::{DictRef, ListMut, ListRef, SetRef, TupleRef, Value, ValueRef};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
