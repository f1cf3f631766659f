//! [`Decimal`]: Python's `decimal.Decimal` as a value (sign, coefficient,
//! exponent, and the specials), exact.
//!
//! No crate fits: rust_decimal's range is 96 bits of coefficient and an
//! exponent of 0..=28, where Python's coefficients have any number of
//! digits, its exponents are any `int` the context allows, and NaNs carry
//! diagnostic digits.

use std::fmt;
use std::str::FromStr;

use num_bigint::BigUint;
use num_traits::Zero;

use crate::Error;

/// What a [`Decimal`] is: a finite number or one of the specials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecimalKind {
    /// `coefficient × 10^exponent`.
    Finite,
    /// `Infinity` (with the sign).
    Infinite,
    /// A quiet `NaN` (the coefficient is its diagnostic payload).
    NaN,
    /// A signalling `sNaN` (the coefficient is its diagnostic payload).
    SignalingNaN,
}

/// Python's `decimal.Decimal`, exactly: `Decimal('1.10')` keeps its
/// exponent −2 (`str` gives `'1.10'` back); equality is by value (see
/// [`crate::Value::Decimal`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    coefficient: BigUint,
    exponent: i64,
    kind: DecimalKind,
}

fn bad(s: &str) -> Error {
    Error::Convert {
        what: format!("not a decimal: {s:?}"),
    }
}

impl Decimal {
    /// The finite decimal `(-1)^negative × coefficient × 10^exponent`.
    pub fn finite(negative: bool, coefficient: BigUint, exponent: i64) -> Decimal {
        Decimal {
            negative,
            coefficient,
            exponent,
            kind: DecimalKind::Finite,
        }
    }

    /// `Infinity` or `-Infinity`.
    pub fn infinity(negative: bool) -> Decimal {
        Decimal {
            negative,
            coefficient: BigUint::zero(),
            exponent: 0,
            kind: DecimalKind::Infinite,
        }
    }

    /// A quiet NaN with a diagnostic payload (`NaN123`; zero for plain `NaN`).
    pub fn nan(negative: bool, payload: BigUint) -> Decimal {
        Decimal {
            negative,
            coefficient: payload,
            exponent: 0,
            kind: DecimalKind::NaN,
        }
    }

    /// A signalling NaN (`sNaN`) with a diagnostic payload.
    pub fn signaling_nan(negative: bool, payload: BigUint) -> Decimal {
        Decimal {
            negative,
            coefficient: payload,
            exponent: 0,
            kind: DecimalKind::SignalingNaN,
        }
    }

    /// Builds a decimal from its parts as they lie in a segment (checked
    /// by the caller: specials have exponent 0, an infinity coefficient 0).
    pub(crate) fn from_parts(
        negative: bool,
        coefficient: BigUint,
        exponent: i64,
        kind: DecimalKind,
    ) -> Decimal {
        Decimal {
            negative,
            coefficient,
            exponent,
            kind,
        }
    }

    /// The sign (Python's `is_signed()`: `-0` is negative).
    pub fn is_negative(&self) -> bool {
        self.negative
    }
    /// The coefficient (the NaN payload for NaNs, 0 for infinities).
    pub fn coefficient(&self) -> &BigUint {
        &self.coefficient
    }
    /// The exponent (0 for the specials).
    pub fn exponent(&self) -> i64 {
        self.exponent
    }
    /// Finite, infinite or a NaN.
    pub fn kind(&self) -> DecimalKind {
        self.kind
    }
}

impl FromStr for Decimal {
    type Err = Error;

    /// Python's `Decimal(str)` syntax: an optional sign, then digits with an
    /// optional point and exponent, or `Infinity`/`Inf`, `NaN`, `sNaN` with
    /// digits (case-insensitive; surrounding whitespace and `_` between
    /// digits allowed).
    fn from_str(s: &str) -> Result<Decimal, Error> {
        let t = s.trim().replace('_', "");
        let (negative, body) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, &t[..]),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "inf" || lower == "infinity" {
            return Ok(Decimal::infinity(negative));
        }
        for (prefix, signaling) in [("snan", true), ("nan", false)] {
            if let Some(digits) = lower.strip_prefix(prefix) {
                let payload = if digits.is_empty() {
                    BigUint::zero()
                } else if digits.bytes().all(|c| c.is_ascii_digit()) {
                    digits.parse().map_err(|_| bad(s))?
                } else {
                    return Err(bad(s));
                };
                return Ok(if signaling {
                    Decimal::signaling_nan(negative, payload)
                } else {
                    Decimal::nan(negative, payload)
                });
            }
        }
        let (mantissa, exp) = match lower.find('e') {
            Some(i) => (
                &lower[..i],
                lower[i + 1..].parse::<i64>().map_err(|_| bad(s))?,
            ),
            None => (&lower[..], 0),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
        {
            return Err(bad(s));
        }
        let digits = format!("{int}{frac}");
        let coefficient = digits.parse::<BigUint>().map_err(|_| bad(s))?;
        let exponent = exp.checked_sub(frac.len() as i64).ok_or_else(|| bad(s))?;
        Ok(Decimal::finite(negative, coefficient, exponent))
    }
}

impl fmt::Display for Decimal {
    /// Python's `str(Decimal)` (the to-scientific-string of the General
    /// Decimal Arithmetic spec), which `Decimal(str)` reads back exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        let payload = |f: &mut fmt::Formatter<'_>| {
            if self.coefficient.is_zero() {
                Ok(())
            } else {
                write!(f, "{}", self.coefficient)
            }
        };
        match self.kind {
            DecimalKind::Infinite => return f.write_str("Infinity"),
            DecimalKind::NaN => {
                f.write_str("NaN")?;
                return payload(f);
            }
            DecimalKind::SignalingNaN => {
                f.write_str("sNaN")?;
                return payload(f);
            }
            DecimalKind::Finite => {}
        }
        let digits = self.coefficient.to_string();
        let n = digits.len() as i128;
        let e = self.exponent as i128;
        let adjusted = e + n - 1;
        if e <= 0 && adjusted >= -6 {
            // Plain notation.
            if e == 0 {
                return f.write_str(&digits);
            }
            let point = n + e; // digits before the point
            if point > 0 {
                let (a, b) = digits.split_at(point as usize);
                write!(f, "{a}.{b}")
            } else {
                write!(f, "0.{}{digits}", "0".repeat((-point) as usize))
            }
        } else {
            let (a, b) = digits.split_at(1);
            f.write_str(a)?;
            if !b.is_empty() {
                write!(f, ".{b}")?;
            }
            write!(f, "E{}{adjusted}", if adjusted >= 0 { "+" } else { "" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_round_trips_like_python() {
        for s in [
            "1.10",
            "0",
            "-0",
            "0.000001",
            "1E-7",
            "1.23E+5",
            "123",
            "-0.00",
            "1E+2",
            "Infinity",
            "-Infinity",
            "NaN",
            "-NaN",
            "sNaN",
            "NaN123",
            "-sNaN7",
            "0E-10",
            "12345678901234567890123456789.0123456789",
            "1.000E+1000000000000",
        ] {
            let d: Decimal = s.parse().unwrap();
            assert_eq!(d.to_string(), s, "{s}");
        }
        // Python: str(Decimal('100e-1')) == '10.0', str(Decimal('.5')) == '0.5'
        assert_eq!("100e-1".parse::<Decimal>().unwrap().to_string(), "10.0");
        assert_eq!(".5".parse::<Decimal>().unwrap().to_string(), "0.5");
        assert_eq!("inf".parse::<Decimal>().unwrap().to_string(), "Infinity");
        assert_eq!("1e5".parse::<Decimal>().unwrap().to_string(), "1E+5");
        assert_eq!("1_000".parse::<Decimal>().unwrap().to_string(), "1000");
        for s in ["", ".", "1.2.3", "abc", "1e", "nanx", "--1"] {
            assert!(s.parse::<Decimal>().is_err(), "{s}");
        }
    }
}
