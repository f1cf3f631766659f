//! The scalar kinds with a block of their own (FORMAT.md §7.3): big int,
//! complex, decimal and the datetime family. All are immutable, written
//! once; reading one checks every field (a peer may have written anything),
//! and the validator runs the same reader.

use num_bigint::{BigInt, Sign};
use num_traits::ToPrimitive;

use super::{
    Slot, T_BIGINT, T_COMPLEX, T_DATE, T_DATETIME, T_DECIMAL, T_INT, T_TIME, T_TIMEDELTA, hash,
    payload,
};
use crate::Error;
use crate::alloc::Heap;
use crate::scalar::real::{Real, hash_form};
use crate::scalar::{
    BigIntRef, Date, DateTime, DecimalKind, DecimalRef, MAX_DELTA_DAYS, Time, TimeDelta, UtcOffset,
};
use crate::segment::Offset;

/// Offset of a big int's magnitude in its payload (after `len`, `sign`).
const BIG_MAG: u64 = 16;
/// Offset of a decimal's coefficient in its payload (after `len`,
/// `exponent`, `flags`).
const DEC_COEF: u64 = 24;

/// A scalar of a kind with its own block, as read from a segment.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scalar<'t> {
    BigInt(BigIntRef<'t>),
    Complex(f64, f64),
    Decimal(DecimalRef<'t>),
    DateTime(DateTime),
    Date(Date),
    Time(Time),
    TimeDelta(TimeDelta),
}

/// Whether `kind` is one of this module's kinds.
pub(crate) fn is_scalar_kind(kind: u8) -> bool {
    matches!(
        kind,
        T_BIGINT | T_COMPLEX | T_DECIMAL | T_DATETIME | T_DATE | T_TIME | T_TIMEDELTA
    )
}

/// A fixed-width scalar, to write.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fixed {
    Complex(f64, f64),
    DateTime(DateTime),
    Date(Date),
    Time(Time),
    TimeDelta(TimeDelta),
}

fn date_word(d: Date) -> u64 {
    d.year() as u64 | (d.month() as u64) << 16 | (d.day() as u64) << 24
}

fn time_words(t: Time) -> [u64; 2] {
    let flags = t.fold() as u64 | (t.offset().is_some() as u64) << 1;
    [
        t.hour() as u64
            | (t.minute() as u64) << 8
            | (t.second() as u64) << 16
            | flags << 24
            | (t.microsecond() as u64) << 32,
        t.offset().map_or(0, |o| o.as_micros()) as u64,
    ]
}

/// Writes a fixed-width scalar as a new block; its slot.
pub(crate) fn write_fixed(heap: &Heap, v: Fixed) -> Result<Slot, Error> {
    let (tag, words): (u8, Vec<u64>) = match v {
        Fixed::Complex(re, im) => (T_COMPLEX, vec![re.to_bits(), im.to_bits()]),
        Fixed::Date(d) => (T_DATE, vec![date_word(d)]),
        Fixed::Time(t) => (T_TIME, time_words(t).to_vec()),
        Fixed::DateTime(dt) => {
            let [t, o] = time_words(dt.time());
            (T_DATETIME, vec![date_word(dt.date()), t, o])
        }
        Fixed::TimeDelta(d) => (
            T_TIMEDELTA,
            vec![
                d.days() as i64 as u64,
                d.seconds() as u64 | (d.microseconds() as u64) << 32,
            ],
        ),
    };
    let b = heap.alloc(8 * words.len() as u64, tag)?;
    for (i, w) in words.iter().enumerate() {
        heap.mem.set_u64(payload(b).add(8 * i as u64), *w)?;
    }
    Ok(Slot::ptr_to(tag, b))
}

/// Writes a big integer: an int slot if it fits in i64 (the writer
/// normalises, so one number has one form), else a big int block.
pub(crate) fn write_bigint(heap: &Heap, v: &BigInt) -> Result<Slot, Error> {
    if let Some(i) = v.to_i64() {
        return Ok(Slot::new(T_INT, i as u64));
    }
    let (sign, mag) = v.to_bytes_le();
    let b = heap.alloc(BIG_MAG + mag.len() as u64, T_BIGINT)?;
    let m = heap.mem;
    m.set_u64(payload(b), mag.len() as u64)?;
    m.set_u64(payload(b).add(8), (sign == Sign::Minus) as u64)?;
    m.write_bytes(payload(b).add(BIG_MAG), &mag)?;
    Ok(Slot::ptr_to(T_BIGINT, b))
}

/// Writes a decimal as a new block.
pub(crate) fn write_decimal(heap: &Heap, d: &crate::scalar::Decimal) -> Result<Slot, Error> {
    let coef = if d.coefficient().bits() == 0 {
        Vec::new()
    } else {
        d.coefficient().to_bytes_le()
    };
    let kind = match d.kind() {
        DecimalKind::Finite => 0u64,
        DecimalKind::Infinite => 1,
        DecimalKind::NaN => 2,
        DecimalKind::SignalingNaN => 3,
    };
    let (coef, exponent) = match d.kind() {
        DecimalKind::Finite => (coef, d.exponent()),
        DecimalKind::Infinite => (Vec::new(), 0),
        _ => (coef, 0),
    };
    let b = heap.alloc(DEC_COEF + coef.len() as u64, T_DECIMAL)?;
    let m = heap.mem;
    m.set_u64(payload(b), coef.len() as u64)?;
    m.set_u64(payload(b).add(8), exponent as u64)?;
    m.set_u64(payload(b).add(16), d.is_negative() as u64 | kind << 8)?;
    m.write_bytes(payload(b).add(DEC_COEF), &coef)?;
    Ok(Slot::ptr_to(T_DECIMAL, b))
}

fn decode_date(w: u64) -> Option<Date> {
    if w >> 32 != 0 {
        return None;
    }
    Date::new(
        (w & 0xffff) as i32,
        (w >> 16 & 0xff) as u32,
        (w >> 24 & 0xff) as u32,
    )
    .ok()
}

fn decode_time(w: u64, off: u64) -> Option<Time> {
    let flags = w >> 24 & 0xff;
    if flags > 3 {
        return None;
    }
    let offset = if flags & 2 != 0 {
        Some(UtcOffset::from_micros(off as i64).ok()?)
    } else if off != 0 {
        return None;
    } else {
        None
    };
    let t = Time::new(
        (w & 0xff) as u32,
        (w >> 8 & 0xff) as u32,
        (w >> 16 & 0xff) as u32,
        (w >> 32) as u32,
    )
    .ok()?;
    Some(t.with_fold(flags & 1 != 0).with_offset(offset))
}

/// Reads (and fully checks) the scalar block at `b`, of kind `kind`, with
/// `cap` payload bytes.
///
/// # Safety
/// `'t` must not outlive the caller's borrow of the turn, and nothing may
/// write the block while the result lives.
pub(crate) unsafe fn read<'t>(
    heap: &Heap,
    b: Offset,
    kind: u8,
    cap: u64,
) -> Result<Scalar<'t>, Error> {
    let m = heap.mem;
    let o = b.get();
    let bad = |what: &str| Error::corrupt(o, format!("{}: {what}", super::type_name(kind)));
    let fixed = |n: u64| -> Result<Vec<u64>, Error> {
        if cap < 8 * n {
            return Err(bad("block shorter than its fields"));
        }
        (0..n).map(|i| m.u64(payload(b).add(8 * i))).collect()
    };
    // A little-endian magnitude of `len` bytes at `at` (room checked), with
    // no high zero byte.
    let magnitude = |len: u64, at: u64| -> Result<&'t [u8], Error> {
        if cap < at || len > cap - at {
            return Err(bad("length longer than its block"));
        }
        // SAFETY: forwarded contract.
        let mag = unsafe { m.bytes(payload(b).add(at), len)? };
        if mag.last() == Some(&0) {
            return Err(bad("magnitude has a high zero byte (not canonical)"));
        }
        Ok(mag)
    };
    Ok(match kind {
        T_COMPLEX => {
            let w = fixed(2)?;
            Scalar::Complex(f64::from_bits(w[0]), f64::from_bits(w[1]))
        }
        T_DATE => Scalar::Date(decode_date(fixed(1)?[0]).ok_or_else(|| bad("field out of range"))?),
        T_TIME => {
            let w = fixed(2)?;
            Scalar::Time(decode_time(w[0], w[1]).ok_or_else(|| bad("field out of range"))?)
        }
        T_DATETIME => {
            let w = fixed(3)?;
            let d = decode_date(w[0]).ok_or_else(|| bad("date out of range"))?;
            let t = decode_time(w[1], w[2]).ok_or_else(|| bad("time out of range"))?;
            Scalar::DateTime(DateTime::new(d, t))
        }
        T_TIMEDELTA => {
            let w = fixed(2)?;
            let (days, s, us) = (w[0] as i64, w[1] & 0xffff_ffff, w[1] >> 32);
            if days.unsigned_abs() > MAX_DELTA_DAYS as u64 || s >= 86_400 || us >= 1_000_000 {
                return Err(bad("not normalised"));
            }
            Scalar::TimeDelta(TimeDelta::new(days, s as i64, us as i64)?)
        }
        T_BIGINT => {
            let w = fixed(2)?;
            if w[1] > 1 {
                return Err(bad("sign is not 0 or 1"));
            }
            let r = BigIntRef {
                negative: w[1] == 1,
                magnitude: magnitude(w[0], BIG_MAG)?,
            };
            // Canonical: a value that fits in i64 is an int slot.
            if r.magnitude.len() <= 8 && r.to_bigint().to_i64().is_some() {
                return Err(bad("value fits in an int (not canonical)"));
            }
            Scalar::BigInt(r)
        }
        T_DECIMAL => {
            let w = fixed(3)?;
            let (negative, k) = (w[2] & 1 == 1, w[2] >> 8);
            if w[2] & 0xfe != 0 || k > 3 {
                return Err(bad("flags out of range"));
            }
            let kind = [
                DecimalKind::Finite,
                DecimalKind::Infinite,
                DecimalKind::NaN,
                DecimalKind::SignalingNaN,
            ][k as usize];
            let coefficient = magnitude(w[0], DEC_COEF)?;
            if kind != DecimalKind::Finite && w[1] != 0 {
                return Err(bad("a special with an exponent"));
            }
            if kind == DecimalKind::Infinite && !coefficient.is_empty() {
                return Err(bad("an infinity with a coefficient"));
            }
            Scalar::Decimal(DecimalRef {
                negative,
                kind,
                exponent: w[1] as i64,
                coefficient,
            })
        }
        _ => return Err(bad("not a scalar kind")),
    })
}

/// The stable hash of a scalar (FORMAT.md §10); `None` if unhashable (a
/// signalling NaN).
pub(crate) fn scalar_hash(s: &Scalar<'_>) -> Option<u64> {
    Some(match s {
        Scalar::BigInt(r) => hash::real(hash_form(&Real::Big(std::borrow::Cow::Owned(
            r.to_bigint(),
        ))))?,
        Scalar::Decimal(r) => hash::real(hash_form(&Real::Dec(std::borrow::Cow::Owned(
            r.to_decimal(),
        ))))?,
        Scalar::Complex(re, im) => hash::complex(*re, *im),
        Scalar::DateTime(dt) => hash::datetime(dt),
        Scalar::Date(d) => hash::date(d),
        Scalar::Time(t) => hash::time(t),
        Scalar::TimeDelta(d) => hash::timedelta(d),
    })
}
