//! `Display` of values and views against Python's own `repr`: a table of
//! values, each with the Python expression that builds it and the `repr`
//! Python 3.11 printed for it (committed, so the comparison runs anywhere,
//! Miri included); `table_matches_python` checks the committed strings
//! against the `python3` on this machine when there is one.

use super::Value;
use crate::{BigInt, Date, DateTime, Decimal, Time, TimeDelta, UtcOffset, test_segment};

fn f(x: f64) -> Value {
    Value::Float(x)
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn dec(x: &str) -> Value {
    Value::Decimal(x.parse::<Decimal>().unwrap())
}

fn t(h: u32, m: u32, s: u32, us: u32) -> Time {
    Time::new(h, m, s, us).unwrap()
}

fn tz(t: Time, micros: i64) -> Time {
    t.with_offset(Some(UtcOffset::from_micros(micros).unwrap()))
}

fn dt((y, mo, d): (i32, u32, u32), t: Time) -> Value {
    Value::DateTime(DateTime::new(Date::new(y, mo, d).unwrap(), t))
}

fn td(d: i64, s: i64, us: i64) -> Value {
    Value::TimeDelta(TimeDelta::new(d, s, us).unwrap())
}

/// (value, Python expression, Python's `repr` of it).
fn table() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (Value::None, r#"None"#, r#"None"#),
        (Value::Bool(true), r#"True"#, r#"True"#),
        (Value::Bool(false), r#"False"#, r#"False"#),
        (Value::Int(0), r#"0"#, r#"0"#),
        (Value::Int(-7), r#"-7"#, r#"-7"#),
        (
            Value::Int(i64::MAX),
            r#"9223372036854775807"#,
            r#"9223372036854775807"#,
        ),
        (
            Value::Int(i64::MIN),
            r#"-9223372036854775808"#,
            r#"-9223372036854775808"#,
        ),
        (
            Value::int(BigInt::from(2).pow(100)),
            r#"2**100"#,
            r#"1267650600228229401496703205376"#,
        ),
        (
            Value::int(-BigInt::from(2).pow(70)),
            r#"-(2**70)"#,
            r#"-1180591620717411303424"#,
        ),
        (f(0.0), r#"0.0"#, r#"0.0"#),
        (f(-0.0), r#"-0.0"#, r#"-0.0"#),
        (f(1.0), r#"1.0"#, r#"1.0"#),
        (f(0.1), r#"0.1"#, r#"0.1"#),
        (f(1.0 / 3.0), r#"1/3"#, r#"0.3333333333333333"#),
        (f(1e16), r#"1e16"#, r#"1e+16"#),
        (f(1e15), r#"1e15"#, r#"1000000000000000.0"#),
        (
            f(123456789012345680.0),
            r#"123456789012345680.0"#,
            r#"1.2345678901234568e+17"#,
        ),
        (f(1e-4), r#"1e-4"#, r#"0.0001"#),
        (f(1e-5), r#"1e-5"#, r#"1e-05"#),
        (f(1.5e-7), r#"1.5e-7"#, r#"1.5e-07"#),
        (f(2.5e300), r#"2.5e300"#, r#"2.5e+300"#),
        (f(-1e-300), r#"-1e-300"#, r#"-1e-300"#),
        (f(5e-324), r#"5e-324"#, r#"5e-324"#),
        (f(f64::INFINITY), r#"float('inf')"#, r#"inf"#),
        (f(f64::NEG_INFINITY), r#"float('-inf')"#, r#"-inf"#),
        (f(f64::NAN), r#"float('nan')"#, r#"nan"#),
        (f(1e22), r#"1e22"#, r#"1e+22"#),
        (f(12345.678), r#"12345.678"#, r#"12345.678"#),
        (Value::complex(1.0, 2.0), r#"complex(1, 2)"#, r#"(1+2j)"#),
        (Value::complex(0.0, 1.0), r#"complex(0, 1)"#, r#"1j"#),
        (Value::complex(0.0, -0.0), r#"complex(0, -0.0)"#, r#"-0j"#),
        (
            Value::complex(-0.0, 1.0),
            r#"complex(-0.0, 1)"#,
            r#"(-0+1j)"#,
        ),
        (
            Value::complex(1.5, -2.25),
            r#"complex(1.5, -2.25)"#,
            r#"(1.5-2.25j)"#,
        ),
        (
            Value::complex(1e16, f64::NAN),
            r#"complex(1e16, float('nan'))"#,
            r#"(1e+16+nanj)"#,
        ),
        (
            Value::complex(f64::INFINITY, f64::NEG_INFINITY),
            r#"complex(float('inf'), float('-inf'))"#,
            r#"(inf-infj)"#,
        ),
        (s(""), r#"''"#, r#"''"#),
        (s("hello"), r#"'hello'"#, r#"'hello'"#),
        (s("it's"), r#""it's""#, r#""it's""#),
        (s("say \"hi\""), r#"'say "hi"'"#, r#"'say "hi"'"#),
        (
            s("both ' and \""),
            r#"'both \' and "'"#,
            r#"'both \' and "'"#,
        ),
        (
            s("tab\there\nline\r\\"),
            r#"'tab\there\nline\r\\'"#,
            r#"'tab\there\nline\r\\'"#,
        ),
        (s("\x00\x1f\x7f"), r#"'\x00\x1f\x7f'"#, r#"'\x00\x1f\x7f'"#),
        (
            s("caf\u{e9} \u{a0} \u{301}x \u{200b} \u{2028} \u{feff}"),
            r#"'caf\xe9 \u00a0 \u0301x \u200b \u2028 \ufeff'"#,
            r#"'café \xa0 ́x \u200b \u2028 \ufeff'"#,
        ),
        (
            s("\u{1f600} \u{e000} \u{e0001} \u{d7ff}"),
            r#"'\U0001f600 \ue000 \U000e0001 \ud7ff'"#,
            r#"'😀 \ue000 \U000e0001 \ud7ff'"#,
        ),
        (s("\u{4e2d}\u{6587}"), r#"'\u4e2d\u6587'"#, r#"'中文'"#),
        (Value::Bytes(vec![]), r#"b''"#, r#"b''"#),
        (Value::from(b"world"), r#"b'world'"#, r#"b'world'"#),
        (Value::from(b"it's"), r#"b"it's""#, r#"b"it's""#),
        (
            Value::from(b"\x00\xff\t\n\r\\\"'"),
            r#"b'\x00\xff\t\n\r\\"\''"#,
            r#"b'\x00\xff\t\n\r\\"\''"#,
        ),
        (
            Value::bytearray(*b"ab\0"),
            r#"bytearray(b'ab\x00')"#,
            r#"bytearray(b'ab\x00')"#,
        ),
        (
            Value::bytearray(vec![]),
            r#"bytearray()"#,
            r#"bytearray(b'')"#,
        ),
        (value!(()), r#"()"#, r#"()"#),
        (Value::Tuple(vec![Value::Int(1)]), r#"(1,)"#, r#"(1,)"#),
        (
            value!((8, 2.0, false)),
            r#"(8, 2.0, False)"#,
            r#"(8, 2.0, False)"#,
        ),
        (value!([]), r#"[]"#, r#"[]"#),
        (
            value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}]),
            r#"['hello', 0, (8, 2.0, False), {b'world': -6, 5: 4}]"#,
            r#"['hello', 0, (8, 2.0, False), {b'world': -6, 5: 4}]"#,
        ),
        (value!({}), r#"{}"#, r#"{}"#),
        (
            value!({"a": 1, None: [1.5], (1, "b"): {}}),
            r#"{'a': 1, None: [1.5], (1, 'b'): {}}"#,
            r#"{'a': 1, None: [1.5], (1, 'b'): {}}"#,
        ),
        (Value::set(), r#"set()"#, r#"set()"#),
        (Value::Set(vec![Value::Int(1)]), r#"{1}"#, r#"{1}"#),
        (Value::FrozenSet(vec![]), r#"frozenset()"#, r#"frozenset()"#),
        (
            Value::FrozenSet(vec![s("x")]),
            r#"frozenset({'x'})"#,
            r#"frozenset({'x'})"#,
        ),
        (dec("3.14"), r#"Decimal('3.14')"#, r#"Decimal('3.14')"#),
        (dec("-0.00"), r#"Decimal('-0.00')"#, r#"Decimal('-0.00')"#),
        (dec("1E+5"), r#"Decimal('1E+5')"#, r#"Decimal('1E+5')"#),
        (dec("NaN"), r#"Decimal('NaN')"#, r#"Decimal('NaN')"#),
        (
            dec("-Infinity"),
            r#"Decimal('-Infinity')"#,
            r#"Decimal('-Infinity')"#,
        ),
        (
            dec("sNaN12"),
            r#"Decimal('sNaN12')"#,
            r#"Decimal('sNaN12')"#,
        ),
        (
            dt((2024, 1, 2), t(3, 4, 5, 6)),
            r#"datetime.datetime(2024, 1, 2, 3, 4, 5, 6)"#,
            r#"datetime.datetime(2024, 1, 2, 3, 4, 5, 6)"#,
        ),
        (
            dt((2024, 1, 2), t(0, 0, 0, 0)),
            r#"datetime.datetime(2024, 1, 2)"#,
            r#"datetime.datetime(2024, 1, 2, 0, 0)"#,
        ),
        (
            dt((2024, 1, 2), t(3, 4, 0, 7)),
            r#"datetime.datetime(2024, 1, 2, 3, 4, 0, 7)"#,
            r#"datetime.datetime(2024, 1, 2, 3, 4, 0, 7)"#,
        ),
        (
            dt((1, 12, 31), tz(t(23, 59, 59, 0), 0)),
            r#"datetime.datetime(1, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)"#,
            r#"datetime.datetime(1, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)"#,
        ),
        (
            dt((2024, 1, 2), tz(t(3, 4, 0, 0), 19_800_000_000)),
            r#"datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))"#,
            r#"datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone(datetime.timedelta(seconds=19800)))"#,
        ),
        (
            dt(
                (2024, 1, 2),
                tz(t(3, 4, 0, 0), -3_600_000_000).with_fold(true),
            ),
            r#"datetime.datetime(2024, 1, 2, 3, 4, fold=1, tzinfo=datetime.timezone(-datetime.timedelta(hours=1)))"#,
            r#"datetime.datetime(2024, 1, 2, 3, 4, fold=1, tzinfo=datetime.timezone(datetime.timedelta(days=-1, seconds=82800)))"#,
        ),
        (
            Value::Date(Date::new(2024, 2, 29).unwrap()),
            r#"datetime.date(2024, 2, 29)"#,
            r#"datetime.date(2024, 2, 29)"#,
        ),
        (
            Value::Time(t(0, 0, 0, 0)),
            r#"datetime.time(0, 0)"#,
            r#"datetime.time(0, 0)"#,
        ),
        (
            Value::Time(t(13, 5, 7, 800)),
            r#"datetime.time(13, 5, 7, 800)"#,
            r#"datetime.time(13, 5, 7, 800)"#,
        ),
        (
            Value::Time(tz(t(1, 2, 0, 0), 1_000_005).with_fold(true)),
            r#"datetime.time(1, 2, fold=1, tzinfo=datetime.timezone(datetime.timedelta(seconds=1, microseconds=5)))"#,
            r#"datetime.time(1, 2, tzinfo=datetime.timezone(datetime.timedelta(seconds=1, microseconds=5)), fold=1)"#,
        ),
        (
            td(0, 0, 0),
            r#"datetime.timedelta(0)"#,
            r#"datetime.timedelta(0)"#,
        ),
        (
            td(-1, 86399, 999_999),
            r#"datetime.timedelta(days=-1, seconds=86399, microseconds=999999)"#,
            r#"datetime.timedelta(days=-1, seconds=86399, microseconds=999999)"#,
        ),
        (
            td(0, 5, 0),
            r#"datetime.timedelta(seconds=5)"#,
            r#"datetime.timedelta(seconds=5)"#,
        ),
        (
            td(999_999_999, 0, 1),
            r#"datetime.timedelta(days=999999999, microseconds=1)"#,
            r#"datetime.timedelta(days=999999999, microseconds=1)"#,
        ),
        (
            Value::object(
                "tests.display:Point",
                vec![(s("x"), Value::Int(1)), (s("y"), s("a"))],
            ),
            r#"Point(1, 'a')"#,
            r#"Point(x=1, y='a')"#,
        ),
        (
            Value::object("tests.display:Empty", vec![]),
            r#"Empty()"#,
            r#"Empty()"#,
        ),
    ]
}

#[test]
fn values_print_as_python_repr() {
    for (v, expr, want) in table() {
        assert_eq!(v.to_string(), want, "{expr}");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "writes ~90 values: slow under Miri (the formatting is the same code)"
)]
fn views_print_as_their_values() {
    // Every value of the table written to a segment and printed from there.
    let seg = test_segment(256 << 10);
    let mut turn = seg.turn().unwrap();
    let values: Vec<Value> = table().into_iter().map(|(v, _, _)| v).collect();
    let h = turn.put_message(&Value::List(values.clone())).unwrap();
    let list = turn.get(h).unwrap().as_list().unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(list.get(i).unwrap().to_string(), v.to_string());
    }
    assert_eq!(
        turn.get(h).unwrap().to_string(),
        Value::List(values).to_string()
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs python3")]
fn table_matches_python() {
    let script = "import datetime, dataclasses, sys\n\
        from decimal import Decimal\n\
        @dataclasses.dataclass\n\
        class Point:\n    x: object\n    y: object\n\
        @dataclasses.dataclass\n\
        class Empty:\n    pass\n\
        for line in sys.stdin.read().split('\\n'):\n    print(repr(eval(line)))\n";
    let exprs: Vec<&str> = table().iter().map(|&(_, e, _)| e).collect();
    let mut child = match std::process::Command::new("python3")
        .args(["-c", script])
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            println!("skipped the comparison with Python: no python3 ({e})");
            return;
        }
    };
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(exprs.join("\n").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed");
    let got = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), exprs.len());
    for ((v, expr, want), py) in table().into_iter().zip(got) {
        assert_eq!(want, py, "the committed repr of {expr} is not Python's");
        assert_eq!(v.to_string(), py, "{expr}");
    }
}

#[test]
fn limits_cut_huge_values() {
    let v = value!([1, [2, [3, [4]]], "x", {"k": [5, 6]}]);
    assert_eq!(v.display_limited(0, 10).to_string(), "[...]");
    assert_eq!(
        v.display_limited(1, 10).to_string(),
        "[1, [...], 'x', {...}]"
    );
    assert_eq!(v.display_limited(2, 1).to_string(), "[1, ...]");
    assert_eq!(v.display_limited(2, 2).to_string(), "[1, [2, [...]], ...]");
    assert_eq!(
        v.display_limited(3, 2).to_string(),
        "[1, [2, [3, [...]]], ...]"
    );
    let t = Value::Tuple(vec![Value::Int(1)]);
    assert_eq!(t.display_limited(5, 0).to_string(), "(...)");
    let a = Value::array(&[2, 3], &[1i64, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(a.to_string(), "array([[1, 2, 3], [4, 5, 6]], dtype=int64)");
    assert_eq!(
        a.display_limited(5, 2).to_string(),
        "array([[1, 2, ...], [4, 5, ...]], dtype=int64)"
    );
    assert_eq!(
        a.display_limited(1, 9).to_string(),
        "array([[...], [...]], dtype=int64)"
    );
}

#[test]
fn arrays_pickles_and_objects_from_a_segment() {
    let cases = [
        (
            Value::array(&[3], &[0.5f64, 1e16, -0.0]).unwrap(),
            "array([0.5, 1e+16, -0.0], dtype=float64)",
        ),
        (
            Value::array(&[2], &[0.1f32, 3.0]).unwrap(),
            "array([0.1, 3.0], dtype=float32)",
        ),
        (
            Value::array(&[2], &[true, false]).unwrap(),
            "array([True, False], dtype=bool)",
        ),
        (
            Value::array(&[2], &[u64::MAX, 0]).unwrap(),
            "array([18446744073709551615, 0], dtype=uint64)",
        ),
        (
            Value::array(&[0], &[0i8; 0]).unwrap(),
            "array([], dtype=int8)",
        ),
        (
            Value::array(&[2, 0], &[0u16; 0]).unwrap(),
            "array([[], []], dtype=uint16)",
        ),
        (Value::array(&[], &[7i32]).unwrap(), "array(7, dtype=int32)"),
        (
            Value::Pickled(vec![0x80, 4, 0x2e]),
            "<pickled object, 3 bytes>",
        ),
        (
            Value::object("m:P", vec![(Value::Int(1), Value::None)]),
            "P(1: None)",
        ),
    ];
    let seg = test_segment(64 << 10);
    let mut turn = seg.turn().unwrap();
    for (v, want) in cases {
        assert_eq!(v.to_string(), want);
        let h = turn.put_message(&v).unwrap();
        assert_eq!(turn.get(h).unwrap().to_string(), want);
    }
}
