//! Two-process benches: the bench binary spawns itself as the peer
//! (`SHMHEAP_BENCH_PEER` names the role; checked first thing in `main`).
//! Each group holds shmheap and its baselines; `iter_custom` times N round
//! trips (or N messages end to end) in this process while the peer plays
//! the other side.
//!
//! Also `n` processes taking turns on fewer cores, strict and batched.
//!
//! `cargo bench --bench handoff`; the idle figure (CPU used while waiting
//! 1 s for the turn) is printed before the groups.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use support::{
    AtomicPingPong, Contenders, FutexPingPong, PipeMessages, PipePingPong, ReadMode, ShmMessages,
    TurnPingPong, idle_pipe_wait, idle_turn_wait, ints_value, seed_value,
};

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1))
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}

fn handoff(c: &mut Criterion) {
    let mut g = group(c, "strict alternation, two processes: round trip");
    {
        let mut w = TurnPingPong::new();
        g.bench_function("shmheap turn, one += 1 per turn", |b| {
            b.iter_custom(|n| w.run(n))
        });
    }
    {
        let mut w = AtomicPingPong::new();
        g.bench_function("baseline bare atomic ping-pong (floor)", |b| {
            b.iter_custom(|n| w.run(n))
        });
    }
    {
        let mut w = PipePingPong::new();
        g.bench_function("baseline pipe ping-pong", |b| b.iter_custom(|n| w.run(n)));
    }
    {
        let mut w = FutexPingPong::new();
        g.bench_function("baseline process-shared futex mutex", |b| {
            b.iter_custom(|n| w.run(n))
        });
    }
    g.finish();
}

/// More processes than cores: turns per second of `n` processes, strict
/// and batched, beside two processes in the same group.
fn contention(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    for n in [4, 8, 16] {
        let mut g = group(
            c,
            &format!("{n} processes on {cores} cores, one += 1 per turn"),
        );
        {
            let mut w = Contenders::new(n);
            g.bench_function("shmheap strict FIFO", |b| b.iter_custom(|k| w.run(k)));
        }
        {
            let mut w = Contenders::batched(n, 64);
            g.bench_function("shmheap batch(64)", |b| b.iter_custom(|k| w.run(k)));
        }
        {
            let mut w = Contenders::new(2);
            g.bench_function("baseline two processes, strict", |b| {
                b.iter_custom(|k| w.run(k))
            });
        }
        g.finish();
    }
}

fn messages(c: &mut Criterion) {
    for (what, v) in [
        ("seed message", seed_value()),
        ("1000-int list", ints_value()),
    ] {
        for window in [1, 64] {
            let mut g = group(
                c,
                &format!("{what}, two processes, end to end, window {window}"),
            );
            {
                let mut w = ShmMessages::new(v.clone(), window, ReadMode::Walk);
                g.bench_function("shmheap put / take, walk in place, free", |b| {
                    b.iter_custom(|n| w.run(n))
                });
            }
            {
                let mut w = ShmMessages::new(v.clone(), window, ReadMode::ToValue);
                g.bench_function("shmheap put / take, to_value, free", |b| {
                    b.iter_custom(|n| w.run(n))
                });
            }
            {
                let mut w = PipeMessages::new(&v, window);
                g.bench_function("baseline postcard through a pipe, walk", |b| {
                    b.iter_custom(|n| w.run(n))
                });
            }
            g.finish();
        }
    }
}

/// Not a criterion group (criterion sizes its runs by the measured value,
/// which would be a near-zero CPU time here): printed once.
fn idle() {
    let hold = Duration::from_secs(1);
    let pct = |(cpu, wall): (Duration, Duration)| 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    println!(
        "idle: waiting {:?} for the turn used {:.2} % of a core (baseline, a blocking pipe read: {:.2} %)",
        hold,
        pct(idle_turn_wait(hold)),
        pct(idle_pipe_wait(hold)),
    );
}

fn main() {
    support::peer_dispatch();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if args.iter().any(|a| a == "--bench")
        && (filters.is_empty() || filters.iter().any(|f| f.contains("idle")))
    {
        idle();
    }
    let mut c = Criterion::default().configure_from_args();
    handoff(&mut c);
    contention(&mut c);
    messages(&mut c);
    c.final_summary();
}
