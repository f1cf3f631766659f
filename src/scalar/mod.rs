//! The scalar kinds beyond int64 and float64, as plain Rust values: big
//! integers (num-bigint's, re-exported), [`Decimal`], the datetime family,
//! and the exact arithmetic their Python equality and hashing need.
//!
//! Nothing here knows about segments; `format` lays these values out and
//! `value` wraps them in [`crate::Value`].

mod datetime;
mod decimal;
pub(crate) mod real;

pub use datetime::{Date, DateTime, Time, TimeDelta, UtcOffset};
pub(crate) use datetime::{MAX_DELTA_DAYS, cmp_keys};
pub use decimal::{Decimal, DecimalKind};
pub use num_bigint::{BigInt, BigUint, Sign};

/// A big integer in a segment, in place: sign and little-endian magnitude
/// (canonical: no high zero byte, never a value that fits in i64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BigIntRef<'a> {
    pub(crate) negative: bool,
    pub(crate) magnitude: &'a [u8],
}

impl BigIntRef<'_> {
    /// Whether the integer is negative.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The magnitude's bytes, little-endian.
    pub fn magnitude_le(&self) -> &[u8] {
        self.magnitude
    }

    /// The integer, copied out.
    pub fn to_bigint(&self) -> BigInt {
        let sign = if self.negative {
            Sign::Minus
        } else {
            Sign::Plus
        };
        BigInt::from_bytes_le(sign, self.magnitude)
    }
}

/// A decimal in a segment, in place: its fields and the coefficient's
/// little-endian bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecimalRef<'a> {
    pub(crate) negative: bool,
    pub(crate) kind: DecimalKind,
    pub(crate) exponent: i64,
    pub(crate) coefficient: &'a [u8],
}

impl DecimalRef<'_> {
    /// The decimal, copied out.
    pub fn to_decimal(&self) -> Decimal {
        Decimal::from_parts(
            self.negative,
            BigUint::from_bytes_le(self.coefficient),
            self.exponent,
            self.kind,
        )
    }
}
