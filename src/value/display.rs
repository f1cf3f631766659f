//! `Display` for [`Value`] and [`ValueRef`]: Python literals, as Python's
//! `repr` prints them.
//!
//! Containers print as `[..]`, `(..)`, `{k: v}`, `{..}` / `set()`,
//! `frozenset({..})`; bytes as `b'..'` and bytearrays as `bytearray(b'..')`
//! with Python's escapes; strings with Python's choice of quote and its
//! escapes; floats as `repr(float)` (the shortest string that reads back:
//! `0.1`, `1e+16`, `-0.0`, `inf`, `nan`); complex numbers, decimals and the
//! datetime family as their constructors (`(1+2j)`, `Decimal('3.14')`,
//! `datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)`).
//! Kinds with no Python literal print as close as it gets: a numeric array
//! as `array([[1, 2], [3, 4]], dtype=int64)` (nested lists in C order, like
//! numpy's, with Python's number formats), an object as its dataclass-style
//! repr `Point(x=1, y=2)` (the class's qualified name), a pickle as
//! `<pickled object, N bytes>`, a typed snapshot as
//! `<typed snapshot 0x.., N bytes>`.
//!
//! [`Value::display_limited`] and [`ValueRef::display_limited`] cut huge
//! values short: containers nested deeper than a depth print as `[...]`
//! (`(...)`, `{...}`), and a container (or an array dimension) with more
//! items than a limit prints the first ones and then `...`. Plain `{}`
//! prints every item, nested to at most 128 levels (the nesting every
//! conversion of the crate accepts), so printing never overflows the stack.
//! A view that meets damaged bytes prints `<error: ..>` in their place.
//!
//! Printability of non-ASCII characters in strings is Python's rule
//! (escape the categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs except the
//! space), on the Unicode tables of the `unicode-properties` crate: the two
//! agree up to the Unicode version each was built with.

use std::fmt::{self, Display, Formatter, Write};

use super::{AnyArrayRef, DictRef, SetRef, Value, ValueRef};
use crate::Error;
use crate::format::array::Dtype;
use crate::scalar::{Date, DateTime, Time, TimeDelta, UtcOffset};

/// The nesting printed by plain `{}` (as `eq::MAX_DEPTH`).
const DEFAULT_DEPTH: usize = super::eq::MAX_DEPTH as usize;

/// A value printed as a Python literal with limits: from
/// [`Value::display_limited`] or [`ValueRef::display_limited`].
#[derive(Clone, Copy, Debug)]
pub struct Repr<'a> {
    node: Node<'a>,
    depth: usize,
    items: usize,
}

#[derive(Clone, Copy, Debug)]
enum Node<'a> {
    Owned(&'a Value),
    Ref(ValueRef<'a>),
}

impl Value {
    /// This value as a Python literal, with containers nested deeper than
    /// `depth` levels printed as `[...]` (a `depth` of 0 prints even the
    /// top container so) and at most `items` items of each container or
    /// array dimension (then `...`). See the module docs for the format.
    ///
    /// ```
    /// use shmheap::value;
    /// let v = value!([1, [2, [3, [4]]], "x", 4.0]);
    /// assert_eq!(v.to_string(), "[1, [2, [3, [4]]], 'x', 4.0]");
    /// assert_eq!(v.display_limited(2, 2).to_string(), "[1, [2, [...]], ...]");
    /// ```
    pub fn display_limited(&self, depth: usize, items: usize) -> Repr<'_> {
        Repr {
            node: Node::Owned(self),
            depth,
            items,
        }
    }
}

impl<'t> ValueRef<'t> {
    /// This view as a Python literal with limits, as
    /// [`Value::display_limited`].
    pub fn display_limited(&self, depth: usize, items: usize) -> Repr<'t> {
        Repr {
            node: Node::Ref(*self),
            depth,
            items,
        }
    }
}

impl Display for Value {
    /// The value as Python's `repr` prints it (see the module docs).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(&self.display_limited(DEFAULT_DEPTH, usize::MAX), f)
    }
}

impl Display for ValueRef<'_> {
    /// The value as Python's `repr` prints it (see the module docs).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(&self.display_limited(DEFAULT_DEPTH, usize::MAX), f)
    }
}

impl Display for Repr<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut p = Printer {
            f,
            items: self.items,
        };
        match self.node {
            Node::Owned(v) => p.owned(v, self.depth),
            Node::Ref(v) => p.view(v, self.depth),
        }
    }
}

struct Printer<'a, 'b> {
    f: &'a mut Formatter<'b>,
    items: usize,
}

/// How a container opens and closes, and what it prints past the depth.
struct Brackets {
    open: &'static str,
    close: &'static str,
    /// Printed for an empty one (`set()`, `frozenset()`).
    empty: &'static str,
    /// A one-item tuple's trailing comma.
    tuple: bool,
}

const fn brackets(
    open: &'static str,
    close: &'static str,
    empty: &'static str,
    tuple: bool,
) -> Brackets {
    Brackets {
        open,
        close,
        empty,
        tuple,
    }
}

const LIST: Brackets = brackets("[", "]", "[]", false);
const TUPLE: Brackets = brackets("(", ")", "()", true);
const DICT: Brackets = brackets("{", "}", "{}", false);
const SET: Brackets = brackets("{", "}", "set()", false);
const FROZENSET: Brackets = brackets("frozenset({", "})", "frozenset()", false);
/// An object's attributes, after its class name.
const ATTRS: Brackets = brackets("(", ")", "()", false);

impl Printer<'_, '_> {
    fn owned(&mut self, v: &Value, depth: usize) -> fmt::Result {
        let each = |p: &mut Self, x: &Value| p.owned(x, depth - 1);
        let pair = |p: &mut Self, (k, x): &(Value, Value)| p.pair(k, x, depth - 1, Self::owned);
        match v {
            Value::None => self.f.write_str("None"),
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => write!(self.f, "{i}"),
            Value::BigInt(i) => write!(self.f, "{i}"),
            Value::Float(x) => self.f.write_str(&float_repr(*x, true)),
            Value::Complex { re, im } => complex(self.f, *re, *im),
            Value::Str(s) => str_repr(self.f, s),
            Value::Bytes(b) => bytes_repr(self.f, b),
            Value::ByteArray(b) => self.bytearray(b),
            Value::Decimal(d) => write!(self.f, "Decimal('{d}')"),
            Value::DateTime(v) => datetime(self.f, v),
            Value::Date(v) => date(self.f, v),
            Value::Time(v) => time(self.f, v),
            Value::TimeDelta(v) => timedelta(self.f, v),
            Value::Pickled(b) => pickled(self.f, b.len()),
            Value::Typed(t) => typed(self.f, t.fingerprint(), t.as_bytes().len()),
            Value::Array(a) => self.array(a.dtype(), a.shape(), Ok(a.as_bytes()), depth),
            Value::List(l) => self.seq(&LIST, depth, l.len(), l.iter().map(Ok), each),
            Value::Tuple(l) => self.seq(&TUPLE, depth, l.len(), l.iter().map(Ok), each),
            Value::Set(l) => self.seq(&SET, depth, l.len(), l.iter().map(Ok), each),
            Value::FrozenSet(l) => self.seq(&FROZENSET, depth, l.len(), l.iter().map(Ok), each),
            Value::Dict(d) => self.seq(&DICT, depth, d.len(), d.iter().map(Ok), pair),
            Value::Object { class, attrs } => self.object(
                class,
                depth,
                attrs.len(),
                attrs.iter().map(|(k, x)| Ok((k, x))),
                |p: &mut Self, (k, x): (&Value, &Value)| p.attr(k, x, depth - 1, Self::owned),
            ),
        }
    }

    fn view(&mut self, v: ValueRef<'_>, depth: usize) -> fmt::Result {
        let each = |p: &mut Self, x: ValueRef<'_>| p.view(x, depth - 1);
        let pair = |p: &mut Self, (k, x): (ValueRef<'_>, ValueRef<'_>)| {
            p.pair(&k, &x, depth - 1, |p, v, d| p.view(*v, d))
        };
        match v {
            ValueRef::None => self.f.write_str("None"),
            ValueRef::Bool(b) => self.bool(b),
            ValueRef::Int(i) => write!(self.f, "{i}"),
            ValueRef::BigInt(i) => write!(self.f, "{}", i.to_bigint()),
            ValueRef::Float(x) => self.f.write_str(&float_repr(x, true)),
            ValueRef::Complex { re, im } => complex(self.f, re, im),
            ValueRef::Str(s) => str_repr(self.f, s),
            ValueRef::Bytes(b) => bytes_repr(self.f, b),
            ValueRef::ByteArray(b) => self.bytearray(b),
            ValueRef::Decimal(d) => write!(self.f, "Decimal('{}')", d.to_decimal()),
            ValueRef::DateTime(v) => datetime(self.f, &v),
            ValueRef::Date(v) => date(self.f, &v),
            ValueRef::Time(v) => time(self.f, &v),
            ValueRef::TimeDelta(v) => timedelta(self.f, &v),
            ValueRef::Pickled(b) => pickled(self.f, b.len()),
            ValueRef::Typed(t) => {
                typed(self.f, t.fingerprint(), t.as_bytes().map_or(0, <[u8]>::len))
            }
            ValueRef::Array(a) => self.array_ref(a, depth),
            ValueRef::List(l) => self.seq(&LIST, depth, l.len(), l.iter(), each),
            ValueRef::Tuple(t) => self.seq(&TUPLE, depth, t.len(), t.iter(), each),
            ValueRef::Set(s) => self.set(s, depth),
            ValueRef::Dict(d) => self.seq(&DICT, depth, d.len(), d.iter(), pair),
            ValueRef::Object(o) => {
                let attrs: DictRef<'_> = o.attrs();
                let each = |p: &mut Self, (k, x): (ValueRef<'_>, ValueRef<'_>)| {
                    p.attr(&k, &x, depth - 1, |p, v, d| p.view(*v, d))
                };
                self.object(o.class(), depth, attrs.len(), attrs.iter(), each)
            }
        }
    }

    fn set(&mut self, s: SetRef<'_>, depth: usize) -> fmt::Result {
        let b = if s.is_frozen() { &FROZENSET } else { &SET };
        self.seq(b, depth, s.len(), s.iter(), |p, x| p.view(x, depth - 1))
    }

    fn array_ref(&mut self, a: AnyArrayRef<'_>, depth: usize) -> fmt::Result {
        self.array(a.dtype(), a.shape(), a.as_bytes(), depth)
    }

    fn bool(&mut self, b: bool) -> fmt::Result {
        self.f.write_str(if b { "True" } else { "False" })
    }

    fn bytearray(&mut self, b: &[u8]) -> fmt::Result {
        self.f.write_str("bytearray(")?;
        bytes_repr(self.f, b)?;
        self.f.write_str(")")
    }

    /// The items of a container, at most `self.items` of them, or `...` in
    /// brackets past the depth.
    fn seq<T>(
        &mut self,
        b: &Brackets,
        depth: usize,
        len: usize,
        items: impl Iterator<Item = Result<T, Error>>,
        mut each: impl FnMut(&mut Self, T) -> fmt::Result,
    ) -> fmt::Result {
        if len == 0 {
            return self.f.write_str(b.empty);
        }
        self.f.write_str(b.open)?;
        if depth == 0 {
            self.f.write_str("...")?;
            return self.f.write_str(b.close);
        }
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.f.write_str(", ")?;
            }
            if i >= self.items {
                self.f.write_str("...")?;
                break;
            }
            match item {
                Ok(x) => each(self, x)?,
                Err(e) => error(self.f, &e)?,
            }
        }
        if b.tuple && len == 1 && self.items > 0 {
            self.f.write_str(",")?;
        }
        self.f.write_str(b.close)
    }

    fn pair<V: ?Sized>(
        &mut self,
        k: &V,
        v: &V,
        depth: usize,
        item: impl Fn(&mut Self, &V, usize) -> fmt::Result,
    ) -> fmt::Result {
        item(self, k, depth)?;
        self.f.write_str(": ")?;
        item(self, v, depth)
    }

    /// An object as its dataclass repr: `Name(attr=value, ...)`.
    fn object<T>(
        &mut self,
        class: &str,
        depth: usize,
        len: usize,
        attrs: impl Iterator<Item = Result<T, Error>>,
        each: impl FnMut(&mut Self, T) -> fmt::Result,
    ) -> fmt::Result {
        // "module:qualname" → "qualname", as a dataclass's repr names it.
        let name = class.rsplit_once(':').map_or(class, |(_, q)| q);
        self.f.write_str(name)?;
        self.seq(&ATTRS, depth, len, attrs, each)
    }

    /// One attribute: `name=value` for a str name, `name: value` otherwise.
    fn attr<V: ?Sized + AsStr>(
        &mut self,
        k: &V,
        v: &V,
        depth: usize,
        item: impl Fn(&mut Self, &V, usize) -> fmt::Result,
    ) -> fmt::Result {
        match k.as_name() {
            Some(name) => {
                write!(self.f, "{name}=")?;
                item(self, v, depth)
            }
            None => self.pair(k, v, depth, item),
        }
    }

    /// A numeric array: `array(<nested lists>, dtype=<name>)`.
    fn array(
        &mut self,
        dtype: Dtype,
        shape: &[usize],
        bytes: Result<&[u8], Error>,
        depth: usize,
    ) -> fmt::Result {
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => return error(self.f, &e),
        };
        self.f.write_str("array(")?;
        self.dims(dtype, shape, bytes, depth)?;
        write!(self.f, ", dtype={})", dtype.name())
    }

    /// The elements of `bytes` (C order) for `shape`, as nested lists.
    fn dims(&mut self, dtype: Dtype, shape: &[usize], bytes: &[u8], depth: usize) -> fmt::Result {
        let Some((&n, rest)) = shape.split_first() else {
            return element(self.f, dtype, bytes);
        };
        let stride = rest.iter().product::<usize>() * dtype.itemsize();
        let rows = (0..n).map(|i| {
            bytes
                .get(i * stride..(i + 1) * stride)
                .ok_or_else(|| Error::corrupt(0, "array shorter than its shape"))
        });
        self.seq(&LIST, depth, n, rows, |p, row| {
            p.dims(dtype, rest, row, depth.saturating_sub(1))
        })
    }
}

/// An attribute name: the str of a key, if it is one.
trait AsStr {
    fn as_name(&self) -> Option<&str>;
}

impl AsStr for Value {
    fn as_name(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl AsStr for ValueRef<'_> {
    fn as_name(&self) -> Option<&str> {
        match self {
            ValueRef::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn error(f: &mut Formatter<'_>, e: &Error) -> fmt::Result {
    write!(f, "<error: {e}>")
}

fn pickled(f: &mut Formatter<'_>, n: usize) -> fmt::Result {
    write!(f, "<pickled object, {n} bytes>")
}

fn typed(f: &mut Formatter<'_>, fingerprint: u64, n: usize) -> fmt::Result {
    write!(f, "<typed snapshot {fingerprint:#018x}, {n} bytes>")
}

/// One array element from its little-endian bytes.
fn element(f: &mut Formatter<'_>, dtype: Dtype, b: &[u8]) -> fmt::Result {
    macro_rules! int {
        ($t:ty) => {
            match b.try_into() {
                Ok(a) => write!(f, "{}", <$t>::from_le_bytes(a)),
                Err(_) => f.write_str("?"),
            }
        };
    }
    match dtype {
        Dtype::Bool => f.write_str(if b.first() == Some(&1) {
            "True"
        } else {
            "False"
        }),
        Dtype::I8 => int!(i8),
        Dtype::I16 => int!(i16),
        Dtype::I32 => int!(i32),
        Dtype::I64 => int!(i64),
        Dtype::U8 => int!(u8),
        Dtype::U16 => int!(u16),
        Dtype::U32 => int!(u32),
        Dtype::U64 => int!(u64),
        Dtype::F32 => match b.try_into() {
            Ok(a) => f.write_str(&shortest_repr(
                &format!("{:e}", f32::from_le_bytes(a)),
                true,
            )),
            Err(_) => f.write_str("?"),
        },
        Dtype::F64 => match b.try_into() {
            Ok(a) => f.write_str(&float_repr(f64::from_le_bytes(a), true)),
            Err(_) => f.write_str("?"),
        },
    }
}

/// `repr(x)` of a Python float (`dot0`: `1.0`, not `1`, as a float prints;
/// a complex number's parts print without it).
fn float_repr(x: f64, dot0: bool) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.into();
    }
    // Rust's `{:e}` gives the shortest digits that read back, as Python's.
    shortest_repr(&format!("{x:e}"), dot0)
}

/// Python's `repr` layout of a finite number given in Rust's `{:e}` form
/// (`-1.25e-7`): positional when the exponent is -4 to 15, else
/// `d.ddde+XX`.
fn shortest_repr(sci: &str, dot0: bool) -> String {
    if sci.contains("inf") || sci.contains("NaN") {
        return if sci.contains("NaN") {
            "nan".into()
        } else if sci.starts_with('-') {
            "-inf".into()
        } else {
            "inf".into()
        };
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::from(sign);
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        return out;
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        if dot0 {
            out.push_str(".0");
        }
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

/// `repr(complex)`: `1j`, `(1+2j)`, `(-0-1j)`, `(nan+infj)`.
fn complex(f: &mut Formatter<'_>, re: f64, im: f64) -> fmt::Result {
    let im_s = float_repr(im, false);
    if re == 0.0 && re.is_sign_positive() {
        return write!(f, "{im_s}j");
    }
    let sign = if im_s.starts_with('-') { "" } else { "+" };
    write!(f, "({}{sign}{im_s}j)", float_repr(re, false))
}

/// Python's quote for a str or bytes: `'` unless it holds `'` and no `"`.
fn quote(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
}

/// `repr(str)`.
fn str_repr(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    let q = quote(s.contains('\''), s.contains('"'));
    f.write_char(q)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == q => write!(f, "\\{c}")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_ascii() || printable(c) => f.write_char(c)?,
            c if (c as u32) < 0x100 => write!(f, "\\x{:02x}", c as u32)?,
            c if (c as u32) < 0x10000 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "\\U{:08x}", c as u32)?,
        }
    }
    f.write_char(q)
}

/// Whether Python prints a non-ASCII `c` as itself in a str's repr
/// (`str.isprintable`): every character but those of the categories Cc,
/// Cf, Cs, Co, Cn, Zl, Zp and Zs (the ASCII space is handled before).
fn printable(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    !matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::SpaceSeparator
    )
}

/// `repr(bytes)`.
fn bytes_repr(f: &mut Formatter<'_>, b: &[u8]) -> fmt::Result {
    let q = quote(b.contains(&b'\''), b.contains(&b'"'));
    f.write_char('b')?;
    f.write_char(q)?;
    for &c in b {
        match c {
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            c if c as char == q => write!(f, "\\{q}")?,
            0x20..0x7f => f.write_char(c as char)?,
            c => write!(f, "\\x{c:02x}")?,
        }
    }
    f.write_char(q)
}

/// Python's datetime reprs drop trailing zero fields (but keep hour and
/// minute): `(h, m)`, `(h, m, s)`, `(h, m, s, us)`.
fn hms(f: &mut Formatter<'_>, t: &Time) -> fmt::Result {
    write!(f, "{}, {}", t.hour(), t.minute())?;
    if t.second() != 0 || t.microsecond() != 0 {
        write!(f, ", {}", t.second())?;
    }
    if t.microsecond() != 0 {
        write!(f, ", {}", t.microsecond())?;
    }
    Ok(())
}

/// `, fold=1` and `, tzinfo=..` as Python appends them: a datetime puts
/// the fold first, a time the tzinfo (CPython's `datetime_repr` and
/// `time_repr` differ so).
fn fold_tz(f: &mut Formatter<'_>, t: &Time, fold_first: bool) -> fmt::Result {
    let fold = |f: &mut Formatter<'_>| {
        if t.fold() {
            f.write_str(", fold=1")?;
        }
        Ok(())
    };
    if fold_first {
        fold(f)?;
    }
    if let Some(o) = t.offset() {
        f.write_str(", tzinfo=")?;
        timezone(f, o)?;
    }
    if !fold_first {
        fold(f)?;
    }
    Ok(())
}

fn timezone(f: &mut Formatter<'_>, o: UtcOffset) -> fmt::Result {
    if o.as_micros() == 0 {
        return f.write_str("datetime.timezone.utc");
    }
    f.write_str("datetime.timezone(")?;
    match TimeDelta::from_micros(o.as_micros() as i128) {
        Ok(d) => timedelta(f, &d)?,
        Err(e) => error(f, &e)?,
    }
    f.write_str(")")
}

fn datetime(f: &mut Formatter<'_>, v: &DateTime) -> fmt::Result {
    let d = v.date();
    write!(
        f,
        "datetime.datetime({}, {}, {}, ",
        d.year(),
        d.month(),
        d.day()
    )?;
    hms(f, &v.time())?;
    fold_tz(f, &v.time(), true)?;
    f.write_str(")")
}

fn date(f: &mut Formatter<'_>, d: &Date) -> fmt::Result {
    write!(f, "datetime.date({}, {}, {})", d.year(), d.month(), d.day())
}

fn time(f: &mut Formatter<'_>, t: &Time) -> fmt::Result {
    f.write_str("datetime.time(")?;
    hms(f, t)?;
    fold_tz(f, t, false)?;
    f.write_str(")")
}

fn timedelta(f: &mut Formatter<'_>, d: &TimeDelta) -> fmt::Result {
    f.write_str("datetime.timedelta(")?;
    let mut sep = "";
    for (name, n) in [
        ("days", d.days() as i64),
        ("seconds", d.seconds() as i64),
        ("microseconds", d.microseconds() as i64),
    ] {
        if n != 0 {
            write!(f, "{sep}{name}={n}")?;
            sep = ", ";
        }
    }
    if sep.is_empty() {
        f.write_str("0")?;
    }
    f.write_str(")")
}
