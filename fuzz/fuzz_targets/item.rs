//! The values the operation fuzzers write: small ints, strings of a chosen
//! length (long ones take real blocks), lists of ints, the scalar kinds
//! with blocks of their own (big ints, complex, decimals, the datetime
//! family), built through their checked constructors, numeric arrays
//! (float64 of one or two dimensions, bool), pickled objects (opaque bytes
//! of a chosen length) and objects (a class path and an attribute dict
//! holding an int and a list of ints).

use arbitrary::Arbitrary;
use shmheap::{BigInt, BigUint, Date, DateTime, Decimal, Time, TimeDelta, UtcOffset, Value};

#[derive(Arbitrary, Debug, Clone)]
pub enum Item {
    Int(i16),
    Str(u8),
    Ints(Vec<i8>),
    /// `(-1)^neg × magnitude bytes` (often beyond i64, sometimes not).
    Big(bool, Vec<u8>),
    Complex(f64, f64),
    /// sign, coefficient bytes, exponent, kind (0..=3)
    Decimal(bool, Vec<u8>, i32, u8),
    /// days since 0001-01-01, µs of the day, offset in seconds (if any), fold
    DateTime(u32, u64, Option<i32>, bool),
    TimeDelta(i64),
    /// A float64 array, of shape `[rows, len / rows]` when `rows` divides
    /// its length, else `[len]`.
    F64s(Vec<i8>, u8),
    /// A bool array.
    Bools(Vec<bool>),
    Pickled(u8),
    Object(i8, Vec<i8>),
}

impl Item {
    pub fn value(&self) -> Value {
        match self {
            Item::Int(i) => Value::Int(*i as i64),
            Item::Str(n) => Value::Str("s".repeat(*n as usize)),
            Item::Ints(v) => Value::List(v.iter().map(|&i| Value::Int(i as i64)).collect()),
            Item::Big(neg, mag) => {
                let m = BigInt::from(BigUint::from_bytes_le(mag));
                Value::int(if *neg { -m } else { m })
            }
            // No NaN: the fuzzers compare with a model by `==`.
            Item::Complex(re, im) => {
                let f = |x: f64| if x.is_nan() { 0.0 } else { x };
                Value::complex(f(*re), f(*im))
            }
            Item::Decimal(neg, coef, exp, kind) => {
                let c = BigUint::from_bytes_le(coef);
                Value::Decimal(match kind % 4 {
                    0 => Decimal::finite(*neg, c, *exp as i64),
                    1 => Decimal::infinity(*neg),
                    2 => Decimal::nan(*neg, c),
                    _ => Decimal::signaling_nan(*neg, c),
                })
            }
            Item::DateTime(days, us, off, fold) => {
                let d = 1 + days % 3_652_058; // 0001-01-01 ..= 9999-12-31
                let (y, m, dd) = civil(d as i64);
                let us = us % 86_400_000_000;
                let s = (us / 1_000_000) as u32;
                let t = Time::new(s / 3600, s / 60 % 60, s % 60, (us % 1_000_000) as u32)
                    .expect("in range")
                    .with_fold(*fold)
                    .with_offset(off.and_then(|o| UtcOffset::from_seconds(o % 86_400).ok()));
                let date = Date::new(y, m, dd).expect("in range");
                match days % 3 {
                    0 => Value::DateTime(DateTime::new(date, t)),
                    1 => Value::Date(date),
                    _ => Value::Time(t),
                }
            }
            Item::TimeDelta(us) => {
                Value::TimeDelta(TimeDelta::from_micros(*us as i128).expect("|µs| < 2^63"))
            }
            Item::F64s(v, rows) => {
                let data: Vec<f64> = v.iter().map(|&x| f64::from(x) * 0.5).collect();
                let r = usize::from(*rows).max(1);
                let shape = if !data.is_empty() && data.len() % r == 0 {
                    vec![r, data.len() / r]
                } else {
                    vec![data.len()]
                };
                Value::array(&shape, &data).expect("the shape's product is the length")
            }
            Item::Bools(v) => Value::array(&[v.len()], v).expect("one dimension"),
            Item::Pickled(n) => Value::Pickled(vec![0x80; *n as usize]),
            Item::Object(n, v) => Value::object(
                "fuzz.items:Point",
                vec![
                    ("n".into(), Value::Int(*n as i64)),
                    ("xs".into(), Item::Ints(v.clone()).value()),
                ],
            ),
        }
    }
}

/// The date of day `n` (1 = 0001-01-01), by walking years then months.
fn civil(mut n: i64) -> (i32, u32, u32) {
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let mut y = 1;
    loop {
        let len = if leap(y) { 366 } else { 365 };
        if n <= len {
            break;
        }
        n -= len;
        y += 1;
    }
    for m in 1..=12u32 {
        let len = match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if n <= len {
            return (y as i32, m, n as u32);
        }
        n -= len;
    }
    unreachable!("a day of the year")
}
