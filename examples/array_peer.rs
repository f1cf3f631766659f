//! Reads a shared numeric array from another process: attaches the named
//! segment given on the command line, reads its root namespace's `"array"`
//! as `&[f64]` in place (no copy) and prints its shape and sum; with
//! `--add X`, first adds `X` to every element in place through
//! `ArrayMut` (the other process sees the change).
//!
//! The Python side of the same array (`python/tests/test_arrays.py`):
//!
//! ```text
//! python -c 'import shmheap, numpy as np, time
//! seg = shmheap.Segment.create("arr-demo", 64 << 20)
//! with seg.turn() as t: t.root["array"] = np.arange(1e6).reshape(1000, 1000)
//! time.sleep(30)' &
//! cargo run --example array_peer -- arr-demo --add 1
//! ```
//! prints `shape [1000, 1000] sum 500000500000`.

use shmheap::{Error, Segment, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().ok_or("usage: array_peer NAME [--add X]")?;
    let add = match (args.next().as_deref(), args.next()) {
        (Some("--add"), Some(x)) => Some(x.parse::<f64>()?),
        (None, _) => None,
        _ => return Err("usage: array_peer NAME [--add X]".into()),
    };
    let (shape, sum) = report(&name, add)?;
    println!("shape {shape:?} sum {sum}");
    Ok(())
}

/// Attaches `name`, adds `add` (if any) to every element of
/// `root["array"]` in place, then returns its shape and the sum of its
/// elements, read as `&[f64]` in the segment.
pub fn report(name: &str, add: Option<f64>) -> Result<(Vec<usize>, f64), Error> {
    let seg = Segment::attach(name)?;
    let key = Value::from("array");
    let mut turn = seg.turn()?;
    if let Some(x) = add {
        let mut root = turn.root()?;
        let mut a = root.array_mut::<f64>(&key)?;
        for v in a.iter_mut() {
            *v += x;
        }
    }
    let root = turn.root_ref()?.ok_or(Error::KeyNotFound {
        key: "the root namespace".into(),
    })?;
    let v = root.get(&key)?.ok_or(Error::KeyNotFound {
        key: "\"array\"".into(),
    })?;
    let a = v.as_array::<f64>()?;
    Ok((a.shape().to_vec(), a.iter().sum()))
}
