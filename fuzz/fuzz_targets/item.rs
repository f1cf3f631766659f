//! The values the operation fuzzers write: small ints, strings of a chosen
//! length (long ones take real blocks), and lists of ints.

use arbitrary::Arbitrary;
use shmheap::Value;

#[derive(Arbitrary, Debug, Clone)]
pub enum Item {
    Int(i16),
    Str(u8),
    Ints(Vec<i8>),
}

impl Item {
    pub fn value(&self) -> Value {
        match self {
            Item::Int(i) => Value::Int(*i as i64),
            Item::Str(n) => Value::Str("s".repeat(*n as usize)),
            Item::Ints(v) => Value::List(v.iter().map(|&i| Value::Int(i as i64)).collect()),
        }
    }
}
