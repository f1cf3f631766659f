//! Numeric arrays across real processes: one process puts a big f64
//! array, a peer (this test binary itself, see `tests/multiprocess.rs`)
//! mutates it in place through `ArrayMut`, and the first sees the change
//! at the same place in the segment (no copy). Every wait is bounded.

mod common;

#[allow(dead_code)] // its `main` is the example's; the test calls `report`
#[path = "../examples/array_peer.rs"]
mod array_peer;

use std::time::Duration;

use common::{Peer, Watchdog, env, unique_name};
use shmheap::{Segment, Value};

const SEC: Duration = Duration::from_secs(1);
/// Elements of the shared array (16 MiB of f64).
const N: usize = 2 << 20;

#[test]
fn peer_main() {
    common::serve_peer(|role| match role {
        "mutate" => peer_mutate(&env("SHMHEAP_NAME")).map_err(|e| e.to_string()),
        "report" => array_peer::report(&env("SHMHEAP_NAME"), Some(0.5))
            .map(|(shape, sum)| format!("shape {shape:?} sum {sum}"))
            .map_err(|e| e.to_string()),
        other => Err(format!("unknown role {other}")),
    });
}

/// Adds 1 to every element of `root["array"]` in place and sets the first
/// to -1; reports where the data lies (its offset in the segment).
fn peer_mutate(name: &str) -> Result<String, shmheap::Error> {
    let seg = Segment::attach(name)?;
    let mut turn = seg.turn()?;
    let mut root = turn.root()?;
    let mut a = root.array_mut::<f64>(&"array".into())?;
    if a.shape() != [N / 1024, 1024] {
        return Err(shmheap::Error::InvalidArray {
            what: format!("peer sees shape {:?}", a.shape()),
        });
    }
    for x in a.iter_mut() {
        *x += 1.0;
    }
    a[0] = -1.0;
    let offset = a.as_ptr() as usize - seg.base_address();
    Ok(format!("offset {offset}"))
}

fn data_offset(seg: &Segment) -> usize {
    let turn = seg.turn().unwrap();
    let root = turn.root_ref().unwrap().unwrap();
    let v = root.get(&"array".into()).unwrap().unwrap();
    let a = v.as_array::<f64>().unwrap();
    assert_eq!(a.as_ptr() as usize % 64, 0, "data 64-byte aligned");
    a.as_ptr() as usize - seg.base_address()
}

#[test]
fn a_peer_mutates_a_big_array_in_place() {
    let _wd = Watchdog::test("arrays-mutate");
    let name = unique_name("arrays-mutate");
    let seg = Segment::create(&name, 64 << 20).unwrap();
    let data: Vec<f64> = (0..N).map(|i| i as f64).collect();
    seg.turn()
        .unwrap()
        .root()
        .unwrap()
        .insert("array", Value::array(&[N / 1024, 1024], &data).unwrap())
        .unwrap();
    let before = data_offset(&seg);
    let mut peer = Peer::spawn("mutate", &[("SHMHEAP_NAME", name.clone())]);
    let lines = peer.finish_with(0, 60 * SEC);
    assert_eq!(
        lines,
        [format!("offset {before}")],
        "the peer wrote the same bytes"
    );
    assert_eq!(data_offset(&seg), before, "the data did not move");
    let turn = seg.turn().unwrap();
    let root = turn.root_ref().unwrap().unwrap();
    let v = root.get(&"array".into()).unwrap().unwrap();
    let a = v.as_array::<f64>().unwrap();
    assert_eq!(a[0], -1.0);
    for (i, &x) in a.iter().enumerate().skip(1) {
        assert_eq!(x, i as f64 + 1.0, "element {i}");
    }
    turn.validate().unwrap();
}

/// The example's reader (`examples/array_peer.rs`) in another process:
/// it adds 0.5 in place and reads the array as `&[f64]`.
#[test]
fn the_example_reads_and_changes_the_array_from_another_process() {
    let _wd = Watchdog::test("arrays-example");
    let name = unique_name("arrays-example");
    let seg = Segment::create(&name, 4 << 20).unwrap();
    let data: Vec<f64> = (0..1000).map(f64::from).collect();
    seg.turn()
        .unwrap()
        .root()
        .unwrap()
        .insert("array", Value::array(&[10, 100], &data).unwrap())
        .unwrap();
    let mut peer = Peer::spawn("report", &[("SHMHEAP_NAME", name.clone())]);
    let lines = peer.finish_with(0, 60 * SEC);
    // 0 + 1 + ... + 999 = 499500, and 1000 halves added.
    assert_eq!(lines, ["shape [10, 100] sum 500000"]);
    let turn = seg.turn().unwrap();
    let root = turn.root_ref().unwrap().unwrap();
    let v = root.get(&"array".into()).unwrap().unwrap();
    assert_eq!(v.as_array::<f64>().unwrap()[999], 999.5);
}
