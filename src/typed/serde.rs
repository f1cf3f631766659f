//! serde interop: any `Serialize` type into a [`Value`] ([`to_value`]), any
//! `Deserialize` type out of a [`ValueRef`] in a segment ([`from_value`],
//! zero-copy for `&str` and `&[u8]` fields) or out of a `&Value`
//! ([`from_owned_value`]).
//!
//! The mapping (on [`to_value`]) is serde_json's with Python's types.
//! Reading back is self-describing: a `Tuple`, `List` or `frozenset` reads
//! as any sequence, tuple or struct, `Bytes`/`ByteArray` as bytes or as a
//! sequence of `u8`, and an error names the path to the value that did not
//! fit (`... (at .particles[3].pos)`). One deserializer serves both
//! [`ValueRef`] and `&Value`, through the small [`Source`] trait.

use std::fmt;

use ::serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, Expected, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};
use ::serde::ser::{self, Serialize};

use crate::{DictRef, Error, ListIter, SetRef, TupleRef, Value, ValueRef};

use crate::value::MAX_DEPTH;

/// Converts any `Serialize` type into a [`Value`], ready for
/// [`crate::Turn::put_message`].
///
/// The mapping is serde_json's, with Python's types:
///
/// | Rust (serde data model) | [`Value`] |
/// |---|---|
/// | `bool` | `Bool` |
/// | integers | `Int` |
/// | `f32`, `f64` | `Float` |
/// | `char`, `str` | `Str` |
/// | bytes (`serialize_bytes`, e.g. serde_bytes) | `Bytes` |
/// | `None`, `()`, unit struct | `None` |
/// | `Some(x)`, newtype struct | `x` |
/// | sequences (`Vec`, `HashSet`, ...) | `List` |
/// | tuples, tuple structs | `Tuple` |
/// | maps (any key type, converted the same way) | `Dict` |
/// | structs | `Dict` with str keys in field order |
/// | unit variant | `Str(name)` |
/// | newtype / tuple / struct variant | `Dict` of one entry `{name: payload}` |
///
/// An integer outside `i64` (a `u64`, `i128` or `u128`) is an
/// [`Error::Convert`], never a silent wrap. Map keys are converted like any
/// value; a key that converts to a list or dict makes a `Value` that
/// [`crate::Turn::put_message`] refuses as unhashable.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use shmheap::{Segment, from_value, to_value, value};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Particle {
///     id: u32,
///     pos: (f64, f64),
///     tags: Vec<String>,
/// }
///
/// # fn main() -> Result<(), shmheap::Error> {
/// let p = Particle { id: 7, pos: (1.5, -2.0), tags: vec!["fast".into()] };
/// let v = to_value(&p)?;
/// assert_eq!(v, value!({"id": 7, "pos": (1.5, -2.0), "tags": ["fast"]}));
///
/// let seg = Segment::options().size(1 << 20).create_in_memory()?;
/// let mut turn = seg.turn()?;
/// let h = turn.put_message(&v)?;
/// let back: Particle = from_value(turn.get(h)?)?;
/// assert_eq!(back, p);
///
/// // Out of range for the segment's int64: refused, not wrapped.
/// assert!(to_value(&u64::MAX).is_err());
/// # Ok(()) }
/// ```
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, Error> {
    v.serialize(Ser).map_err(Located::finish)
}

/// Reads a `Deserialize` type out of a value in a segment.
///
/// `&str` and `&[u8]` fields (with `#[serde(borrow)]` where serde asks for
/// it) borrow from the segment for the turn `'t`; owned types
/// (`T: DeserializeOwned`) copy. A value of the wrong shape gives
/// [`Error::Convert`] naming the path to it; a damaged segment gives the
/// segment's own error.
pub fn from_value<'t, T: de::Deserialize<'t>>(v: ValueRef<'t>) -> Result<T, Error> {
    T::deserialize(De { src: v, depth: 0 }).map_err(Located::finish)
}

/// Reads a `Deserialize` type out of an owned [`Value`], like
/// [`from_value`] (`&str` fields borrow from `v`).
pub fn from_owned_value<'a, T: de::Deserialize<'a>>(v: &'a Value) -> Result<T, Error> {
    T::deserialize(De { src: v, depth: 0 }).map_err(Located::finish)
}

// ---------------------------------------------------------------------------
// Errors with a path

/// An error on its way out of a nested value, with the path to where it
/// happened (innermost step first). [`Error::Convert`] gets the path
/// appended when it leaves; other errors (a corrupt segment, ...) pass as
/// they are.
#[derive(Debug)]
struct Located {
    err: Error,
    path: Vec<String>,
}

impl Located {
    fn new(err: Error) -> Located {
        Located {
            err,
            path: Vec::new(),
        }
    }

    /// Adds the step (`[3]`, `.name`) through which the error came out.
    fn at(mut self, step: impl FnOnce() -> String) -> Located {
        if matches!(self.err, Error::Convert { .. }) {
            self.path.push(step());
        }
        self
    }

    fn finish(self) -> Error {
        match self.err {
            Error::Convert { what } if !self.path.is_empty() => {
                let path: String = self.path.iter().rev().map(String::as_str).collect();
                Error::Convert {
                    what: format!("{what} (at {path})"),
                }
            }
            e => e,
        }
    }
}

impl From<Error> for Located {
    fn from(err: Error) -> Located {
        Located::new(err)
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.err, f)
    }
}

impl std::error::Error for Located {}

impl ser::Error for Located {
    fn custom<T: fmt::Display>(msg: T) -> Located {
        Located::new(<Error as ser::Error>::custom(msg))
    }
}

impl de::Error for Located {
    fn custom<T: fmt::Display>(msg: T) -> Located {
        Located::new(<Error as de::Error>::custom(msg))
    }

    /// serde's message, with Python's name for the unit value.
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Located {
        let unexp = match unexp {
            Unexpected::Unit => Unexpected::Other("None"),
            u => u,
        };
        de::Error::custom(format_args!("invalid type: {unexp}, expected {exp}"))
    }
}

fn convert(what: String) -> Located {
    Located::new(Error::Convert { what })
}

/// The path step for a dict key: `.name` for identifier-like str keys,
/// `["a b"]`, `[5]` otherwise.
fn key_step<'de, S: Source<'de>>(key: S) -> String {
    match key.node() {
        Node::Str(s) => {
            let ident = s
                .chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_alphabetic())
                && s.chars().all(|c| c == '_' || c.is_alphanumeric());
            if ident {
                format!(".{s}")
            } else {
                format!("[{s:?}]")
            }
        }
        Node::Int(i) => format!("[{i}]"),
        Node::Float(f) => format!("[{f:?}]"),
        Node::Bool(b) => format!("[{}]", if b { "True" } else { "False" }),
        Node::None => "[None]".to_owned(),
        Node::Bytes(b) => format!("[{:?}]", String::from_utf8_lossy(b)),
        Node::Seq { kind, .. } => format!("[<{kind} key>]"),
        Node::Dict { .. } => "[<dict key>]".to_owned(),
        Node::Other(kind) => format!("[<{kind} key>]"),
    }
}

// ---------------------------------------------------------------------------
// Serializer: Rust -> Value

fn out_of_range(ty: &str, v: impl fmt::Display) -> Located {
    convert(format!("{ty} {v} is out of range for a shmheap int (i64)"))
}

/// The serializer that builds a [`Value`].
struct Ser;

impl ser::Serializer for Ser {
    type Ok = Value;
    type Error = Located;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = VariantSer<SeqSer>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = VariantSer<MapSer>;

    fn serialize_bool(self, v: bool) -> Result<Value, Located> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Located> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Located> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Located> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Located> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, Located> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| out_of_range("i128", v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Located> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Located> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Located> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Located> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| out_of_range("u64", v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, Located> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| out_of_range("u128", v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Located> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Located> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Located> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Located> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Located> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, Located> {
        Ok(Value::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, Located> {
        v.serialize(Ser)
    }
    fn serialize_unit(self) -> Result<Value, Located> {
        Ok(Value::None)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Located> {
        Ok(Value::None)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, Located> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        v: &T,
    ) -> Result<Value, Located> {
        v.serialize(Ser)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, Located> {
        let key = Value::Str(variant.to_owned());
        let payload = v.serialize(Ser).map_err(|e| e.at(|| key_step(&key)))?;
        Ok(Value::Dict(vec![(key, payload)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, Located> {
        Ok(SeqSer::new(len, false))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, Located> {
        Ok(SeqSer::new(Some(len), true))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, Located> {
        Ok(SeqSer::new(Some(len), true))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSer<SeqSer>, Located> {
        Ok(VariantSer::new(variant, SeqSer::new(Some(len), true)))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer, Located> {
        Ok(MapSer::new(len))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapSer, Located> {
        Ok(MapSer::new(Some(len)))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSer<MapSer>, Located> {
        Ok(VariantSer::new(variant, MapSer::new(Some(len))))
    }
}

/// Capacity to reserve for a length hint (hints come from real collections,
/// but a bound keeps a lying `Serialize` impl from reserving gigabytes).
fn capacity(len: Option<usize>) -> usize {
    len.unwrap_or(0).min(4096)
}

/// A list or tuple being built.
struct SeqSer {
    items: Vec<Value>,
    tuple: bool,
}

impl SeqSer {
    fn new(len: Option<usize>, tuple: bool) -> SeqSer {
        SeqSer {
            items: Vec::with_capacity(capacity(len)),
            tuple,
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Located> {
        let i = self.items.len();
        let v = v.serialize(Ser).map_err(|e| e.at(|| format!("[{i}]")))?;
        self.items.push(v);
        Ok(())
    }

    fn finish(self) -> Value {
        if self.tuple {
            Value::Tuple(self.items)
        } else {
            Value::List(self.items)
        }
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = Located;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Located> {
        self.push(v)
    }
    fn end(self) -> Result<Value, Located> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = Located;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Located> {
        self.push(v)
    }
    fn end(self) -> Result<Value, Located> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = Located;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Located> {
        self.push(v)
    }
    fn end(self) -> Result<Value, Located> {
        Ok(self.finish())
    }
}

/// A dict being built (maps and structs).
struct MapSer {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

impl MapSer {
    fn new(len: Option<usize>) -> MapSer {
        MapSer {
            entries: Vec::with_capacity(capacity(len)),
            key: None,
        }
    }

    fn insert<T: Serialize + ?Sized>(&mut self, key: Value, v: &T) -> Result<(), Located> {
        let v = v.serialize(Ser).map_err(|e| e.at(|| key_step(&key)))?;
        self.entries.push((key, v));
        Ok(())
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = Located;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Located> {
        self.key = Some(
            key.serialize(Ser)
                .map_err(|e| e.at(|| "[<key>]".to_owned()))?,
        );
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Located> {
        let key = self
            .key
            .take()
            .ok_or_else(|| convert("serialize_value called before serialize_key".to_owned()))?;
        self.insert(key, v)
    }
    fn end(self) -> Result<Value, Located> {
        Ok(Value::Dict(self.entries))
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = Located;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Located> {
        self.insert(Value::Str(key.to_owned()), v)
    }
    fn end(self) -> Result<Value, Located> {
        Ok(Value::Dict(self.entries))
    }
}

/// A tuple or struct variant being built: `{variant: payload}`.
struct VariantSer<I> {
    variant: &'static str,
    inner: I,
}

impl<I> VariantSer<I> {
    fn new(variant: &'static str, inner: I) -> VariantSer<I> {
        VariantSer { variant, inner }
    }

    fn wrap(&self, e: Located) -> Located {
        e.at(|| key_step(&Value::Str(self.variant.to_owned())))
    }

    fn finish(self, payload: Value) -> Value {
        Value::Dict(vec![(Value::Str(self.variant.to_owned()), payload)])
    }
}

impl ser::SerializeTupleVariant for VariantSer<SeqSer> {
    type Ok = Value;
    type Error = Located;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Located> {
        self.inner.push(v).map_err(|e| self.wrap(e))
    }
    fn end(mut self) -> Result<Value, Located> {
        let payload = std::mem::replace(&mut self.inner, SeqSer::new(None, true)).finish();
        Ok(self.finish(payload))
    }
}

impl ser::SerializeStructVariant for VariantSer<MapSer> {
    type Ok = Value;
    type Error = Located;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Located> {
        self.inner
            .insert(Value::Str(key.to_owned()), v)
            .map_err(|e| self.wrap(e))
    }
    fn end(mut self) -> Result<Value, Located> {
        let entries = std::mem::take(&mut self.inner.entries);
        Ok(self.finish(Value::Dict(entries)))
    }
}

// ---------------------------------------------------------------------------
// Deserializer: ValueRef / &Value -> Rust, one implementation for both

/// A value to read from: a [`ValueRef`] in a segment or a `&Value`, whose
/// strs and bytes live for `'de`.
trait Source<'de>: Copy {
    /// The items of a sequence.
    type Items: Iterator<Item = Result<Self, Error>>;
    /// The entries of a dict.
    type Entries: Iterator<Item = Result<(Self, Self), Error>>;
    /// What the value is.
    fn node(self) -> Node<'de, Self>;
}

/// One level of a value, as the deserializer sees it.
enum Node<'de, S: Source<'de>> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'de str),
    /// bytes or bytearray.
    Bytes(&'de [u8]),
    /// tuple, list or (frozen)set.
    Seq {
        items: S::Items,
        len: usize,
        kind: &'static str,
    },
    Dict {
        entries: S::Entries,
        len: usize,
    },
    /// Something serde has no form for (a typed snapshot).
    Other(&'static str),
}

impl<'de, S: Source<'de>> Node<'de, S> {
    /// For serde's "invalid type: ..., expected ..." messages, in Python's
    /// names where serde's would mislead.
    fn unexpected(&self) -> Unexpected<'_> {
        match *self {
            Node::None => Unexpected::Other("None"),
            Node::Bool(b) => Unexpected::Bool(b),
            Node::Int(i) => Unexpected::Signed(i),
            Node::Float(f) => Unexpected::Float(f),
            Node::Str(s) => Unexpected::Str(s),
            Node::Bytes(b) => Unexpected::Bytes(b),
            Node::Seq { kind, .. } => Unexpected::Other(kind),
            Node::Dict { .. } => Unexpected::Other("dict"),
            Node::Other(kind) => Unexpected::Other(kind),
        }
    }

    fn invalid_type(&self, exp: &dyn Expected) -> Located {
        de::Error::invalid_type(self.unexpected(), exp)
    }
}

/// Items of a tuple, list or set in a segment.
enum RefItems<'t> {
    List(ListIter<'t>),
    Tuple(TupleRef<'t>, usize),
    Set(SetRef<'t>, usize),
}

impl<'t> Iterator for RefItems<'t> {
    type Item = Result<ValueRef<'t>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            RefItems::List(it) => it.next(),
            RefItems::Tuple(t, i) => (*i < t.len()).then(|| {
                *i += 1;
                t.get(*i - 1)
            }),
            RefItems::Set(s, i) => (*i < s.len()).then(|| {
                *i += 1;
                s.member(*i - 1)
            }),
        }
    }
}

/// Entries of a dict in a segment.
struct RefEntries<'t>(DictRef<'t>, usize);

impl<'t> Iterator for RefEntries<'t> {
    type Item = Result<(ValueRef<'t>, ValueRef<'t>), Error>;
    fn next(&mut self) -> Option<Self::Item> {
        (self.1 < self.0.len()).then(|| {
            self.1 += 1;
            self.0.entry(self.1 - 1)
        })
    }
}

impl<'t> Source<'t> for ValueRef<'t> {
    type Items = RefItems<'t>;
    type Entries = RefEntries<'t>;

    fn node(self) -> Node<'t, Self> {
        match self {
            ValueRef::None => Node::None,
            ValueRef::Bool(b) => Node::Bool(b),
            ValueRef::Int(i) => Node::Int(i),
            ValueRef::Float(f) => Node::Float(f),
            ValueRef::Str(s) => Node::Str(s),
            ValueRef::Bytes(b) | ValueRef::ByteArray(b) => Node::Bytes(b),
            ValueRef::Tuple(t) => Node::Seq {
                items: RefItems::Tuple(t, 0),
                len: t.len(),
                kind: "tuple",
            },
            ValueRef::List(l) => Node::Seq {
                items: RefItems::List(l.iter()),
                len: l.len(),
                kind: "list",
            },
            ValueRef::Set(s) => Node::Seq {
                items: RefItems::Set(s, 0),
                len: s.len(),
                kind: "frozenset",
            },
            ValueRef::Dict(d) => Node::Dict {
                entries: RefEntries(d, 0),
                len: d.len(),
            },
            ValueRef::Typed(_) => Node::Other("typed snapshot"),
            // No serde data model type holds these exactly: refused by name.
            ValueRef::BigInt(_)
            | ValueRef::Complex { .. }
            | ValueRef::Decimal(_)
            | ValueRef::DateTime(_)
            | ValueRef::Date(_)
            | ValueRef::Time(_)
            | ValueRef::TimeDelta(_) => Node::Other(self.type_name()),
            ValueRef::Array(_) => Node::Other("numeric array"),
            ValueRef::Pickled(_) => Node::Other("pickled object"),
            ValueRef::Object(_) => Node::Other("object"),
        }
    }
}

/// Items of an owned tuple, list or set.
struct OwnedItems<'a>(std::slice::Iter<'a, Value>);

impl<'a> Iterator for OwnedItems<'a> {
    type Item = Result<&'a Value, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(Ok)
    }
}

/// Entries of an owned dict.
struct OwnedEntries<'a>(std::slice::Iter<'a, (Value, Value)>);

impl<'a> Iterator for OwnedEntries<'a> {
    type Item = Result<(&'a Value, &'a Value), Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| Ok((k, v)))
    }
}

impl<'a> Source<'a> for &'a Value {
    type Items = OwnedItems<'a>;
    type Entries = OwnedEntries<'a>;

    fn node(self) -> Node<'a, Self> {
        let seq = |v: &'a Vec<Value>, kind| Node::Seq {
            items: OwnedItems(v.iter()),
            len: v.len(),
            kind,
        };
        match self {
            Value::None => Node::None,
            Value::Bool(b) => Node::Bool(*b),
            Value::Int(i) => Node::Int(*i),
            Value::Float(f) => Node::Float(*f),
            Value::Str(s) => Node::Str(s),
            Value::Bytes(b) | Value::ByteArray(b) => Node::Bytes(b),
            Value::Tuple(v) => seq(v, "tuple"),
            Value::List(v) => seq(v, "list"),
            Value::Set(v) => seq(v, "set"),
            Value::FrozenSet(v) => seq(v, "frozenset"),
            Value::Dict(d) => Node::Dict {
                entries: OwnedEntries(d.iter()),
                len: d.len(),
            },
            Value::Typed(_) => Node::Other("typed snapshot"),
            Value::BigInt(_)
            | Value::Complex { .. }
            | Value::Decimal(_)
            | Value::DateTime(_)
            | Value::Date(_)
            | Value::Time(_)
            | Value::TimeDelta(_) => Node::Other(self.type_name()),
            Value::Array(_) => Node::Other("numeric array"),
            Value::Pickled(_) => Node::Other("pickled object"),
            Value::Object { .. } => Node::Other("object"),
        }
    }
}

/// The deserializer over one value at nesting `depth`.
struct De<S> {
    src: S,
    depth: u32,
}

impl<'de, S: Source<'de>> De<S> {
    fn node(&self) -> Result<Node<'de, S>, Located> {
        if self.depth > MAX_DEPTH {
            return Err(Error::NestingTooDeep { limit: MAX_DEPTH }.into());
        }
        Ok(self.src.node())
    }

    fn seq<V: Visitor<'de>>(&self, items: S::Items, len: usize, v: V) -> Result<V::Value, Located> {
        let mut acc = SeqAcc::<S> {
            items,
            depth: self.depth + 1,
            next: 0,
            len,
        };
        let out = v.visit_seq(&mut acc)?;
        if acc.next < len {
            let exp = format!("{} items", acc.next);
            return Err(de::Error::invalid_length(len, &exp.as_str()));
        }
        Ok(out)
    }

    fn map<V: Visitor<'de>>(
        &self,
        entries: S::Entries,
        len: usize,
        v: V,
    ) -> Result<V::Value, Located> {
        let mut acc = MapAcc::<S> {
            entries,
            depth: self.depth + 1,
            next: 0,
            len,
            pending: None,
        };
        let out = v.visit_map(&mut acc)?;
        if acc.next < len {
            let exp = format!("{} entries", acc.next);
            return Err(de::Error::invalid_length(len, &exp.as_str()));
        }
        Ok(out)
    }

    /// A sequence of the bytes' `u8`s (`Vec<u8>`, `[u8; N]` without
    /// serde_bytes).
    fn byte_seq<V: Visitor<'de>>(b: &'de [u8], v: V) -> Result<V::Value, Located> {
        let mut acc = ::serde::de::value::SeqDeserializer::<_, Located>::new(b.iter().copied());
        let out = v.visit_seq(&mut acc)?;
        acc.end()?;
        Ok(out)
    }
}

impl<'de, S: Source<'de>> Deserializer<'de> for De<S> {
    type Error = Located;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.node()? {
            Node::None => v.visit_unit(),
            Node::Bool(b) => v.visit_bool(b),
            // As serde_json: visitors written against it often take only
            // visit_u64 for non-negative numbers.
            Node::Int(i) => match u64::try_from(i) {
                Ok(u) => v.visit_u64(u),
                Err(_) => v.visit_i64(i),
            },
            Node::Float(f) => v.visit_f64(f),
            Node::Str(s) => v.visit_borrowed_str(s),
            Node::Bytes(b) => v.visit_borrowed_bytes(b),
            Node::Seq { items, len, .. } => self.seq(items, len, v),
            Node::Dict { entries, len } => self.map(entries, len, v),
            n @ Node::Other(_) => Err(n.invalid_type(&v)),
        }
    }

    fn deserialize_i128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        self.deserialize_any(v)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        self.deserialize_any(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.node()? {
            Node::None => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.node()? {
            Node::None => v.visit_unit(),
            n => Err(n.invalid_type(&v)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Located> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Located> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.node()? {
            Node::Seq { items, len, .. } => self.seq(items, len, v),
            Node::Bytes(b) => Self::byte_seq(b, v),
            n => Err(n.invalid_type(&v)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, Located> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, Located> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.node()? {
            Node::Dict { entries, len } => self.map(entries, len, v),
            n => Err(n.invalid_type(&v)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Located> {
        match self.node()? {
            Node::Dict { entries, len } => self.map(entries, len, v),
            Node::Seq { items, len, .. } => self.seq(items, len, v),
            n => Err(n.invalid_type(&v)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Located> {
        match self.node()? {
            Node::Str(_) => v.visit_enum(EnumAcc {
                variant: self.src,
                payload: None,
                depth: self.depth,
            }),
            Node::Dict {
                mut entries,
                len: 1,
            } => {
                let Some(entry) = entries.next() else {
                    return Err(convert("dict of one entry has none".to_owned()));
                };
                let (variant, payload) = entry?;
                v.visit_enum(EnumAcc {
                    variant,
                    payload: Some(payload),
                    depth: self.depth + 1,
                })
            }
            Node::Dict { len, .. } => Err(de::Error::invalid_length(
                len,
                &"a dict of one entry {variant: payload} (or a str for a unit variant)",
            )),
            n => Err(n.invalid_type(&v)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        v.visit_unit()
    }

    ::serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes byte_buf identifier
    }
}

/// The items of a sequence, for a visitor.
struct SeqAcc<'de, S: Source<'de>> {
    items: S::Items,
    /// Nesting of the items.
    depth: u32,
    /// Index of the next item.
    next: usize,
    len: usize,
}

impl<'de, S: Source<'de>> SeqAccess<'de> for SeqAcc<'de, S> {
    type Error = Located;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Located> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let i = self.next;
        self.next += 1;
        let de = De {
            src: item?,
            depth: self.depth,
        };
        seed.deserialize(de)
            .map(Some)
            .map_err(|e| e.at(|| format!("[{i}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.saturating_sub(self.next))
    }
}

/// The entries of a dict, for a visitor.
struct MapAcc<'de, S: Source<'de>> {
    entries: S::Entries,
    /// Nesting of the keys and values.
    depth: u32,
    /// Index of the next entry.
    next: usize,
    len: usize,
    /// The entry whose key was read and whose value was not yet.
    pending: Option<(S, S)>,
}

impl<'de, S: Source<'de>> MapAccess<'de> for MapAcc<'de, S> {
    type Error = Located;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Located> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.next += 1;
        let (k, v) = entry?;
        self.pending = Some((k, v));
        let de = De {
            src: k,
            depth: self.depth,
        };
        seed.deserialize(de)
            .map(Some)
            .map_err(|e| e.at(|| format!("{} (the key)", key_step(k))))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Located> {
        let Some((k, v)) = self.pending.take() else {
            return Err(convert("a dict value asked for before its key".to_owned()));
        };
        let de = De {
            src: v,
            depth: self.depth,
        };
        seed.deserialize(de).map_err(|e| e.at(|| key_step(k)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.saturating_sub(self.next))
    }
}

/// An enum: `Str(variant)` or `{variant: payload}`.
struct EnumAcc<S> {
    variant: S,
    payload: Option<S>,
    /// Nesting of the payload.
    depth: u32,
}

impl<'de, S: Source<'de>> EnumAccess<'de> for EnumAcc<S> {
    type Error = Located;
    type Variant = EnumAcc<S>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, EnumAcc<S>), Located> {
        let de = De {
            src: self.variant,
            depth: self.depth,
        };
        Ok((seed.deserialize(de)?, self))
    }
}

impl<'de, S: Source<'de>> EnumAcc<S> {
    /// The payload, or an error if the variant came as a bare str.
    fn payload(&self, kind: &'static str) -> Result<De<S>, Located> {
        match self.payload {
            Some(src) => Ok(De {
                src,
                depth: self.depth,
            }),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &kind)),
        }
    }

    fn at(&self, e: Located) -> Located {
        e.at(|| key_step(self.variant))
    }
}

impl<'de, S: Source<'de>> VariantAccess<'de> for EnumAcc<S> {
    type Error = Located;

    fn unit_variant(self) -> Result<(), Located> {
        match self.payload.map(Source::node) {
            None | Some(Node::None) => Ok(()),
            Some(n) => Err(self.at(n.invalid_type(&"None (a unit variant)"))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Located> {
        seed.deserialize(self.payload("newtype variant")?)
            .map_err(|e| self.at(e))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, Located> {
        self.payload("tuple variant")?
            .deserialize_tuple(len, v)
            .map_err(|e| self.at(e))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Located> {
        self.payload("struct variant")?
            .deserialize_struct("", fields, v)
            .map_err(|e| self.at(e))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use ::serde::{Deserialize, Serialize};
    use proptest::prelude::*;

    use super::{from_owned_value, from_value, to_value};
    use crate::{Error, Segment, Value, value};

    fn segment() -> Segment {
        crate::test_segment(1 << 20)
    }

    /// `t` through `to_value`, the segment, and back with `from_value` (and
    /// with `from_owned_value` from the owned value).
    fn roundtrip<T>(t: &T) -> T
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let v = to_value(t).expect("to_value");
        let owned: T = from_owned_value(&v).expect("from_owned_value");
        assert_eq!(&owned, t);
        let seg = segment();
        let mut turn = seg.turn().expect("turn");
        let h = turn.put_message(&v).expect("put_message");
        from_value(turn.get(h).expect("get")).expect("from_value")
    }

    /// Bytes through `serialize_bytes` / `deserialize_byte_buf` (what
    /// serde_bytes does).
    mod as_bytes {
        use ::serde::de::{Deserializer, Error, Visitor};
        use ::serde::ser::Serializer;

        pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct UnitStruct;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Meters(f64);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Pair(i32, String);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(f64, f64),
        Poly {
            points: Vec<(i32, i32)>,
            closed: bool,
        },
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Particle {
        id: u32,
        pos: [f64; 2],
        vel: (f32, f32),
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct State {
        tick: u64,
        name: String,
        particles: Vec<Particle>,
        note: Option<String>,
        missing: Option<i32>,
        by_name: HashMap<String, u32>,
        by_id: BTreeMap<u16, Vec<f32>>,
        pair: Pair,
        meters: Meters,
        unit: UnitStruct,
        nothing: (),
        shapes: Vec<Shape>,
        maybe_shapes: Vec<Option<Shape>>,
        scalars: (bool, char, i8, u8, i16, u16, i32, u32, i64, i128, u128),
        #[serde(with = "as_bytes")]
        blob: Vec<u8>,
        plain_bytes: Vec<u8>,
        set: HashSet<i64>,
        nested: Vec<Vec<BTreeMap<String, Option<Pair>>>>,
        tuple_keys: BTreeMap<(i32, bool), String>,
    }

    fn state() -> State {
        State {
            tick: 42,
            name: "sim ☃".into(),
            particles: (0..5)
                .map(|i| Particle {
                    id: i,
                    pos: [i as f64 * 0.5, -1.25],
                    vel: (0.1 * i as f32, f32::MAX),
                })
                .collect(),
            note: Some("hello".into()),
            missing: None,
            by_name: [("a".to_owned(), 1), ("b c".to_owned(), 2)].into(),
            by_id: [(7, vec![1.5, 2.5]), (9, vec![])].into(),
            pair: Pair(-3, "three".into()),
            meters: Meters(9.75),
            unit: UnitStruct,
            nothing: (),
            shapes: vec![
                Shape::Empty,
                Shape::Circle(1.0),
                Shape::Rect(2.0, 3.0),
                Shape::Poly {
                    points: vec![(0, 0), (1, 2), (-3, 4)],
                    closed: true,
                },
            ],
            maybe_shapes: vec![None, Some(Shape::Empty), Some(Shape::Circle(-0.5))],
            scalars: (
                true,
                'λ',
                i8::MIN,
                u8::MAX,
                i16::MIN,
                u16::MAX,
                i32::MIN,
                u32::MAX,
                i64::MIN,
                i64::MAX as i128,
                i64::MAX as u128,
            ),
            blob: b"\x00\x01binary\xff".to_vec(),
            plain_bytes: vec![0, 1, 255],
            set: [1, -2, 3].into(),
            nested: vec![
                vec![],
                vec![
                    [
                        ("x".to_owned(), None),
                        ("y".to_owned(), Some(Pair(1, "".into()))),
                    ]
                    .into(),
                ],
            ],
            tuple_keys: [
                ((1, true), "one".to_owned()),
                ((-1, false), "minus".to_owned()),
            ]
            .into(),
        }
    }

    #[test]
    fn derived_types_roundtrip_through_a_segment() {
        let s = state();
        assert_eq!(roundtrip(&s), s);
        for shape in state().shapes {
            assert_eq!(roundtrip(&shape), shape);
        }
        assert_eq!(roundtrip(&UnitStruct), UnitStruct);
        assert_eq!(roundtrip(&Meters(1.0)), Meters(1.0));
        assert_eq!(roundtrip(&()), ());
        assert_eq!(roundtrip(&Some(5u8)), Some(5u8));
        assert_eq!(roundtrip(&None::<String>), None);
        assert_eq!(
            roundtrip(&u64::try_from(i64::MAX).unwrap()),
            i64::MAX as u64
        );
        assert_eq!(roundtrip(&(i64::MIN as i128)), i64::MIN as i128);
        assert_eq!(roundtrip(&"x".to_owned()), "x");
        assert_eq!(roundtrip(&'c'), 'c');
        assert_eq!(roundtrip(&1.5f32), 1.5f32);
        assert_eq!(roundtrip(&Vec::<i32>::new()), Vec::<i32>::new());
    }

    #[test]
    fn shapes_of_the_values() {
        assert_eq!(to_value(&Shape::Empty).unwrap(), value!("Empty"));
        assert_eq!(
            to_value(&Shape::Circle(1.0)).unwrap(),
            value!({"Circle": 1.0})
        );
        assert_eq!(
            to_value(&Shape::Rect(1.0, 2.0)).unwrap(),
            value!({"Rect": (1.0, 2.0)})
        );
        assert_eq!(
            to_value(&Shape::Poly {
                points: vec![(1, 2)],
                closed: false
            })
            .unwrap(),
            value!({"Poly": {"points": [(1, 2)], "closed": false}})
        );
        // Struct fields in declaration order, str keys.
        let p = Particle {
            id: 1,
            pos: [0.0, 1.0],
            vel: (2.0, 3.0),
        };
        assert_eq!(
            to_value(&p).unwrap(),
            value!({"id": 1, "pos": (0.0, 1.0), "vel": (2.0, 3.0)})
        );
        assert_eq!(to_value(&Pair(1, "a".into())).unwrap(), value!((1, "a")));
        assert_eq!(to_value(&Meters(2.0)).unwrap(), value!(2.0));
        assert_eq!(to_value(&UnitStruct).unwrap(), Value::None);
        assert_eq!(to_value(&()).unwrap(), Value::None);
        assert_eq!(to_value(&None::<i32>).unwrap(), Value::None);
        assert_eq!(to_value(&Some(Some(3))).unwrap(), value!(3));
        assert_eq!(to_value(&vec![1, 2]).unwrap(), value!([1, 2]));
        assert_eq!(to_value(&'x').unwrap(), value!("x"));
        assert_eq!(to_value(&[1u8, 2]).unwrap(), value!((1, 2)));
        assert_eq!(
            to_value(&BTreeMap::from([(2u8, "b"), (1, "a")])).unwrap(),
            value!({1: "a", 2: "b"})
        );
        assert_eq!(
            to_value(&BTreeMap::from([((1, 2), 3)])).unwrap(),
            value!({(1, 2): 3})
        );
        struct Raw;
        impl Serialize for Raw {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(b"raw")
            }
        }
        assert_eq!(to_value(&Raw).unwrap(), value!(b"raw"));
    }

    fn convert_msg(e: Error) -> String {
        match e {
            Error::Convert { what } => what,
            e => panic!("expected Error::Convert, got {e:?}"),
        }
    }

    #[test]
    fn out_of_range_integers_are_refused() {
        let e = convert_msg(to_value(&u64::MAX).unwrap_err());
        assert_eq!(
            e,
            "u64 18446744073709551615 is out of range for a shmheap int (i64)"
        );
        assert!(to_value(&(i64::MAX as u64 + 1)).is_err());
        assert!(to_value(&(i64::MIN as i128 - 1)).is_err());
        assert!(to_value(&(i64::MAX as u128 + 1)).is_err());
        assert_eq!(to_value(&(i64::MAX as u64)).unwrap(), Value::Int(i64::MAX));

        #[derive(Serialize)]
        struct Counts {
            counts: Vec<u64>,
        }
        let e = to_value(&Counts {
            counts: vec![1, u64::MAX],
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "value conversion failed: u64 18446744073709551615 is out of range \
             for a shmheap int (i64) (at .counts[1])"
        );
        #[derive(Serialize)]
        enum E {
            V { big: u128 },
        }
        let e = convert_msg(to_value(&vec![E::V { big: u128::MAX }]).unwrap_err());
        assert!(e.ends_with("(at [0].V.big)"), "{e}");

        // Reading back: a segment int outside the target type.
        assert!(
            convert_msg(from_owned_value::<u8>(&value!(300)).unwrap_err())
                .contains("invalid value: integer `300`, expected u8")
        );
        assert!(from_owned_value::<u64>(&value!(-1)).is_err());
        assert_eq!(from_owned_value::<i128>(&value!(-1)).unwrap(), -1);
    }

    #[test]
    fn type_mismatches_name_the_path() {
        let seg = segment();
        let mut turn = seg.turn().unwrap();
        let h = turn
            .put_message(&value!({"id": 1, "pos": (0.0, "north"), "vel": (0.0, 0.0)}))
            .unwrap();
        let e = convert_msg(from_value::<Particle>(turn.get(h).unwrap()).unwrap_err());
        assert_eq!(
            e,
            "invalid type: string \"north\", expected f64 (at .pos[1])"
        );

        let cases: Vec<(Value, &str)> = vec![
            (
                value!("x"),
                "invalid type: string \"x\", expected struct Particle",
            ),
            (value!({"id": 1}), "missing field `pos`"),
            (
                value!({"id": None, "pos": [0, 0], "vel": (0, 0)}),
                "invalid type: None, expected u32 (at .id)",
            ),
            (
                value!({"id": 1, "pos": [0, 0, 0], "vel": (0, 0)}),
                "invalid length 3, expected 2 items (at .pos)",
            ),
        ];
        for (v, want) in cases {
            let h = turn.put_message(&v).unwrap();
            let got = convert_msg(from_value::<Particle>(turn.get(h).unwrap()).unwrap_err());
            assert_eq!(got, want);
            let got = convert_msg(from_owned_value::<Particle>(&v).unwrap_err());
            assert_eq!(got, want);
        }

        // Enums.
        let enum_err = |v: Value| convert_msg(from_owned_value::<Vec<Shape>>(&v).unwrap_err());
        assert_eq!(
            enum_err(value!(["Hexagon"])),
            "unknown variant `Hexagon`, expected one of `Empty`, `Circle`, `Rect`, `Poly` (at [0])"
        );
        assert_eq!(
            enum_err(value!([{"Circle": 1.0, "Empty": None}])),
            "invalid length 2, expected a dict of one entry {variant: payload} \
             (or a str for a unit variant) (at [0])"
        );
        assert_eq!(
            enum_err(value!([5])),
            "invalid type: integer `5`, expected enum Shape (at [0])"
        );
        assert_eq!(
            enum_err(value!(["Circle"])),
            "invalid type: unit variant, expected newtype variant (at [0])"
        );
        assert_eq!(
            enum_err(value!([{"Rect": (1.0, "x")}])),
            "invalid type: string \"x\", expected f64 (at [0].Rect[1])"
        );
        assert_eq!(
            enum_err(value!([{"Empty": 1}])),
            "invalid type: integer `1`, expected None (a unit variant) (at [0].Empty)"
        );
        // Unit variant as a one-entry dict with None is accepted.
        assert_eq!(
            from_owned_value::<Shape>(&value!({"Empty": None})).unwrap(),
            Shape::Empty
        );

        // A tuple longer than the target is refused, not truncated.
        assert_eq!(
            convert_msg(from_owned_value::<(i32, i32)>(&value!((1, 2, 3))).unwrap_err()),
            "invalid length 3, expected 2 items"
        );
        // A map key of the wrong type.
        assert_eq!(
            convert_msg(from_owned_value::<HashMap<String, i32>>(&value!({5: 1})).unwrap_err()),
            "invalid type: integer `5`, expected a string (at [5] (the key))"
        );
        // Strict scalars: no int from bool, no str from int.
        assert!(from_owned_value::<i64>(&value!(true)).is_err());
        assert!(from_owned_value::<String>(&value!(1)).is_err());
        assert!(from_owned_value::<bool>(&value!(1)).is_err());
    }

    #[test]
    fn strings_and_bytes_borrow_from_the_segment() {
        #[derive(Deserialize)]
        struct Borrowed<'a> {
            name: &'a str,
            data: &'a [u8],
        }
        let seg = segment();
        let mut turn = seg.turn().unwrap();
        let h = turn
            .put_message(&value!({"name": "in place", "data": b"raw bytes"}))
            .unwrap();
        let r = turn.get(h).unwrap();
        let b: Borrowed<'_> = from_value(r).unwrap();
        assert_eq!(b.name, "in place");
        assert_eq!(b.data, b"raw bytes");
        let d = r.as_dict().unwrap();
        let name = d.get(&value!("name")).unwrap().unwrap().as_str().unwrap();
        let data = d.get(&value!("data")).unwrap().unwrap().as_bytes().unwrap();
        assert!(
            std::ptr::eq(b.name, name),
            "the &str points into the segment"
        );
        assert!(
            std::ptr::eq(b.data, data),
            "the &[u8] points into the segment"
        );

        // And from an owned Value, borrowing from it.
        let v = value!({"name": "owned", "data": b"x"});
        let b: Borrowed<'_> = from_owned_value(&v).unwrap();
        assert_eq!((b.name, b.data), ("owned", &b"x"[..]));
    }

    #[test]
    fn self_describing_reads() {
        // A serde_json::Value through deserialize_any, both ways.
        let json = serde_json::json!({
            "a": [1, -2, 2.5, null, true, "s"],
            "b": {"c": []},
        });
        let v = to_value(&json).unwrap();
        assert_eq!(
            v,
            value!({"a": [1, -2, 2.5, None, true, "s"], "b": {"c": []}})
        );
        let seg = segment();
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&v).unwrap();
        let back: serde_json::Value = from_value(turn.get(h).unwrap()).unwrap();
        assert_eq!(back, json);

        // Bytes and bytearray read as Vec<u8> / [u8; N]; tuples as Vecs;
        // lists as tuples and structs; frozensets as sets.
        assert_eq!(from_owned_value::<Vec<u8>>(&value!(b"ab")).unwrap(), b"ab");
        assert_eq!(
            from_owned_value::<[u8; 2]>(&Value::bytearray(*b"ab")).unwrap(),
            *b"ab"
        );
        assert_eq!(
            from_owned_value::<Vec<i32>>(&value!((1, 2))).unwrap(),
            [1, 2]
        );
        assert_eq!(
            from_owned_value::<Pair>(&value!([7, "seven"])).unwrap(),
            Pair(7, "seven".into())
        );
        assert_eq!(
            from_owned_value::<Particle>(&value!([3, [0.0, 1.0], [2.0, 3]])).unwrap(),
            Particle {
                id: 3,
                pos: [0.0, 1.0],
                vel: (2.0, 3.0)
            }
        );
        let set = Value::Set(vec![value!(1), value!(2)]);
        let h = turn.put_message(&value!([set])).unwrap();
        let sets: Vec<HashSet<i64>> = from_value(turn.get(h).unwrap()).unwrap();
        assert_eq!(sets, [HashSet::from([1, 2])]);
        // An int reads as a float (as serde's float visitors allow).
        assert_eq!(from_owned_value::<f64>(&value!(2)).unwrap(), 2.0);
    }

    #[test]
    fn tagged_untagged_and_flattened() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(tag = "type")]
        enum Msg {
            Ping { seq: u32 },
            Text { body: String },
        }
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(untagged)]
        enum Either {
            Num(i64),
            Words(Vec<String>),
        }
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Outer {
            id: u8,
            #[serde(flatten)]
            extra: BTreeMap<String, i32>,
            msgs: Vec<Msg>,
            either: Vec<Either>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
        }
        let o = Outer {
            id: 1,
            extra: [("x".to_owned(), 5)].into(),
            msgs: vec![Msg::Ping { seq: 3 }, Msg::Text { body: "hi".into() }],
            either: vec![Either::Num(4), Either::Words(vec!["a".into()])],
            skipped: None,
        };
        assert_eq!(
            to_value(&o).unwrap(),
            value!({
                "id": 1,
                "x": 5,
                "msgs": [{"type": "Ping", "seq": 3}, {"type": "Text", "body": "hi"}],
                "either": [4, ["a"]],
            })
        );
        // The flattened map would also collect msgs/either; compare parts.
        let back = roundtrip_parts(&o);
        assert_eq!(back.msgs, o.msgs);
        assert_eq!(back.either, o.either);

        fn roundtrip_parts(o: &Outer) -> OuterBack {
            let v = to_value(o).unwrap();
            let seg = segment();
            let mut turn = seg.turn().unwrap();
            let h = turn.put_message(&v).unwrap();
            from_value(turn.get(h).unwrap()).unwrap()
        }
        #[derive(Deserialize)]
        struct OuterBack {
            msgs: Vec<Msg>,
            either: Vec<Either>,
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut v = Value::None;
        for _ in 0..1000 {
            v = Value::List(vec![v]);
        }
        let e = from_owned_value::<serde_json::Value>(&v).unwrap_err();
        assert!(matches!(e, Error::NestingTooDeep { .. }), "{e:?}");
        // Drop iteratively: a 1000-deep Vec drop is fine, but be explicit.
        drop(v);
    }

    #[test]
    fn a_typed_snapshot_has_no_serde_form() {
        let v = Value::Typed(crate::TypedValue {
            fingerprint: 1,
            root: 0,
            bytes: Default::default(),
        });
        let e = convert_msg(from_owned_value::<serde_json::Value>(&v).unwrap_err());
        assert!(e.starts_with("invalid type: typed snapshot"), "{e}");
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Small {
        A,
        B(i64),
        C { x: Option<String>, v: Vec<u16> },
        D(u8, bool),
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Rec {
        id: u32,
        f: f64,
        s: String,
        items: Vec<Small>,
        map: BTreeMap<String, i32>,
        t: (i8, Option<char>),
    }

    fn small() -> impl Strategy<Value = Small> {
        prop_oneof![
            Just(Small::A),
            any::<i64>().prop_map(Small::B),
            (
                proptest::option::of(".{0,8}"),
                proptest::collection::vec(any::<u16>(), 0..5)
            )
                .prop_map(|(x, v)| Small::C { x, v }),
            (any::<u8>(), any::<bool>()).prop_map(|(a, b)| Small::D(a, b)),
        ]
    }

    fn rec() -> impl Strategy<Value = Rec> {
        (
            any::<u32>(),
            -1e300f64..1e300,
            ".{0,16}",
            proptest::collection::vec(small(), 0..6),
            proptest::collection::btree_map(".{0,6}", any::<i32>(), 0..5),
            (any::<i8>(), proptest::option::of(any::<char>())),
        )
            .prop_map(|(id, f, s, items, map, t)| Rec {
                id,
                f,
                s,
                items,
                map,
                t,
            })
    }

    proptest! {
        // A few cases under Miri, where each costs seconds.
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 6 } else { 128 }))]
        #[test]
        fn proptest_roundtrip(r in rec()) {
            prop_assert_eq!(roundtrip(&r), r);
        }
    }
}
