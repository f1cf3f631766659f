//! shmheap: live, structured, dynamically typed data shared between processes
//! in one shared-memory segment, read and mutated in place, turn by turn.
//!
//! ```
//! use shmheap::{Segment, value};
//! # fn main() -> Result<(), shmheap::Error> {
//! # let name = format!("doc-{}", std::process::id());
//! let seg = Segment::create(&name, 1 << 20)?;
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
//! # Async turns
//!
//! [`Segment::turn_async`] (and [`Segment::turn_async_timeout`]) is the same
//! wait as [`Segment::turn`] as a future ([`TurnFuture`]), for any executor
//! (tokio, smol, `futures::executor`): the crate depends on no runtime,
//! only on `std::task`. It resolves to the same [`Turn`], which is `Send`,
//! so it may be held across `.await`s of a multi-threaded runtime:
//!
//! ```no_run
//! # async fn f(seg: &shmheap::Segment) -> Result<(), shmheap::Error> {
//! let mut turn = seg.turn_async().await?;
//! turn.put_message(&shmheap::value!(["hello", 1]))?;
//! # Ok(()) }
//! ```
//!
//! - Waiting burns no CPU: one thread per [`Segment`] (started by the first
//!   async wait) spins briefly, then sleeps on the turn futex and wakes the
//!   waiting task; it checks that the holder lives every
//!   [`ASYNC_LIVENESS_PERIOD`] (a dead holder gives [`Error::PeerDied`], or a
//!   recovery with `auto_recover`).
//! - Dropping the future before it resolves never enters the turn, never
//!   blocks the other waiters and leaves no registration behind (the
//!   abandon protocol of [`Segment::turn_timeout`]).
//! - The waits of one process's threads and tasks are served first come,
//!   first served (a process-local FIFO lock in front of the ticket): tasks
//!   never deadlock each other. A *blocking* wait on the thread that holds
//!   the process's turn is [`Error::TurnHeld`], not a hang; a task that
//!   awaits a second turn while it holds one waits for itself (give such a
//!   wait a timeout).
//!
//! Layers (each uses only the ones before it): `os` (system calls),
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
mod os;
mod queue;
mod scalar;
mod segment;
mod segment_api;
mod turn;
mod typed;
mod value;

pub use alloc::{BlockStats, SizeClass, Stats};
pub use error::Error;
pub use format::array::Dtype;
pub use format::recover::Recovery;
pub use format::validate::Report;
pub use scalar::{
    BigInt, BigIntRef, BigUint, Date, DateTime, Decimal, DecimalKind, DecimalRef, Sign, Time,
    TimeDelta, UtcOffset,
};
pub use segment::{Handle, ProcessInfo, Segment, SegmentOptions, Status, TurnState, TurnStatus};
pub use turn::{ASYNC_LIVENESS_PERIOD, Turn, TurnFuture};
#[cfg(feature = "serde")]
pub use typed::serde::{from_owned_value, from_value, to_value};
pub use typed::{Snapshot, SnapshotWriter, fingerprint, register_type};
pub use value::{
    AnyArrayRef, Array, ArrayMut, ArrayRef, BytesMut, DictIter, DictMut, DictRef, Element,
    ListIter, ListMut, ListRef, Members, ObjectRef, Repr, ScalarItem, Scalars, SetIter, SetMut,
    SetRef, TupleRef, TypedRef, TypedValue, Value, ValueRef,
};

/// The README's examples are compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An in-memory segment of `size` bytes for the unit tests. Under Miri
/// every byte of a segment costs time (creating and using a 4 MiB segment
/// took minutes there), so sizes are capped at 256 KiB; the tests' Miri
/// workloads are small enough for that.
#[cfg(test)]
pub(crate) fn test_segment(size: u64) -> Segment {
    let size = if cfg!(miri) {
        size.min(256 << 10)
    } else {
        size
    };
    Segment::options()
        .size(size)
        .create_in_memory()
        .expect("in-memory segment")
}

/// Hooks for the crash tests (not a stable API).
#[doc(hidden)]
pub mod __test {
    use crate::alloc::{CRASH_AT, CRASH_PANICS};

    /// Arms crash injection in this thread: its `n`-th allocator or journal
    /// step from now (an allocation, a free, a journal record, a commit, a
    /// step of recovery) kills this process with SIGKILL, wherever it is.
    /// `0` disarms.
    pub fn crash_after(n: u64) {
        CRASH_PANICS.with(|p| p.set(false));
        CRASH_AT.with(|c| c.set(n));
    }

    /// As [`crash_after`], but the step panics with [`InjectedCrash`]
    /// instead: the operation stops there, and dropping the turn while
    /// unwinding recovers the segment (the in-process stand-in for a death
    /// and a survivor's recovery).
    pub fn panic_after(n: u64) {
        CRASH_PANICS.with(|p| p.set(true));
        CRASH_AT.with(|c| c.set(n));
    }

    /// The panic payload of an injected crash.
    #[derive(Debug)]
    pub struct InjectedCrash;
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod __fuzz {
    use crate::{Error, Report, Segment, Value, value};

    /// Opens `bytes` as a segment image, validates it, and if it is valid
    /// uses it: reads every message, takes them, mutates lists, frees them,
    /// mutates the root namespace, and validates again. Any panic is a bug.
    pub fn attach_image(bytes: &[u8]) -> Result<Report, Error> {
        // Recovery (journal rollback, allocator rebuild, reclaiming) on a
        // hostile image must not panic either; a recovered image must be
        // usable like a valid one.
        if let Ok(seg) = Segment::from_image(bytes)
            && let Ok(turn) = seg.turn()
            && turn.recover_data().is_ok()
        {
            drop(turn);
            use_image(&seg)?;
        }
        let seg = Segment::from_image(bytes)?;
        use_image(&seg)
    }

    /// Validates the segment and, if it is valid, uses it fully.
    fn use_image(seg: &Segment) -> Result<Report, Error> {
        let mut turn = seg.turn()?;
        let report = turn.validate()?;
        // A segment that validated must be fully usable.
        let mut taken = Vec::new();
        while let Some(h) = turn.take_message()? {
            taken.push(h);
        }
        for &h in &taken {
            let v = turn.get(h)?.to_value();
            if let Ok(mut l) = turn.list_mut(h) {
                let n = l.len();
                l.push(1)?;
                if n > 0 {
                    l.set(0, "x")?;
                    *l.int_mut(n)? += 1;
                }
                l.pop()?;
            }
            if let Ok(mut l) = turn.list_mut(h) {
                // Dicts and sets inside: a validated one must be usable.
                for i in 0..l.len() {
                    if let Ok(mut d) = l.dict_mut(i) {
                        d.insert("fuzz", 1)?;
                        *d.int_mut(&Value::from("fuzz"))? += 1;
                        d.remove(&Value::from("fuzz"))?;
                        d.iter()?.try_for_each(|kv| kv.map(drop))?;
                        d.pop_item()?;
                    }
                    if let Ok(mut s) = l.set_mut(i) {
                        s.insert(7)?;
                        s.remove(&Value::Int(7))?;
                        s.iter()?.try_for_each(|m| m.map(drop))?;
                        s.pop()?;
                    }
                }
            }
            // Conversions of deep nesting may refuse; others must work.
            if let Ok(v) = v {
                let again = turn.put_message(&v)?;
                assert_eq!(turn.take_message()?, Some(again));
                // Debug, not ==: NaN floats must compare equal to themselves.
                let back = turn.get(again)?.to_value()?;
                assert_eq!(format!("{back:?}"), format!("{v:?}"));
                turn.free(again)?;
            }
        }
        for h in taken {
            turn.free(h)?;
        }
        // The root namespace, if there is one: readable, and usable like
        // any dict, but neither freed nor queued.
        if let Some(root) = turn.root_ref()? {
            let v = crate::ValueRef::Dict(root).to_value();
            let had = root.contains_key(&Value::from("fuzz"))?;
            let h = root.handle();
            let mut d = turn.root()?;
            d.insert("fuzz", 1)?;
            *d.int_mut(&Value::from("fuzz"))? += 1;
            d.iter()?.try_for_each(|kv| kv.map(drop))?;
            d.remove(&Value::from("fuzz"))?;
            if let Ok(v) = v
                && !had
            {
                // Debug, not ==: NaN keys must compare equal to themselves.
                assert_eq!(format!("{:?}", d.to_value()?), format!("{v:?}"));
            }
            if let Some(h) = h {
                assert!(matches!(turn.free(h), Err(Error::NotOwned { .. })));
                assert!(matches!(turn.put_handle(h), Err(Error::NotOwned { .. })));
            }
        }
        turn.validate()
            .expect("a validated segment stays valid after use");
        Ok(report)
    }

    /// A small valid segment image with several kinds of values, for seeds.
    pub fn sample_image() -> Vec<u8> {
        let seg = Segment::options()
            .size(64 << 10)
            .create_in_memory()
            .expect("in-memory segment");
        let mut turn = seg.turn().expect("turn");
        let h = turn
            .put_message(&value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}]))
            .expect("put");
        turn.put_message(&Value::Int(7)).expect("put");
        turn.put_message(&value!([
            [1, [2.5, None]],
            Value::bytearray(*b"ab"),
            Value::Set(vec![1.into(), "s".into()]),
            {"a": 1, (2, "b"): [3.5], None: {"n": None}}
        ]))
        .expect("put");
        turn.take_message().expect("take");
        let mut l = turn.list_mut(h).expect("list");
        for i in 0..40 {
            l.push(i).expect("push");
        }
        turn.put_handle(h).expect("requeue");
        // The root namespace, so that fuzzing exercises its word, its
        // checks and its entries (small: the used part must stay below
        // 0x8000, where the patch fuzzer writes).
        let mut root = turn.root().expect("root");
        root.insert("model", value!([1, 2.5, "w"])).expect("insert");
        root.insert(3, value!({"nested": (1, b"b")}))
            .expect("insert");
        root.insert("name", "seed").expect("insert");
        // A numeric array (a header, a shape, 64-aligned data; bool, so
        // its bytes are checked too; zeros, so the image's used part
        // stays below 0x8000: its last bytes are the block's padding).
        let bools = Value::array(&[1, 2], &[false, false]).expect("array");
        root.insert("a", bools).expect("insert");
        seg.image(&turn)
    }
}
