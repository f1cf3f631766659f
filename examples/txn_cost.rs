//! What transactions cost, and what they cost plain turns: `+=` through
//! `ListMut::int_mut` and `ListMut::push`, in plain turns and in
//! transactional ones, next to the same loops on a local `Vec<i64>` (the
//! baseline), all in one run.
//!
//! `cargo run --release --example txn_cost` (`-- --quick` for a few
//! seconds). Each row is a turn of `K` operations (a transactional turn
//! commits at its end; the commit is in the figure); the sides take turns
//! run by run and the best run of each counts.

use std::hint::black_box;
use std::time::Instant;

use shmheap::{Handle, Segment, Value};

/// Operations per turn.
const K: usize = 1000;

struct Lists {
    /// `K` ints, the counters of the `+=` rows.
    counters: Handle,
    /// The list the push rows push to.
    pushed: Handle,
}

fn lists(seg: &Segment) -> Lists {
    let mut t = seg.turn().unwrap();
    let mut owned = |v: Value| {
        let h = t.put_message(&v).unwrap();
        t.take_message().unwrap();
        h
    };
    Lists {
        counters: owned(Value::List((0..K as i64).map(Value::Int).collect())),
        pushed: owned(Value::List(vec![])),
    }
}

/// One turn of `K` `+=` (over `K` distinct items, or all on one item).
fn add_turn(seg: &Segment, l: &Lists, txn: bool, same: bool) {
    let mut t = if txn { seg.transaction() } else { seg.turn() }.unwrap();
    {
        let mut c = t.list_mut(l.counters).unwrap();
        for i in 0..K {
            *c.int_mut(if same { 0 } else { i }).unwrap() += 1;
        }
    }
    t.commit().unwrap();
}

/// One turn of `K` pushes, then a clear (so that the list stays small).
fn push_turn(seg: &Segment, l: &Lists, txn: bool) {
    let mut t = if txn { seg.transaction() } else { seg.turn() }.unwrap();
    {
        let mut p = t.list_mut(l.pushed).unwrap();
        for i in 0..K {
            p.push(i as i64).unwrap();
        }
        p.clear().unwrap();
    }
    t.commit().unwrap();
}

fn local_add(v: &mut [i64], same: bool) {
    for i in 0..K {
        v[if same { 0 } else { i }] += 1;
        black_box(&v);
    }
}

fn local_push(v: &mut Vec<i64>) {
    for i in 0..K {
        v.push(i as i64);
        black_box(&v);
    }
    v.clear();
}

/// Best seconds per operation of each side, run by run interleaved.
fn measure(runs: usize, iters: usize, sides: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; sides.len()];
    for _ in 0..runs {
        for (k, f) in sides.iter_mut().enumerate() {
            for _ in 0..iters / 8 {
                f();
            }
            let t0 = Instant::now();
            for _ in 0..iters {
                f();
            }
            let d = t0.elapsed().as_secs_f64() / (iters * K) as f64;
            best[k] = best[k].min(d);
        }
    }
    best
}

fn ns(s: f64) -> String {
    format!("{:.2} ns", s * 1e9)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, iters) = if quick { (3, 20) } else { (15, 3000) };
    let seg = Segment::options()
        .size(64 << 20)
        .create_in_memory()
        .unwrap();
    let l = lists(&seg);
    let mut local = vec![0i64; K];
    let mut pushed = Vec::with_capacity(K);
    let t0 = Instant::now();
    let add = measure(
        runs,
        iters,
        &mut [
            &mut || local_add(&mut local, false),
            &mut || add_turn(&seg, &l, false, false),
            &mut || add_turn(&seg, &l, true, false),
        ],
    );
    let same = measure(
        runs,
        iters,
        &mut [
            &mut || local_add(&mut local, true),
            &mut || add_turn(&seg, &l, false, true),
            &mut || add_turn(&seg, &l, true, true),
        ],
    );
    let push = measure(
        runs,
        iters,
        &mut [
            &mut || local_push(&mut pushed),
            &mut || push_turn(&seg, &l, false),
            &mut || push_turn(&seg, &l, true),
        ],
    );
    let took = t0.elapsed();
    println!(
        "Per operation, in turns of {K} operations (a transactional turn's commit included), \
         best of {runs} runs of {iters} turns:\n"
    );
    println!(
        "| operation | local `Vec<i64>` | plain turn | transactional turn | plain ÷ local | \
         transactional ÷ plain |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, r) in [
        ("`*int_mut(i)? += 1`, i = 0..1000", &add),
        ("`*int_mut(0)? += 1` (one item)", &same),
        ("`push(i)` (then `clear()`)", &push),
    ] {
        println!(
            "| {name} | {} | {} | {} | {:.1}× | {:.1}× |",
            ns(r[0]),
            ns(r[1]),
            ns(r[2]),
            r[1] / r[0],
            r[2] / r[1]
        );
    }
    let t = seg.turn().unwrap();
    println!(
        "\n(took {:.1} s; segment used after: {} bytes; validate: {:?})",
        took.as_secs_f64(),
        t.stats().used,
        t.validate().map(|r| r.orphans)
    );
}
