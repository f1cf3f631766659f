//! The values the operation fuzzers write: small ints, strings of a chosen
//! length (long ones take real blocks), lists of ints, pickled objects
//! (opaque bytes of a chosen length) and objects (a class path and an
//! attribute dict holding an int and a list of ints).

use arbitrary::Arbitrary;
use shmheap::Value;

#[derive(Arbitrary, Debug, Clone)]
pub enum Item {
    Int(i16),
    Str(u8),
    Ints(Vec<i8>),
    Pickled(u8),
    Object(i8, Vec<i8>),
}

impl Item {
    pub fn value(&self) -> Value {
        match self {
            Item::Int(i) => Value::Int(*i as i64),
            Item::Str(n) => Value::Str("s".repeat(*n as usize)),
            Item::Ints(v) => Value::List(v.iter().map(|&i| Value::Int(i as i64)).collect()),
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
