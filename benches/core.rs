//! In-process benches, each beside its baseline in the same group (machines
//! here are noisy: compare the ratio, not the absolute numbers). The
//! two-process ones are in `benches/handoff.rs`; `cargo run --release
//! --example bench_report` prints the README's table from the same
//! workloads (`benches/support/mod.rs`).
//!
//! `cargo bench --bench core`

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use support::{
    APPEND, Append, BULK, BigAttach, Bulk, INTS, IntList, LocalMessage, SliceMessage, SmallStrings,
    Validation, ints_value, seed_value,
};

fn int_group<'a>(c: &'a mut Criterion, op: &str, pattern: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(format!("int64 {op}, {INTS} list items, {pattern}"));
    g.throughput(Throughput::Elements(INTS as u64));
    g
}

fn int64(c: &mut Criterion) {
    for (pattern, random) in [("sequential", false), ("random", true)] {
        let mut list = IntList::new(random);
        let mut g = int_group(c, "read", pattern);
        g.bench_function("shmheap ListRef::get(i)?.as_int()", |b| {
            b.iter_custom(|n| list.shm_read(n))
        });
        g.bench_function("baseline Vec<i64>", |b| b.iter_custom(|n| list.vec_read(n)));
        g.finish();
        let mut g = int_group(c, "write", pattern);
        g.bench_function("shmheap *ListMut::int_mut(i)? = v", |b| {
            b.iter_custom(|n| list.shm_write(n))
        });
        g.bench_function("baseline Vec<i64>", |b| {
            b.iter_custom(|n| list.vec_write(n))
        });
        g.finish();
        let mut g = int_group(c, "+= 1", pattern);
        g.bench_function("shmheap *ListMut::int_mut(i)? += 1", |b| {
            b.iter_custom(|n| list.shm_add(n))
        });
        g.bench_function("baseline Vec<i64>", |b| b.iter_custom(|n| list.vec_add(n)));
        g.finish();
    }
}

/// The bulk read paths of a list of ints, and a list message from a slice.
fn int_bulk(c: &mut Criterion) {
    let mut list = IntList::new(false);
    let mut g = c.benchmark_group(format!("int64 bulk reads, {INTS} list items"));
    g.throughput(Throughput::Elements(INTS as u64));
    g.bench_function("shmheap ListRef::ints(), summed", |b| {
        b.iter_custom(|n| list.shm_ints(n))
    });
    g.bench_function("baseline Vec<i64>::iter(), summed", |b| {
        b.iter_custom(|n| list.vec_iter(n))
    });
    g.bench_function("shmheap ListRef::copy_to_slice, summed", |b| {
        b.iter_custom(|n| list.shm_copy(n))
    });
    g.bench_function("baseline copy_from_slice, summed", |b| {
        b.iter_custom(|n| list.vec_copy(n))
    });
    g.finish();
    let mut w = SliceMessage::new();
    let mut g = c.benchmark_group(format!("{INTS}-int list message from a slice, one process"));
    g.bench_function("shmheap put_message_from_slice, take, ints(), free", |b| {
        b.iter_custom(|n| w.shm(n))
    });
    g.bench_function("baseline to_vec, sum, drop", |b| {
        b.iter_custom(|n| w.vec(n))
    });
    g.finish();
}

fn bulk_bytes(c: &mut Criterion) {
    let mut w = Bulk::new();
    let mut g = c.benchmark_group("400 KiB bytes message, one process");
    g.throughput(Throughput::Bytes(BULK as u64));
    g.bench_function("shmheap put, take, as_bytes, free", |b| {
        b.iter_custom(|n| w.shm(n))
    });
    g.bench_function("baseline memcpy (copy_from_slice)", |b| {
        b.iter_custom(|n| w.memcpy(n))
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    let mut w = Append::new();
    let mut g = c.benchmark_group(format!("append {APPEND} ints (amortized)"));
    g.throughput(Throughput::Elements(APPEND as u64));
    g.bench_function("shmheap ListMut::push", |b| b.iter_custom(|n| w.shm(n)));
    g.bench_function("baseline Vec::push", |b| b.iter_custom(|n| w.vec(n)));
    g.finish();
}

fn small_strings(c: &mut Criterion) {
    let mut w = SmallStrings::new();
    let mut g = c.benchmark_group("small string: allocate and free");
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmheap put_message, take_message, free", |b| {
        b.iter_custom(|n| w.shm(n))
    });
    g.bench_function("baseline String::from + drop", |b| {
        b.iter_custom(|n| w.string(n))
    });
    g.finish();
}

fn local_messages(c: &mut Criterion) {
    for (what, v) in [
        ("seed message", seed_value()),
        ("1000-int list", ints_value()),
    ] {
        let mut w = LocalMessage::new(v);
        let mut g = c.benchmark_group(format!("{what}, one process: write, read, free"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("shmheap put, take, walk in place, free", |b| {
            b.iter_custom(|n| w.shm(n))
        });
        g.bench_function("baseline postcard serialize, deserialize, walk", |b| {
            b.iter_custom(|n| w.postcard(n))
        });
        g.finish();
    }
}

fn slow_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    g
}

fn validation(c: &mut Criterion) {
    let mut w = Validation::new(100 << 20);
    let mut g = slow_group(c, "validate a segment of ~100 MB of mixed nested values");
    g.throughput(Throughput::Bytes(w.bytes));
    g.bench_function("shmheap Turn::validate", |b| {
        b.iter_custom(|n| w.validate(n))
    });
    g.bench_function("baseline read pass (sum of u64s)", |b| {
        b.iter_custom(|n| w.read_pass(n))
    });
    g.finish();
}

fn big_attach(c: &mut Criterion) {
    let mut w = BigAttach::new(16, 1 << 20);
    let mut g = slow_group(c, "attach a 16 GiB segment holding 1 MB");
    g.bench_function("shmheap Segment::attach (validating)", |b| {
        b.iter_custom(|n| w.attach(n, true))
    });
    g.bench_function("baseline attach without validation", |b| {
        b.iter_custom(|n| w.attach(n, false))
    });
    g.finish();
}

fn main() {
    // Core benches spawn no peers; dispatch anyway so the module is uniform.
    support::peer_dispatch();
    let mut c = Criterion::default().configure_from_args();
    int64(&mut c);
    int_bulk(&mut c);
    bulk_bytes(&mut c);
    append(&mut c);
    small_strings(&mut c);
    local_messages(&mut c);
    validation(&mut c);
    big_attach(&mut c);
    c.final_summary();
}
