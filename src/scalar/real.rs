//! Exact comparison of real numbers of every kind (i64, f64, big int,
//! decimal) without rounding, and the canonical form each value hashes by.
//!
//! Python compares `int`, `float` and `Decimal` by exact value
//! (`Decimal('0.1') != 0.1`, `2**53 + 1 != float(2**53)`); so do we. A
//! finite value is `mag × 2^e2 × 10^e10`; two of them are first compared by
//! an estimate of their binary magnitude (so `1E+999999999999` never gets
//! expanded), and only values within a few bits of each other are scaled to
//! integers, which then have sizes of the order of their inputs.

use std::borrow::Cow;
use std::cmp::Ordering;

use num_bigint::{BigInt, BigUint, Sign};
use num_integer::Integer;
use num_traits::{ToPrimitive, Zero};

use super::decimal::{Decimal, DecimalKind};

/// A real number of any kind, borrowed or owned.
#[derive(Clone, Debug)]
pub(crate) enum Real<'a> {
    Int(i64),
    Float(f64),
    Big(Cow<'a, BigInt>),
    Dec(Cow<'a, Decimal>),
}

/// A finite real: `(-1)^neg × mag × 2^e2 × 10^e10`.
struct Fin {
    neg: bool,
    mag: BigUint,
    e2: i64,
    e10: i64,
}

enum Ext {
    Fin(Fin),
    Inf(bool),
    NaN,
}

fn float_parts(f: f64) -> Ext {
    if f.is_nan() {
        return Ext::NaN;
    }
    if f.is_infinite() {
        return Ext::Inf(f < 0.0);
    }
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1 << 52) - 1);
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp - 1075)
    };
    Ext::Fin(Fin {
        neg: f.is_sign_negative(),
        mag: BigUint::from(m),
        e2: e,
        e10: 0,
    })
}

impl Real<'_> {
    fn ext(&self) -> Ext {
        match self {
            Real::Int(i) => Ext::Fin(Fin {
                neg: *i < 0,
                mag: BigUint::from(i.unsigned_abs()),
                e2: 0,
                e10: 0,
            }),
            Real::Float(f) => float_parts(*f),
            Real::Big(b) => Ext::Fin(Fin {
                neg: b.sign() == Sign::Minus,
                mag: b.magnitude().clone(),
                e2: 0,
                e10: 0,
            }),
            Real::Dec(d) => match d.kind() {
                DecimalKind::Finite => Ext::Fin(Fin {
                    neg: d.is_negative(),
                    mag: d.coefficient().clone(),
                    e2: 0,
                    e10: d.exponent(),
                }),
                DecimalKind::Infinite => Ext::Inf(d.is_negative()),
                DecimalKind::NaN | DecimalKind::SignalingNaN => Ext::NaN,
            },
        }
    }
}

const LOG2_10: f64 = std::f64::consts::LOG2_10;

fn pow10(n: u64) -> BigUint {
    BigUint::from(10u32).pow(n as u32)
}

/// `|a|` against `|b|`, both non-zero.
fn mag_cmp(a: &Fin, b: &Fin) -> Ordering {
    // Estimate of log2|a| − log2|b| from exact integer differences (each
    // estimate is within 1 bit of the truth; log2(10)·Δe10 is off by far
    // less than 1 bit while |Δe10| < 2^40, and beyond that the order is
    // plain anyway).
    let dbits = a.mag.bits() as i128 - b.mag.bits() as i128;
    let de2 = a.e2 as i128 - b.e2 as i128;
    let de10 = a.e10 as i128 - b.e10 as i128;
    let est = (dbits + de2) as f64 + de10 as f64 * LOG2_10;
    if est > 4.0 {
        return Ordering::Greater;
    }
    if est < -4.0 {
        return Ordering::Less;
    }
    // Close: scale both to integers. The shifts are bounded by the sizes of
    // the inputs (plus ~1100 for floats), since their magnitudes agree.
    let (mut x, mut y) = (a.mag.clone(), b.mag.clone());
    if de2 > 0 {
        x <<= de2 as u64;
    } else {
        y <<= (-de2) as u64;
    }
    if de10 > 0 {
        x *= pow10(de10 as u64);
    } else if de10 < 0 {
        y *= pow10((-de10) as u64);
    }
    x.cmp(&y)
}

fn fin_cmp(a: &Fin, b: &Fin) -> Ordering {
    let sign = |f: &Fin| {
        if f.mag.is_zero() {
            0
        } else if f.neg {
            -1
        } else {
            1
        }
    };
    let (sa, sb) = (sign(a), sign(b));
    if sa != sb || sa == 0 {
        return sa.cmp(&sb);
    }
    let m = mag_cmp(a, b);
    if sa < 0 { m.reverse() } else { m }
}

/// Python's ordering of two reals; `None` if either is a NaN.
pub(crate) fn cmp(a: &Real<'_>, b: &Real<'_>) -> Option<Ordering> {
    // The common cases without big arithmetic.
    match (a, b) {
        (Real::Int(x), Real::Int(y)) => return Some(x.cmp(y)),
        (Real::Float(x), Real::Float(y)) => return x.partial_cmp(y),
        _ => {}
    }
    Some(match (a.ext(), b.ext()) {
        (Ext::NaN, _) | (_, Ext::NaN) => return None,
        (Ext::Inf(x), Ext::Inf(y)) => y.cmp(&x),
        (Ext::Inf(n), Ext::Fin(_)) => {
            if n {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Ext::Fin(_), Ext::Inf(n)) => {
            if n {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ext::Fin(x), Ext::Fin(y)) => fin_cmp(&x, &y),
    })
}

/// The form a number hashes by: the same for every number of equal value,
/// whatever its kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum HashForm {
    /// An integer in i64 range.
    Int(i64),
    /// Otherwise, a value that is exactly an f64 (infinities and NaN too).
    Float(f64),
    /// Otherwise: the sign and `|value| mod (2^61 − 1)` (the value is
    /// `num / 2^k·5^k`, and 2 and 5 are invertible modulo the prime).
    Exact(bool, u64),
    /// A signalling NaN (Python: "Cannot hash a signaling NaN value").
    Unhashable,
}

/// The Mersenne prime of the exact form (Python's `sys.hash_info.modulus`).
const P: u64 = (1 << 61) - 1;

fn mulmod(a: u64, b: u64) -> u64 {
    ((a as u128 * b as u128) % P as u128) as u64
}

fn powmod(mut b: u64, mut e: u64) -> u64 {
    let mut r = 1;
    b %= P;
    while e > 0 {
        if e & 1 == 1 {
            r = mulmod(r, b);
        }
        b = mulmod(b, b);
        e >>= 1;
    }
    r
}

fn residue(m: &BigUint) -> u64 {
    (m % P).to_u64().expect("a residue modulo P fits u64")
}

/// `m × 2^e` as an f64 if that is exact (`m < 2^53` odd or zero).
fn scale2(m: u64, e: i64) -> f64 {
    let mut x = m as f64;
    let mut e = e;
    // Steps of at most 2^±1000 stay exact: the result is representable and
    // every intermediate value lies between `m` and the result.
    while e > 0 {
        let s = e.min(1000);
        x *= f64::from_bits(((1023 + s) as u64) << 52);
        e -= s;
    }
    while e < 0 {
        let s = (-e).min(1000);
        x *= f64::from_bits(((1023 - s) as u64) << 52);
        e += s;
    }
    x
}

/// The hash form of an integer given by sign and magnitude.
fn int_form(neg: bool, mag: &BigUint) -> HashForm {
    let bits = mag.bits();
    if bits <= 64 {
        let v = mag.to_u64().expect("64 bits");
        if !neg && v <= i64::MAX as u64 {
            return HashForm::Int(v as i64);
        }
        if neg && v <= 1 << 63 {
            return HashForm::Int((v as i64).wrapping_neg());
        }
    }
    let tz = mag.trailing_zeros().unwrap_or(0);
    if bits - tz <= 53 && bits <= 1024 {
        let f = scale2((mag >> tz).to_u64().expect("53 bits"), tz as i64);
        return HashForm::Float(if neg { -f } else { f });
    }
    HashForm::Exact(neg, residue(mag))
}

/// The hash form of a value (see [`HashForm`]).
pub(crate) fn hash_form(r: &Real<'_>) -> HashForm {
    match r {
        Real::Int(i) => HashForm::Int(*i),
        Real::Float(f) => HashForm::Float(*f),
        Real::Big(b) => int_form(b.sign() == Sign::Minus, b.magnitude()),
        Real::Dec(d) => decimal_form(d),
    }
}

fn decimal_form(d: &Decimal) -> HashForm {
    let neg = d.is_negative();
    match d.kind() {
        DecimalKind::SignalingNaN => return HashForm::Unhashable,
        DecimalKind::NaN => return HashForm::Float(f64::NAN),
        DecimalKind::Infinite => {
            return HashForm::Float(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        DecimalKind::Finite => {}
    }
    let mut c = d.coefficient().clone();
    if c.is_zero() {
        return HashForm::Int(0);
    }
    // Normalise: strip trailing decimal zeros.
    let mut e = d.exponent() as i128;
    let ten = BigUint::from(10u32);
    loop {
        let (q, r) = c.div_rem(&ten);
        if !r.is_zero() {
            break;
        }
        c = q;
        e += 1;
    }
    let digits = (c.bits() as f64 / LOG2_10) as i128 + 1; // >= decimal digits
    if e >= 0 {
        // An integer. Small enough to be an i64 or an exact f64 (< 2^1024
        // < 10^309): build it; larger: only its residue.
        if e + digits <= 310 {
            let v = c * pow10(e as u64);
            return int_form(neg, &v);
        }
        let e = e as u64;
        let r = mulmod(residue(&c), powmod(10, e % (P - 1)));
        return HashForm::Exact(neg, r);
    }
    let k = (-e) as u64;
    // c / 10^k with 10 ∤ c: an f64 only if 5^k | c (then the value is an odd
    // number over 2^k) with an odd part below 2^53 and k <= 1074.
    if k <= 1074 {
        let five_k = BigUint::from(5u32).pow(k as u32);
        let (m, rem) = c.div_rem(&five_k);
        if rem.is_zero() && m.bits() <= 53 {
            let f = scale2(m.to_u64().expect("53 bits"), -(k as i64));
            return HashForm::Float(if neg { -f } else { f });
        }
    }
    // The inverse of 10^k modulo P is 10^(k·(P−2)) = 10^(-k mod (P−1)).
    let inv = powmod(10, (P - 1) - (k % (P - 1)));
    HashForm::Exact(neg, mulmod(residue(&c), inv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Real<'static> {
        Real::Dec(Cow::Owned(s.parse().unwrap()))
    }
    fn big(s: &str) -> Real<'static> {
        Real::Big(Cow::Owned(s.parse().unwrap()))
    }

    /// 2**100 exactly (`powi` is not exact under Miri, which perturbs
    /// inexact float operations on purpose).
    const TWO_100: f64 = (1u128 << 100) as f64;

    #[test]
    fn exact_comparison_like_python() {
        use Ordering::*;
        assert_eq!(cmp(&dec("1.0"), &Real::Int(1)), Some(Equal));
        assert_eq!(cmp(&dec("0.5"), &Real::Float(0.5)), Some(Equal));
        assert_ne!(cmp(&dec("0.1"), &Real::Float(0.1)), Some(Equal));
        assert_eq!(cmp(&dec("0.1"), &Real::Float(0.1)), Some(Less)); // 0.1 is 0.1000000000000000055...
        assert_eq!(cmp(&dec("NaN"), &dec("NaN")), None);
        assert_eq!(cmp(&dec("-0"), &Real::Float(0.0)), Some(Equal));
        assert_eq!(
            cmp(&dec("Infinity"), &Real::Float(f64::INFINITY)),
            Some(Equal)
        );
        assert_eq!(
            cmp(&dec("-Infinity"), &big("-100000000000000000000000")),
            Some(Less)
        );
        let p100 = big("1267650600228229401496703205376");
        assert_eq!(cmp(&p100, &Real::Float(TWO_100)), Some(Equal));
        assert_eq!(
            cmp(&p100, &dec("1.267650600228229401496703205376E+30")),
            Some(Equal)
        );
        assert_eq!(
            cmp(&p100, &big("1267650600228229401496703205377")),
            Some(Less)
        );
        // 2**53 + 1 != float(2**53)
        assert_eq!(
            cmp(&big("9007199254740993"), &Real::Float(9007199254740992.0)),
            Some(Greater)
        );
        // Huge exponents are decided without expansion.
        assert_eq!(
            cmp(&dec("1E+999999999999999"), &dec("2E+999999999999999")),
            Some(Less)
        );
        assert_eq!(
            cmp(&dec("1E+999999999999999"), &Real::Float(f64::MAX)),
            Some(Greater)
        );
        assert_eq!(
            cmp(&dec("1E-999999999999999"), &Real::Float(5e-324)),
            Some(Less)
        );
        assert_eq!(
            cmp(&dec("1E-999999999999999"), &Real::Int(0)),
            Some(Greater)
        );
        assert_eq!(cmp(&dec("-5E-324"), &Real::Float(-5e-324)), Some(Less)); // 5e-324 is 4.94...e-324
    }

    #[test]
    fn equal_values_have_one_hash_form() {
        let forms = |xs: &[Real<'_>]| xs.iter().map(hash_form).collect::<Vec<_>>();
        let f = forms(&[Real::Int(5), dec("5.000"), dec("0.5E+1"), big("5")]);
        assert!(f.iter().all(|x| *x == HashForm::Int(5)), "{f:?}");
        let f = forms(&[Real::Float(0.375), dec("0.375"), dec("375E-3")]);
        assert!(f.iter().all(|x| *x == HashForm::Float(0.375)), "{f:?}");
        let p = "1267650600228229401496703205376";
        let f = forms(&[big(p), Real::Float(TWO_100), dec(&format!("{p}.00"))]);
        assert!(f.iter().all(|x| *x == HashForm::Float(TWO_100)), "{f:?}");
        let big_odd = format!("1{}", "0".repeat(400));
        let f = forms(&[big(&big_odd), dec("1E+400"), dec("10.0E+399")]);
        assert!(matches!(f[0], HashForm::Exact(false, _)));
        assert!(f.iter().all(|x| *x == f[0]), "{f:?}");
        assert!(matches!(hash_form(&dec("0.1")), HashForm::Exact(false, _)));
        assert_eq!(hash_form(&dec("0.1")), hash_form(&dec("0.10000")));
        assert_eq!(
            hash_form(&dec("-0.1")),
            HashForm::Exact(
                true,
                match hash_form(&dec("0.1")) {
                    HashForm::Exact(_, r) => r,
                    _ => unreachable!(),
                }
            )
        );
        assert_eq!(hash_form(&dec("sNaN")), HashForm::Unhashable);
        assert_eq!(
            hash_form(&big("-9223372036854775808")),
            HashForm::Int(i64::MIN)
        );
        assert_eq!(hash_form(&dec("-0")), HashForm::Int(0));
        let tiny = hash_form(&Real::Float(5e-324));
        let exact_tiny = format!("{}E-1074", BigUint::from(5u32).pow(1074));
        assert_eq!(hash_form(&dec(&exact_tiny)), tiny);
    }
}
