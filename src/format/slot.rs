//! Slots: 16 bytes holding an inline scalar or a pointer to an object.

use bytecheck::rancor::{Fallible, Source};
use bytecheck::{CheckBytes, Verify};

use super::{T_BOOL, T_FLOAT, T_INT, T_NONE, is_ptr_tag};
use crate::Error;
use crate::segment::{Mem, Offset};

/// A list item, tuple item, dict key or value, or a boxed message:
/// `tag: u8`, seven zero bytes, `payload: u64` (the scalar, or the offset of
/// the object's block for pointer tags). The payload is 8-byte aligned, so
/// `&mut i64` into it is sound.
#[derive(CheckBytes, Clone, Copy, Debug, PartialEq)]
#[bytecheck(verify)]
#[repr(C)]
pub(crate) struct Slot {
    pub(crate) tag: u8,
    pub(crate) pad: [u8; 7],
    pub(crate) payload: u64,
}

#[derive(Debug)]
struct BadSlot(&'static str);

impl std::fmt::Display for BadSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for BadSlot {}

/// The error type bytecheck reports into: keeps the message (rancor's own
/// `Error` drops it in release builds unless its `alloc` feature is on).
/// The validator checks slots with [`Slot::check`] inline; the tests check
/// that bytecheck, through the same rule, agrees.
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct CheckError(String);

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CheckError {}

impl bytecheck::rancor::Trace for CheckError {
    fn trace<R>(self, trace: R) -> Self
    where
        R: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static,
    {
        CheckError(format!("{}; {trace}", self.0))
    }
}

impl Source for CheckError {
    fn new<T: std::error::Error + Send + Sync + 'static>(source: T) -> Self {
        CheckError(source.to_string())
    }
}

// SAFETY: `verify` only reads the fields of an already byte-checked `Slot`
// and returns an error for every combination the format forbids.
unsafe impl<C: Fallible + ?Sized> Verify<C> for Slot
where
    C::Error: Source,
{
    fn verify(&self, _: &mut C) -> Result<(), C::Error> {
        self.check().map_err(|why| Source::new(BadSlot(why)))
    }
}

#[cold]
#[inline(never)]
fn bad_slot(off: Offset, why: &str) -> Error {
    Error::corrupt(off.get(), why.to_owned())
}

const _: () = assert!(std::mem::size_of::<Slot>() == 16);
const _: () =
    assert!(std::mem::offset_of!(Slot, pad) == 1 && std::mem::offset_of!(Slot, payload) == 8);

impl Slot {
    pub(crate) const NONE: Slot = Slot {
        tag: T_NONE,
        pad: [0; 7],
        payload: 0,
    };

    pub(crate) fn new(tag: u8, payload: u64) -> Slot {
        Slot {
            tag,
            pad: [0; 7],
            payload,
        }
    }

    /// Overwrites this slot with `Slot::new(tag, payload)` in two 8-byte
    /// stores (a store of the struct writes the tag and its seven zero
    /// bytes one piece at a time).
    #[inline(always)]
    pub(crate) fn set(&mut self, tag: u8, payload: u64) {
        let w = self as *mut Slot as *mut [u64; 2];
        // SAFETY: `Slot` is `repr(C)`: 16 bytes, 8-aligned, every byte a
        // field (`tag`, `pad`, `payload`), so it has the layout of `[u64;
        // 2]`, and on a little-endian target (the only kind the crate
        // builds for) the first word `tag as u64` is the tag followed by
        // seven zero bytes; `w` comes from a `&mut`.
        unsafe { w.write([tag as u64, payload]) };
    }

    /// Overwrites this slot with `s`, in two 8-byte stores (see
    /// [`Slot::set`]; a slot written by the crate has zero padding).
    #[inline(always)]
    pub(crate) fn assign(&mut self, s: Slot) {
        self.set(s.tag, s.payload);
    }

    /// A pointer slot to the object at `b` of kind `tag`.
    pub(crate) fn ptr_to(tag: u8, b: Offset) -> Slot {
        Slot::new(tag, b.get())
    }

    /// The object this slot owns, if any.
    #[inline]
    pub(crate) fn ptr(&self) -> Option<Offset> {
        is_ptr_tag(self.tag).then_some(Offset::new(self.payload))
    }

    /// Reads the slot at `off` (bounds- and alignment-checked, not verified).
    #[inline]
    pub(crate) fn read(m: &Mem, off: Offset) -> Result<Slot, Error> {
        let p = m.ptr(off, 16, 8)?;
        // SAFETY: 16 bytes in bounds, 8-aligned; any bytes are a valid
        // `Slot` (u8, [u8; 7], u64).
        Ok(unsafe { (p as *const Slot).read() })
    }

    /// What the format forbids in a slot (its fields are any bytes): the
    /// one rule that both bytecheck's `Verify` and [`Slot::read_checked`]
    /// apply.
    #[inline(always)]
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        // The tag and the padding as one word: one test, not seven.
        // SAFETY: `Slot` is `repr(C)`, 16 bytes of integer fields with no
        // padding between them (asserted below), so every byte is
        // initialised and any bytes are valid `u64`s.
        let [head, _]: [u64; 2] = unsafe { std::mem::transmute(*self) };
        if u64::from_le(head) >> 8 != 0 {
            return Err("slot padding is not zero");
        }
        match self.tag {
            T_NONE if self.payload != 0 => Err("None slot with a payload"),
            T_BOOL if self.payload > 1 => Err("bool slot not 0 or 1"),
            T_NONE | T_BOOL | T_INT | T_FLOAT => Ok(()),
            t if is_ptr_tag(t) => {
                if self.payload == 0 || !self.payload.is_multiple_of(16) {
                    Err("slot pointer null or misaligned")
                } else {
                    Ok(())
                }
            }
            _ => Err("unknown slot tag"),
        }
    }

    /// Reads and verifies the slot at `off` (the validator's hot path: the
    /// checks bytecheck's `Verify` makes, inline, without its error
    /// machinery).
    #[inline]
    pub(crate) fn read_checked(m: &Mem, off: Offset) -> Result<Slot, Error> {
        let s = Slot::read(m, off)?;
        match s.check() {
            Ok(()) => Ok(s),
            Err(why) => Err(bad_slot(off, why)),
        }
    }

    /// Writes the slot at `off` (all 16 bytes, padding zeroed).
    #[inline]
    pub(crate) fn write(self, m: &Mem, off: Offset) -> Result<(), Error> {
        let p = m.ptr(off, 16, 8)?;
        // SAFETY: 16 bytes in bounds, 8-aligned, exclusive during the turn.
        unsafe { (p as *mut Slot).write(self) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bytecheck (`CheckBytes` + `Verify`) and the validator's inline
    /// `read_checked` accept and refuse the same slots.
    #[test]
    fn bytecheck_and_read_checked_agree() {
        let mut buf = vec![0u128; 4];
        let base = buf.as_mut_ptr() as *mut u8;
        // SAFETY: the vector outlives `m` and is 16-aligned (u128s).
        let m = unsafe { Mem::new(base, buf.len() * 16) };
        let mut k = 0;
        for tag in 0..=30u8 {
            for pad0 in [0u8, 1] {
                for payload in [0u64, 1, 2, 16, 24] {
                    let at = Offset::new(0);
                    let mut s = Slot::new(tag, payload);
                    s.pad[3] = pad0;
                    // SAFETY: 16 bytes at the start of the buffer.
                    unsafe { (base as *mut Slot).write(s) };
                    // SAFETY: 16 readable, 8-aligned bytes.
                    let by_bytecheck =
                        unsafe { bytecheck::check_bytes::<Slot, CheckError>(base as *const Slot) }
                            .is_ok();
                    let inline = Slot::read_checked(&m, at).is_ok();
                    assert_eq!(by_bytecheck, inline, "{s:?}");
                    k += by_bytecheck as u32;
                }
            }
        }
        assert!(k > 20, "{k} slots accepted");
    }
}

/// Runs `f` (a loop over a run of slots) compiled for AVX2 when the CPU
/// has it (checked at run time; std caches the answer): the loop then
/// handles four slots at a time in 256-bit registers. The scalar bulk
/// paths and the free of a list of scalars go through it.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "avx2")]
fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
