//! The values the operation fuzzers write: small ints, strings of a chosen
//! length (long ones take real blocks), lists of ints, and numeric arrays
//! (float64 of one or two dimensions, bool).

use arbitrary::Arbitrary;
use shmheap::Value;

#[derive(Arbitrary, Debug, Clone)]
pub enum Item {
    Int(i16),
    Str(u8),
    Ints(Vec<i8>),
    /// A float64 array, of shape `[rows, len / rows]` when `rows` divides
    /// its length, else `[len]`.
    F64s(Vec<i8>, u8),
    /// A bool array.
    Bools(Vec<bool>),
}

impl Item {
    pub fn value(&self) -> Value {
        match self {
            Item::Int(i) => Value::Int(*i as i64),
            Item::Str(n) => Value::Str("s".repeat(*n as usize)),
            Item::Ints(v) => Value::List(v.iter().map(|&i| Value::Int(i as i64)).collect()),
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
        }
    }
}
