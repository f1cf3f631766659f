//! Bounds-checked access to a segment's bytes.
//!
//! [`Mem`] is a base pointer and a length. Every read or write through it
//! checks that the range lies inside the segment and is aligned, so an offset
//! written by a peer (or by a bit flip) can give an error but never a wild
//! access. It is `Copy` and carries no lifetime: the public views wrap it
//! with a lifetime borrowed from the [`crate::Turn`], which is what makes the
//! accesses exclusive across processes.

use super::Offset;
use crate::Error;

/// The error of a failed bounds check (kept out of line: the check is on
/// every hot path, the error on none).
#[cold]
#[inline(never)]
fn out_of_bounds(o: u64, n: u64, align: u64, len: u64) -> Error {
    Error::corrupt(
        o,
        format!("range of {n} bytes (alignment {align}) outside the segment of {len} bytes"),
    )
}

/// Pieces that glibc's `memcpy` copies with its vector loop, not `rep
/// movsb` (whose threshold is 2 KiB per 16 bytes of vector: 4 KiB with
/// AVX2).
const PIECE: usize = 2048;

/// `copy_nonoverlapping`, without the `rep movsb` slow case.
///
/// glibc copies large ranges with `rep movsb`, which on this project's AMD
/// EPYC machines runs about 20 times slower (230 µs instead of 10 µs for
/// 400 KiB, the same destination, warm, no page fault) when the
/// destination lies a few bytes above the source modulo 4096. Such pairs
/// are common, not rare: a big `Vec`'s buffer starts 16 bytes into a page,
/// and the data of a bytes object 24 bytes into its 16-aligned block, so a
/// block at a page boundary lands 8 bytes above. `examples/op_cost.rs bulk`
/// measures every distance. Those copies go in pieces below the `rep movsb`
/// threshold, which run at the vector loop's speed; every other copy is one
/// `copy_nonoverlapping`.
///
/// # Safety
/// As [`std::ptr::copy_nonoverlapping`].
#[inline]
pub(crate) unsafe fn copy_bytes(src: *const u8, dst: *mut u8, n: usize) {
    let gap = (dst as usize).wrapping_sub(src as usize) % 4096;
    if n <= PIECE || gap == 0 || gap >= 64 {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, n) };
        return;
    }
    let mut i = 0;
    while i < n {
        let k = PIECE.min(n - i);
        // SAFETY: `i + k <= n`: a part of the caller's ranges.
        unsafe { std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), k) };
        i += k;
    }
}

/// [`copy_bytes`] between two slices (of the same length; a longer one is
/// cut to the shorter).
#[inline]
pub(crate) fn copy_slice(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    // SAFETY: both slices hold `n` bytes; a `&mut` and a `&` do not overlap.
    unsafe { copy_bytes(src.as_ptr(), dst.as_mut_ptr(), n) };
}

/// Raw, bounds-checked view of one segment's memory.
#[derive(Clone, Copy)]
pub(crate) struct Mem {
    base: *mut u8,
    len: u64,
}

// SAFETY: `Mem` is an address and a length; synchronisation of the bytes
// behind it is the turn's business.
unsafe impl Send for Mem {}
// SAFETY: as above.
unsafe impl Sync for Mem {}

impl Mem {
    /// # Safety
    /// `base..base+len` must be valid for reads and writes for as long as any
    /// copy of this `Mem` is used, and `base` must be 16-byte aligned.
    pub(crate) unsafe fn new(base: *mut u8, len: usize) -> Mem {
        Mem {
            base,
            len: len as u64,
        }
    }

    /// Segment length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The base address (for the header).
    #[inline]
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    /// Checks that `off..off+n` is inside the segment and `off` is a multiple
    /// of `align`; returns the pointer.
    #[inline(always)]
    pub(crate) fn ptr(&self, off: Offset, n: u64, align: u64) -> Result<*mut u8, Error> {
        let o = off.get();
        match o.checked_add(n) {
            Some(end) if end <= self.len && o.is_multiple_of(align) => {
                // SAFETY: `o + n <= len`, so the result is inside (or one past
                // the end of) the region `new` was given.
                Ok(unsafe { self.base.add(o as usize) })
            }
            _ => Err(out_of_bounds(o, n, align, self.len)),
        }
    }

    /// How far ahead of a forward walk through memory (of the blocks, or
    /// of the values the validator visits in address order) the lines it
    /// is about to read are asked for with [`Mem::prefetch`].
    pub(crate) const AHEAD: u64 = 1024;

    /// Asks the CPU to bring the cache line holding `off` in, ahead of a
    /// read that depends on a load not done yet (a walk of the blocks, the
    /// validator's stack). A hint: it reads nothing and never faults, so
    /// any offset is fine; a no-op where there is no such instruction.
    #[inline(always)]
    pub(crate) fn prefetch(&self, off: u64) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: a prefetch neither reads nor writes memory and never
        // faults, whatever the address; the SSE it needs is part of x86_64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                self.base.wrapping_add(off as usize) as *const i8,
            )
        };
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        let _ = off;
    }

    /// Reads the `u64` at `off`.
    #[inline(always)]
    pub(crate) fn u64(&self, off: Offset) -> Result<u64, Error> {
        let p = self.ptr(off, 8, 8)?;
        // SAFETY: in bounds and aligned (checked by `ptr`); any bit pattern
        // is a valid u64; no other party writes during our turn.
        Ok(unsafe { (p as *const u64).read() })
    }

    /// Writes the `u64` at `off`.
    #[inline(always)]
    pub(crate) fn set_u64(&self, off: Offset, v: u64) -> Result<(), Error> {
        let p = self.ptr(off, 8, 8)?;
        // SAFETY: in bounds and aligned (checked by `ptr`); exclusive during
        // our turn.
        unsafe { (p as *mut u64).write(v) };
        Ok(())
    }

    /// Reads the two `u64`s at `off` (one bounds check).
    #[inline(always)]
    pub(crate) fn u64_pair(&self, off: Offset) -> Result<(u64, u64), Error> {
        let p = self.ptr(off, 16, 8)? as *const u64;
        // SAFETY: 16 bytes in bounds and 8-aligned (checked by `ptr`); any
        // bit pattern is a valid u64; no other party writes during our turn.
        Ok(unsafe { (p.read(), p.add(1).read()) })
    }

    /// Writes the two `u64`s at `off` (one bounds check).
    #[inline(always)]
    pub(crate) fn set_u64_pair(&self, off: Offset, a: u64, b: u64) -> Result<(), Error> {
        let p = self.ptr(off, 16, 8)? as *mut u64;
        // SAFETY: 16 bytes in bounds and 8-aligned (checked by `ptr`);
        // exclusive during our turn.
        unsafe {
            p.write(a);
            p.add(1).write(b);
        }
        Ok(())
    }

    /// A shared slice of `n` bytes at `off`.
    ///
    /// # Safety
    /// Nobody may write those bytes while the slice lives (the caller ties
    /// `'a` to a borrow of the turn).
    #[inline]
    pub(crate) unsafe fn bytes<'a>(&self, off: Offset, n: u64) -> Result<&'a [u8], Error> {
        let p = self.ptr(off, n, 1)?;
        // SAFETY: in bounds; exclusivity is the caller's contract.
        Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
    }

    /// A mutable slice of `n` bytes at `off`.
    ///
    /// # Safety
    /// Nothing else may access those bytes while the slice lives.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut<'a>(&self, off: Offset, n: u64) -> Result<&'a mut [u8], Error> {
        let p = self.ptr(off, n, 1)?;
        // SAFETY: in bounds; exclusivity is the caller's contract.
        Ok(unsafe { std::slice::from_raw_parts_mut(p, n as usize) })
    }

    /// Copies `src` to `off`.
    #[inline]
    pub(crate) fn write_bytes(&self, off: Offset, src: &[u8]) -> Result<(), Error> {
        let p = self.ptr(off, src.len() as u64, 1)?;
        // SAFETY: in bounds; `src` is local memory, so no overlap.
        unsafe { copy_bytes(src.as_ptr(), p, src.len()) };
        Ok(())
    }

    /// Copies `n` bytes from `src` to `dst` inside the segment (may overlap).
    #[inline]
    pub(crate) fn copy_within(&self, src: Offset, dst: Offset, n: u64) -> Result<(), Error> {
        let s = self.ptr(src, n, 1)?;
        let d = self.ptr(dst, n, 1)?;
        // SAFETY: both ranges in bounds; `copy` allows overlap.
        unsafe { std::ptr::copy(s, d, n as usize) };
        Ok(())
    }

    /// Zeroes `n` bytes at `off`.
    #[inline]
    pub(crate) fn zero(&self, off: Offset, n: u64) -> Result<(), Error> {
        let p = self.ptr(off, n, 1)?;
        // SAFETY: in bounds.
        unsafe { std::ptr::write_bytes(p, 0, n as usize) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::copy_bytes;

    /// Every distance class (one memcpy, and the pieces of the `rep movsb`
    /// slow case) copies exactly the bytes asked for, and no others.
    #[test]
    fn copy_bytes_copies_exactly_at_every_distance() {
        let n = if cfg!(miri) {
            2 * super::PIECE + 40
        } else {
            5 * super::PIECE + 123
        };
        let src: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        let mut dst = vec![0u8; n + 8192];
        let base = dst.as_ptr() as usize;
        let gaps: &[usize] = if cfg!(miri) {
            &[0, 8, 64]
        } else {
            &[0, 1, 8, 24, 63, 64, 100, 4095]
        };
        for &gap in gaps {
            // The offset in `dst` that puts it `gap` above `src` mod 4096.
            let at = (src.as_ptr() as usize + gap).wrapping_sub(base) % 4096;
            for len in [0, 7, super::PIECE, n] {
                dst.fill(0xEE);
                // SAFETY: `at + len <= n + 4096 < dst.len()`; two vectors.
                unsafe { copy_bytes(src.as_ptr(), dst.as_mut_ptr().add(at), len) };
                assert_eq!(dst[at..at + len], src[..len], "gap {gap}, {len} bytes");
                assert!(dst[..at].iter().all(|&b| b == 0xEE), "gap {gap}: before");
                assert!(
                    dst[at + len..].iter().all(|&b| b == 0xEE),
                    "gap {gap}: after"
                );
            }
        }
    }
}
