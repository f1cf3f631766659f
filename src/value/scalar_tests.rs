//! Unit tests of the scalar kinds with blocks of their own (big int,
//! complex, decimal, the datetime family): round trips through a segment,
//! Python's equality, ordering and hashing across kinds, dict keys, and
//! the validator on damaged blocks.

use proptest::prelude::*;

use super::eq::{hash, lt};
use super::{hash_value, py_eq};
use crate::format::{SEQ_SLOTS, Slot};
use crate::segment::Offset;
use crate::{
    BigInt, Date, DateTime, Decimal, Error, Handle, Segment, Time, TimeDelta, Turn, UtcOffset,
    Value,
};

fn seg() -> Segment {
    crate::test_segment(1 << 20)
}

fn own(turn: &mut Turn<'_>, v: &Value) -> Handle {
    let h = turn.put_message(v).unwrap();
    assert_eq!(turn.take_message().unwrap(), Some(h));
    h
}

fn dec(s: &str) -> Value {
    Value::Decimal(s.parse().unwrap())
}

fn big(s: &str) -> Value {
    Value::BigInt(s.parse().unwrap())
}

fn pow2(n: u32) -> Value {
    Value::BigInt(BigInt::from(1) << n)
}

fn date(y: i32, m: u32, d: u32) -> Date {
    Date::new(y, m, d).unwrap()
}

fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, off_s: Option<i32>) -> Value {
    let t = Time::new(h, mi, 0, 0)
        .unwrap()
        .with_offset(off_s.map(|s| UtcOffset::from_seconds(s).unwrap()));
    Value::DateTime(DateTime::new(date(y, mo, d), t))
}

fn samples() -> Vec<Value> {
    let aware = Time::new(23, 59, 59, 999_999)
        .unwrap()
        .with_fold(true)
        .with_offset(Some(
            UtcOffset::from_micros(-(23 * 3600 + 59 * 60) * 1_000_000 - 1).unwrap(),
        ));
    vec![
        pow2(100),
        Value::BigInt(-(BigInt::from(1) << 63u32) - 1),
        pow2(63),
        big(&format!("-{}", "9".repeat(300))),
        Value::complex(1.5, -2.0),
        Value::complex(0.0, f64::INFINITY),
        dec("1.10"),
        dec("-0"),
        dec("-Infinity"),
        dec("NaN12"),
        dec("sNaN"),
        dec("1.23456789012345678901234567890E-999999999"),
        Value::Date(date(1, 1, 1)),
        Value::Date(date(9999, 12, 31)),
        Value::Time(Time::new(0, 0, 0, 0).unwrap()),
        Value::Time(aware),
        dt(2024, 2, 29, 12, 30, None),
        Value::DateTime(DateTime::new(date(9999, 12, 31), aware)),
        Value::TimeDelta(TimeDelta::new(-999_999_999, 0, 0).unwrap()),
        Value::TimeDelta(TimeDelta::new(0, 86_399, 999_999).unwrap()),
    ]
}

#[test]
fn each_kind_round_trips_through_a_segment() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let all = samples();
    let h = own(&mut turn, &Value::List(all.clone()));
    let t = own(&mut turn, &Value::Tuple(all.clone()));
    for (i, v) in all.iter().enumerate() {
        let m = own(&mut turn, v);
        assert_eq!(&turn.get(m).unwrap().to_value().unwrap(), v);
        let l = turn.get(h).unwrap().as_list().unwrap();
        assert_eq!(&l.get(i).unwrap().to_value().unwrap(), v);
        assert_eq!(l.get(i).unwrap().type_name(), v.type_name());
        let tv = turn.get(t).unwrap().as_tuple().unwrap();
        assert_eq!(&tv.get(i).unwrap().to_value().unwrap(), v);
    }
    let r = turn.validate().unwrap();
    assert_eq!(r.orphans, 0);
    // Freeing frees every block.
    let used = turn.stats().used;
    turn.free(h).unwrap();
    turn.free(t).unwrap();
    assert!(turn.stats().used < used);
    turn.validate().unwrap();
}

#[test]
fn accessors_give_the_values_in_place() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let d = date(2020, 5, 17);
    let vals = vec![
        pow2(70),
        Value::complex(1.0, 2.0),
        dec("3.14"),
        Value::Date(d),
        Value::TimeDelta(TimeDelta::new(3, 0, 0).unwrap()),
    ];
    let h = own(&mut turn, &Value::List(vals));
    let l = turn.get(h).unwrap().as_list().unwrap();
    assert_eq!(
        l.get(0).unwrap().as_bigint().unwrap(),
        BigInt::from(1) << 70
    );
    assert_eq!(l.get(1).unwrap().as_complex().unwrap(), (1.0, 2.0));
    assert_eq!(l.get(2).unwrap().as_decimal().unwrap().to_string(), "3.14");
    assert_eq!(l.get(3).unwrap().as_date().unwrap(), d);
    assert_eq!(l.get(4).unwrap().as_timedelta().unwrap().days(), 3);
    assert!(matches!(
        l.get(3).unwrap().as_datetime(),
        Err(Error::TypeMismatch { .. })
    ));
}

#[test]
fn big_ints_that_fit_are_written_as_ints() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    for (v, back) in [
        (Value::BigInt(5.into()), Value::Int(5)),
        (Value::BigInt(i64::MIN.into()), Value::Int(i64::MIN)),
        (Value::from(u64::MAX), Value::BigInt(u64::MAX.into())),
        (Value::from(7u64), Value::Int(7)),
    ] {
        let h = own(&mut turn, &Value::List(vec![v.clone()]));
        let got = turn.get(h).unwrap().as_list().unwrap().get(0).unwrap();
        assert_eq!(got.to_value().unwrap(), back);
        assert!(got.py_eq(&v).unwrap());
    }
    assert_eq!(Value::int(i128::from(i64::MAX) + 1), pow2(63));
}

#[test]
fn python_equality_across_kinds() {
    let eqs: Vec<(Value, Value)> = vec![
        (Value::BigInt(5.into()), Value::Int(5)),
        (pow2(100), pow2(100)),
        (pow2(100), Value::Float((1u128 << 100) as f64)),
        (dec("1.0"), Value::Int(1)),
        (dec("1.0"), Value::Float(1.0)),
        (dec("1.0"), Value::Bool(true)),
        (dec("0.5"), Value::Float(0.5)),
        (dec("1267650600228229401496703205376"), pow2(100)),
        (dec("1.267650600228229401496703205376E+30"), pow2(100)),
        (dec("-0.000"), Value::Int(0)),
        (dec("Infinity"), Value::Float(f64::INFINITY)),
        (Value::complex(2.0, 0.0), Value::Int(2)),
        (Value::complex(0.5, -0.0), dec("0.5")),
        (Value::complex(1.0, 1.0), Value::complex(1.0, 1.0)),
        (
            dt(2020, 1, 1, 1, 0, Some(3600)),
            dt(2020, 1, 1, 0, 0, Some(0)),
        ),
        (
            dt(2020, 1, 1, 0, 0, Some(-3600)),
            dt(2019, 12, 31, 23, 0, Some(-7200)),
        ),
        (dt(2020, 1, 1, 0, 0, None), dt(2020, 1, 1, 0, 0, None)),
        (
            Value::Time(Time::new(12, 0, 0, 0).unwrap().with_fold(true)),
            Value::Time(Time::new(12, 0, 0, 0).unwrap()),
        ),
        (
            Value::TimeDelta(TimeDelta::new(1, 0, 0).unwrap()),
            Value::TimeDelta(TimeDelta::new(0, 86_400, 0).unwrap()),
        ),
    ];
    for (a, b) in &eqs {
        assert!(py_eq(a, b), "{a:?} == {b:?}");
        assert!(py_eq(b, a), "{b:?} == {a:?}");
        assert_eq!(
            hash_value(a).unwrap(),
            hash_value(b).unwrap(),
            "{a:?} {b:?}"
        );
    }
    let nes: Vec<(Value, Value)> = vec![
        (dec("0.1"), Value::Float(0.1)),
        (dec("NaN"), dec("NaN")),
        (dec("NaN"), Value::Float(f64::NAN)),
        (big("9007199254740993"), Value::Float(9007199254740992.0)),
        (pow2(100), big("1267650600228229401496703205377")),
        (Value::complex(1.0, 1.0), Value::Int(1)),
        (dt(2020, 1, 1, 0, 0, None), dt(2020, 1, 1, 0, 0, Some(0))),
        (Value::Date(date(2020, 1, 1)), dt(2020, 1, 1, 0, 0, None)),
        (
            Value::Time(Time::new(12, 0, 0, 0).unwrap()),
            Value::Time(
                Time::new(12, 0, 0, 0)
                    .unwrap()
                    .with_offset(Some(UtcOffset::UTC)),
            ),
        ),
        (
            Value::TimeDelta(TimeDelta::new(0, 0, 0).unwrap()),
            Value::Int(0),
        ),
        (dec("1"), Value::Str("1".into())),
    ];
    for (a, b) in &nes {
        assert!(!py_eq(a, b), "{a:?} != {b:?}");
        assert!(!py_eq(b, a), "{b:?} != {a:?}");
    }
}

#[test]
fn python_ordering_across_kinds() {
    let lts: Vec<(Value, Value)> = vec![
        (Value::Int(i64::MAX), pow2(63)),
        (
            Value::BigInt(-(BigInt::from(1) << 80u32)),
            Value::Int(i64::MIN),
        ),
        (dec("0.1"), Value::Float(0.1)),
        (Value::Float(0.1), dec("0.1000000000000000056")),
        (
            dec("-Infinity"),
            Value::BigInt(-(BigInt::from(1) << 1000u32)),
        ),
        (dec("2.5"), Value::Int(3)),
        (pow2(1100), Value::Float(f64::INFINITY)),
        (Value::Date(date(2020, 1, 1)), Value::Date(date(2020, 1, 2))),
        (
            dt(2020, 1, 1, 1, 0, Some(7200)),
            dt(2020, 1, 1, 0, 0, Some(0)),
        ),
        (
            Value::TimeDelta(TimeDelta::new(-1, 0, 0).unwrap()),
            Value::TimeDelta(TimeDelta::new(0, 0, 0).unwrap()),
        ),
        (
            Value::Time(Time::new(1, 0, 0, 0).unwrap()),
            Value::Time(Time::new(1, 0, 0, 1).unwrap()),
        ),
    ];
    for (a, b) in &lts {
        assert!(lt(a, b, 0).unwrap(), "{a:?} < {b:?}");
        assert!(!lt(b, a, 0).unwrap(), "not {b:?} < {a:?}");
    }
    for (a, b) in [
        (Value::complex(1.0, 1.0), Value::Int(0)),
        (Value::Int(0), Value::complex(0.0, 0.0)),
        (dt(2020, 1, 1, 0, 0, None), dt(2020, 1, 1, 0, 0, Some(0))),
        (Value::Date(date(2020, 1, 1)), dt(2020, 1, 1, 0, 0, None)),
        (
            Value::TimeDelta(TimeDelta::new(0, 0, 0).unwrap()),
            Value::Int(0),
        ),
    ] {
        assert!(
            matches!(lt(&a, &b, 0), Err(Error::TypeMismatch { .. })),
            "{a:?} < {b:?} is a TypeError"
        );
    }
}

/// Fixed hashes: the hash is part of the format, so a change across builds
/// or processes must show here (and in FORMAT.md §10).
#[test]
fn hash_test_vectors_of_the_scalar_kinds() {
    let h = |v: Value| format!("{:016x}", hash_value(&v).unwrap());
    let cases: Vec<(Value, &str)> = vec![
        (pow2(100), "dc3d8bf25ba13c36"),
        (
            Value::BigInt((BigInt::from(1) << 200u32) + 1),
            "cb5c06518a72b6c4",
        ),
        (dec("0.1"), "c914c5ff35cb0b54"),
        (dec("-3.14"), "b9cda761d742050a"),
        (Value::complex(1.0, 2.0), "4e5df014a8161204"),
        (Value::Date(date(2024, 3, 1)), "960b5ed089f2ff73"),
        (dt(2020, 1, 1, 0, 0, None), "81446f160eb27963"),
        (dt(2020, 1, 1, 0, 0, Some(0)), "40abaa9e46558d1a"),
        (
            Value::Time(Time::new(12, 0, 0, 0).unwrap()),
            "890464f077fa4e29",
        ),
        (
            Value::TimeDelta(TimeDelta::new(3, 0, 0).unwrap()),
            "e512abe32e4755a3",
        ),
    ];
    for (v, want) in cases {
        assert_eq!(h(v.clone()), want, "{v:?}");
    }
    // Values equal to old kinds keep the old kinds' hashes (FORMAT.md §10).
    assert_eq!(h(dec("1.0")), "e4d971771b652c20");
    assert_eq!(h(Value::complex(1.5, 0.0)), "b464cfb2d85fdf7e");
    assert_eq!(h(dec("1E+300")), h(big(&format!("1{}", "0".repeat(300)))));
    assert!(matches!(
        hash(&dec("sNaN"), 0),
        Err(Error::Unhashable { .. })
    ));
}

#[test]
fn dict_keys_are_found_by_equal_keys_of_other_kinds() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let h = own(&mut turn, &Value::dict());
    let mut d = turn.dict_mut(h).unwrap();
    d.insert(1, "one").unwrap();
    d.insert(pow2(100), "p100").unwrap();
    d.insert(dec("0.1"), "tenth").unwrap();
    d.insert(dt(2020, 1, 1, 0, 0, Some(0)), "new year utc")
        .unwrap();
    d.insert(Value::complex(1.0, 1.0), "c").unwrap();
    d.insert(Value::Date(date(2020, 1, 1)), "date").unwrap();
    let found = |d: &crate::DictMut<'_>, k: Value| {
        d.get(&k).unwrap().map(|v| v.as_str().unwrap().to_owned())
    };
    assert_eq!(found(&d, dec("1.0")).as_deref(), Some("one"));
    assert_eq!(found(&d, Value::complex(1.0, 0.0)).as_deref(), Some("one"));
    assert_eq!(found(&d, Value::BigInt(1.into())).as_deref(), Some("one"));
    assert_eq!(
        found(&d, Value::Float((1u128 << 100) as f64)).as_deref(),
        Some("p100")
    );
    assert_eq!(
        found(&d, dec("1267650600228229401496703205376.000")).as_deref(),
        Some("p100")
    );
    assert_eq!(found(&d, dec("0.10")).as_deref(), Some("tenth"));
    assert_eq!(found(&d, Value::Float(0.1)), None);
    assert_eq!(
        found(&d, dt(2020, 1, 1, 5, 30, Some(5 * 3600 + 1800))).as_deref(),
        Some("new year utc")
    );
    assert_eq!(found(&d, dt(2020, 1, 1, 0, 0, None)), None);
    assert_eq!(found(&d, Value::complex(1.0, 1.0)).as_deref(), Some("c"));
    // Putting an equal key of another kind replaces the value, keeps the key.
    assert_eq!(
        d.insert(dec("1.000"), "uno").unwrap(),
        Some(Value::from("one"))
    );
    assert_eq!(d.len(), 6);
    // The validator recomputes every stored hash from the key's bytes.
    turn.validate().unwrap();
    let s = own(
        &mut turn,
        &Value::Set(vec![dec("2"), Value::Int(2), Value::complex(2.0, 0.0)]),
    );
    assert_eq!(turn.get(s).unwrap().as_set().unwrap().len(), 1);
    turn.validate().unwrap();
}

/// The block of the first item of tuple `h`.
fn first_block(turn: &Turn<'_>, h: Handle) -> Offset {
    let heap = turn.heap();
    let s = Slot::read(&heap.mem, h.offset.add(SEQ_SLOTS)).unwrap();
    Offset::new(s.payload)
}

#[test]
fn the_validator_and_the_reader_refuse_damaged_blocks() {
    // (value, payload word, bad value, what)
    let cases: Vec<(Value, u64, u64, &str)> = vec![
        (pow2(100), 0, 64, "big int length past its block"),
        (pow2(100), 8, 2, "big int sign not 0/1"),
        (pow2(100), 0, 7, "big int of 7 bytes fits in i64"),
        (pow2(100), 0, 12, "big int magnitude with a high zero byte"),
        (dec("1.5"), 16, 4 << 8, "decimal kind out of range"),
        (dec("1.5"), 16, 2, "decimal flag bits"),
        (dec("Infinity"), 8, 3, "infinity with an exponent"),
        (dec("Infinity"), 0, 1, "infinity with a coefficient"),
        (
            dec("1.5"),
            0,
            9,
            "decimal coefficient with a high zero byte",
        ),
        (
            Value::Date(date(2020, 1, 31)),
            0,
            2020 | 2 << 16 | 30 << 24,
            "Feb 30",
        ),
        (
            Value::Date(date(2020, 1, 31)),
            0,
            2020 | 13 << 16 | 1 << 24,
            "month 13",
        ),
        (
            Value::Date(date(2020, 1, 31)),
            0,
            1 << 24 | 1 << 16,
            "year 0",
        ),
        (
            Value::Date(date(2020, 1, 31)),
            0,
            2020 | 1 << 16 | 1 << 24 | 1 << 40,
            "reserved",
        ),
        (
            Value::Time(Time::new(1, 2, 3, 4).unwrap()),
            0,
            24,
            "hour 24",
        ),
        (
            Value::Time(Time::new(1, 2, 3, 4).unwrap()),
            0,
            1_000_000 << 32,
            "µs 10^6",
        ),
        (
            Value::Time(Time::new(1, 2, 3, 4).unwrap()),
            0,
            4 << 24,
            "time flags",
        ),
        (
            Value::Time(Time::new(1, 2, 3, 4).unwrap()),
            8,
            5,
            "offset on a naive time",
        ),
        (
            Value::Time(
                Time::new(1, 2, 3, 4)
                    .unwrap()
                    .with_offset(Some(UtcOffset::UTC)),
            ),
            8,
            86_400_000_000,
            "offset of 24 h",
        ),
        (dt(2020, 1, 1, 0, 0, None), 8, 60 << 8, "minute 60"),
        (dt(2020, 1, 1, 0, 0, None), 0, 0, "datetime date zero"),
        (
            Value::TimeDelta(TimeDelta::new(1, 2, 3).unwrap()),
            8,
            86_400,
            "seconds 86400",
        ),
        (
            Value::TimeDelta(TimeDelta::new(1, 2, 3).unwrap()),
            8,
            1_000_000 << 32,
            "µs",
        ),
        (
            Value::TimeDelta(TimeDelta::new(1, 2, 3).unwrap()),
            0,
            1_000_000_000,
            "days 10^9",
        ),
    ];
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    for (v, word, bad, what) in cases {
        let h = own(&mut turn, &Value::Tuple(vec![v.clone()]));
        turn.validate().unwrap();
        let b = first_block(&turn, h);
        let at = crate::format::payload(b).add(word);
        let m = turn.heap().mem;
        let old = m.u64(at).unwrap();
        m.set_u64(at, bad).unwrap();
        let e = turn.validate().expect_err(what);
        assert!(matches!(e, Error::Corrupt { .. }), "{what}: {e}");
        let e = turn
            .get(h)
            .unwrap()
            .as_tuple()
            .unwrap()
            .get(0)
            .expect_err(what);
        assert!(matches!(e, Error::Corrupt { .. }), "{what}: {e}");
        m.set_u64(at, old).unwrap();
        turn.validate().unwrap();
        turn.free(h).unwrap();
    }
}

#[test]
fn every_byte_of_a_scalar_block_flipped_never_panics() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    for v in samples() {
        let h = own(&mut turn, &Value::Tuple(vec![v.clone()]));
        let b = first_block(&turn, h);
        let (size, _, _) = turn.heap().live(b).unwrap();
        let m = turn.heap().mem;
        // Every bit of every byte; under Miri, where each validation costs
        // a lot, every fifth byte and three bits of it.
        let (stride, bits): (usize, &[u32]) = if cfg!(miri) {
            (5, &[0, 3, 7])
        } else {
            (1, &[0, 1, 2, 3, 4, 5, 6, 7])
        };
        for i in (16..size.min(64)).step_by(stride) {
            let at = b.add(i);
            // SAFETY: a byte of an allocated block of this test's segment,
            // written inside the turn; no view of it lives.
            let p = m.ptr(at, 1, 1).unwrap();
            // SAFETY: as above.
            let old = unsafe { p.read() };
            for &bit in bits {
                // SAFETY: as above.
                unsafe { p.write(old ^ 1 << bit) };
                let got = turn.get(h).unwrap().as_tuple().unwrap().get(0);
                let valid = turn.validate();
                // Either refused by both, or a well-formed value.
                match (got, valid) {
                    (Ok(x), Ok(_)) => drop(x.to_value().unwrap()),
                    (Err(Error::Corrupt { .. }), Err(Error::Corrupt { .. })) => {}
                    (g, r) => panic!("{v:?} byte {i} bit {bit}: {g:?} / {r:?}"),
                }
            }
            // SAFETY: as above.
            unsafe { p.write(old) };
        }
        turn.validate().unwrap();
        turn.free(h).unwrap();
    }
}

/// Random numbers in every kind that can hold them, with the value known.
fn number() -> impl Strategy<Value = (i128, u32, Vec<Value>)> {
    // value = n / 10^k (k <= 3), in every form that holds it exactly
    (-(1i128 << 70)..(1i128 << 70), 0u32..4).prop_map(|(n, k)| {
        let mut forms = vec![];
        let p = 10i128.pow(k);
        forms.push(Value::Decimal(Decimal::finite(
            n < 0,
            n.unsigned_abs().into(),
            -(k as i64),
        )));
        forms.push(Value::Decimal(Decimal::finite(
            n < 0,
            (n.unsigned_abs() * 100).into(),
            -(k as i64) - 2,
        )));
        if n % p == 0 {
            let i = n / p;
            forms.push(Value::int(i));
            forms.push(Value::BigInt(i.into()));
            if (i as f64) as i128 == i {
                forms.push(Value::Float(i as f64));
                forms.push(Value::complex(i as f64, 0.0));
            }
        }
        let f = n as f64 / p as f64;
        // Exactly f64 only if f·10^k == n exactly (binary fractions).
        if exact_f64(f, n, k) {
            forms.push(Value::Float(f));
        }
        (n, k, forms)
    })
}

/// Whether `f` is exactly `n / 10^k`.
fn exact_f64(f: f64, n: i128, k: u32) -> bool {
    let d: Decimal = format!("{n}E-{k}").parse().unwrap();
    py_eq(&Value::Float(f), &Value::Decimal(d))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    fn equal_numbers_hash_equal((_n, _k, forms) in number()) {
        for a in &forms {
            for b in &forms {
                prop_assert!(py_eq(a, b), "{:?} == {:?}", a, b);
                prop_assert_eq!(hash_value(a).unwrap(), hash_value(b).unwrap());
            }
        }
    }

    #[test]
    fn equality_implies_equal_hashes(a in number(), b in number()) {
        for x in &a.2 {
            for y in &b.2 {
                if py_eq(x, y) {
                    prop_assert_eq!(hash_value(x).unwrap(), hash_value(y).unwrap());
                }
                prop_assert_eq!(py_eq(x, y), a.0 * 10i128.pow(b.1) == b.0 * 10i128.pow(a.1));
            }
        }
    }

    #[test]
    fn aware_datetimes_hash_by_instant(
        secs in 0i64..(9000 * 365 * 86_400),
        off_a in -86_399i32..86_400,
        off_b in -86_399i32..86_400,
    ) {
        let at = |off: i32| -> Option<Value> {
            let local = secs + 86_400 + off as i64; // keep year >= 1
            let days = local.div_euclid(86_400);
            let rest = local.rem_euclid(86_400) as u32;
            let d = date_from_days(days)?;
            let t = Time::new(rest / 3600, rest / 60 % 60, rest % 60, 0).ok()?
                .with_offset(Some(UtcOffset::from_seconds(off).ok()?));
            Some(Value::DateTime(DateTime::new(d, t)))
        };
        if let (Some(a), Some(b)) = (at(off_a), at(off_b)) {
            prop_assert!(py_eq(&a, &b));
            prop_assert_eq!(hash_value(&a).unwrap(), hash_value(&b).unwrap());
        }
    }
}

/// The date `days` days after 0001-01-01.
fn date_from_days(days: i64) -> Option<Date> {
    let mut y = 1 + days / 366;
    let first = |y: i64| Date::new(y as i32, 1, 1).map(|d| d.ordinal() - 1);
    while first(y + 1).ok()? <= days {
        y += 1;
    }
    let mut left = days - first(y).ok()?;
    for m in 1..=12 {
        for d in 1..=31 {
            if let Ok(x) = Date::new(y as i32, m, d) {
                if left == 0 {
                    return Some(x);
                }
                left -= 1;
            }
        }
    }
    None
}
