//! The stable key hash: a fixed function of a key's value, the same in
//! every process and every run (no per-process seed).
//!
//! Keys that compare equal under Python's rules hash equal: `1`, `1.0` and
//! `True` hash as the integer 1; `-0.0`, `0.0`, `0` and `False` as 0.
//! Integers and integral floats go through the splitmix64 finaliser (good
//! avalanche for sequential ints); strings and bytes through a word-at-a-time
//! multiply-rotate loop, then the finaliser, seeded differently per type so
//! that `"a"` and `b"a"` (unequal in Python) rarely collide. Resistance to
//! deliberate flooding is out of scope: processes sharing a segment trust
//! each other.

use crate::scalar::real::HashForm;
use crate::scalar::{Date, DateTime, Time, TimeDelta};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's finaliser.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 2^63 as a float: floats in `-2^63..2^63` convert to i64 exactly.
pub(crate) const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;

/// Hash of None.
pub(crate) const NONE: u64 = 0x6E6F_6E65_0000_0001;

/// Hash of an integer (and of bools, and of floats with integral values).
#[inline]
pub(crate) fn int(v: i64) -> u64 {
    mix(v as u64 ^ K)
}

/// Hash of a float: equal to [`int`] of its value when it is integral.
#[inline]
pub(crate) fn float(f: f64) -> u64 {
    if f.fract() == 0.0 && (-I64_BOUND..I64_BOUND).contains(&f) {
        int(f as i64)
    } else {
        mix(f.to_bits() ^ 0x666c_6f61_7400_0000)
    }
}

fn bytes_seeded(b: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("chunk of 8"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    mix(h)
}

/// Hash of a str.
pub(crate) fn str(s: &str) -> u64 {
    str_bytes(s.as_bytes())
}

/// Hash of a str given as its UTF-8 bytes (as it lies in a segment).
pub(crate) fn str_bytes(b: &[u8]) -> u64 {
    bytes_seeded(b, 0x7374_7200_0000_0000)
}

/// Hash of bytes.
pub(crate) fn bytes(b: &[u8]) -> u64 {
    bytes_seeded(b, 0x6279_7465_7300_0000)
}

/// Hash of a tuple (or frozen set, with `ordered == false`) from its items'
/// hashes.
pub(crate) fn combine(items: impl Iterator<Item = u64>, ordered: bool) -> u64 {
    // "tuple" and "frozen": an empty tuple and an empty frozen set differ.
    let mut h: u64 = if ordered {
        0x7475_706c_6500_0000
    } else {
        0x6672_6f7a_656e_0000
    };
    let mut n = 0u64;
    for x in items {
        n += 1;
        if ordered {
            h = (h ^ x).wrapping_mul(K).rotate_left(31);
        } else {
            h = h.wrapping_add(mix(x));
        }
    }
    mix(h ^ n)
}

/// Hash of a number of any kind from its canonical form (an integer in
/// i64 range as [`int`], a value that is exactly an f64 as [`float`], any
/// other as its residue); `None` for a signalling NaN.
pub(crate) fn real(form: HashForm) -> Option<u64> {
    Some(match form {
        HashForm::Int(i) => int(i),
        HashForm::Float(f) => float(f),
        HashForm::Exact(neg, r) => mix(r ^ (neg as u64) << 63 ^ 0x6578_6163_7400_0000),
        HashForm::Unhashable => return None,
    })
}

/// Hash of a complex number: its real part's when `im == 0` (as Python's
/// `complex(x, 0) == x`).
pub(crate) fn complex(re: f64, im: f64) -> u64 {
    if im == 0.0 {
        float(re)
    } else {
        mix(float(re) ^ float(im).rotate_left(32) ^ 0x636f_6d70_6c78_0000)
    }
}

/// Hash of a date (by its ordinal).
pub(crate) fn date(d: &Date) -> u64 {
    mix(d.ordinal() as u64 ^ 0x6461_7465_0000_0000)
}

/// `v` seeded per type, with one more bit pattern when the value is aware
/// (so a naive and an aware value of equal fields rarely collide).
fn naive_or_aware(v: u64, aware: bool, seed: u64) -> u64 {
    mix(v ^ seed ^ if aware { 0x7a00_0000_0000 } else { 0 })
}

/// Hash of a datetime: the wall time if naive, the UTC instant if aware
/// (so equal aware datetimes at different offsets hash equal).
pub(crate) fn datetime(dt: &DateTime) -> u64 {
    let (aware, t) = dt.key();
    naive_or_aware(t as u64, aware, 0x6474_0000_0000_0000)
}

/// Hash of a time of day (aware: wall time less the offset; `fold` takes
/// no part).
pub(crate) fn time(t: &Time) -> u64 {
    let (aware, us) = t.key();
    naive_or_aware(us as u64, aware, 0x746d_0000_0000_0000)
}

/// Hash of a timedelta (by its total microseconds, an i128).
pub(crate) fn timedelta(d: &TimeDelta) -> u64 {
    let us = d.total_micros();
    mix(mix(us as u64 ^ 0x7464_0000_0000_0000) ^ (us >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_equal_keys_hash_equal() {
        assert_eq!(int(1), float(1.0));
        assert_eq!(int(0), float(-0.0));
        assert_eq!(int(-7), float(-7.0));
        assert_ne!(str("a"), bytes(b"a"));
    }
}
