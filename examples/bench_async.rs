//! Async vs blocking turn hand-off between two processes, in one run.
//!
//! Two processes make `N` moves each on a shared int, alternating by its
//! parity: each takes turns until it is its move, makes it (`+= 1`) and
//! hands the turn on. A round trip is one move of each, so two hand-offs
//! of the turn between the processes (a turn that finds it is not its move
//! is counted as idle, and yields the CPU before it waits again: on a
//! machine with few cores, a process busy with idle turns would otherwise
//! keep the other one off the CPU). The pairs: both blocking (`Segment::turn`, the baseline),
//! both async (`turn_async` on a tokio current-thread runtime, and on
//! `futures::executor::block_on`), and one of each. The peer is this
//! example run again.
//!
//! ```text
//! cargo run --release --example bench_async            # 20000 moves each
//! cargo run --release --example bench_async -- 50000
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shmheap::{Handle, Segment, value};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Blocking,
    Tokio,
    Futures,
}

impl Mode {
    fn parse(s: &str) -> R<Mode> {
        Ok(match s {
            "blocking" => Mode::Blocking,
            "tokio" => Mode::Tokio,
            "futures" => Mode::Futures,
            _ => return Err(format!("unknown mode {s}").into()),
        })
    }
    fn name(self) -> &'static str {
        match self {
            Mode::Blocking => "blocking",
            Mode::Tokio => "tokio",
            Mode::Futures => "futures",
        }
    }
}

/// One turn: if the count (item 0 of `h`) says it is this process's move
/// (its parity is `me`), make it (`+= 1`) and return true; otherwise
/// count a turn that found nothing to do (item 2) and return false.
fn step(me: i64, h: Handle, t: &mut shmheap::Turn<'_>) -> R<bool> {
    let mut l = t.list_mut(h)?;
    let c = l.int_mut(0)?;
    if *c % 2 == me {
        *c += 1;
        return Ok(true);
    }
    *l.int_mut(2 + me as usize)? += 1;
    Ok(false)
}

/// Makes `n` moves in `mode`, alternating with the other process (which
/// moves on the other parity): every move is one hand-off of the turn to
/// this process and back. Returns the time from this process's first move
/// to its last.
fn run(seg: &Segment, h: Handle, n: u64, mode: Mode, me: i64) -> R<Duration> {
    let mut t0 = None;
    let mut moves = 0;
    match mode {
        Mode::Blocking => {
            while moves < n {
                if step(me, h, &mut seg.turn()?)? {
                    t0.get_or_insert_with(Instant::now);
                    moves += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
        Mode::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                while moves < n {
                    if step(me, h, &mut seg.turn_async().await?)? {
                        t0.get_or_insert_with(Instant::now);
                        moves += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
        }
        Mode::Futures => futures::executor::block_on(async {
            while moves < n {
                if step(me, h, &mut seg.turn_async().await?)? {
                    t0.get_or_insert_with(Instant::now);
                    moves += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        })?,
    }
    Ok(t0.map_or(Duration::ZERO, |t| t.elapsed()))
}

/// Round trips per second, and turns that found nothing to do per move.
fn pair(n: u64, mine: Mode, peer: Mode) -> R<(f64, f64)> {
    let name = format!("shmheap-bench-async-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 20)?;
    let h = {
        let mut t = seg.turn()?;
        let h = t.put_message(&value!([0, 0, 0, 0]))?;
        t.take_message()?;
        h
    };
    let (o, g) = h.to_raw();
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "peer",
            &name,
            &o.to_string(),
            &g.to_string(),
            &n.to_string(),
            peer.name(),
        ])
        .stdin(Stdio::null())
        .spawn()?;
    let took = run(&seg, h, n, mine, 0)?;
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("peer failed: {status}").into());
    }
    let t = seg.turn()?;
    let l = t.get(h)?.as_list()?;
    let (total, idle) = (
        l.get(0)?.as_int()?,
        l.get(2)?.as_int()? + l.get(3)?.as_int()?,
    );
    if total as u64 != 2 * n {
        return Err(format!("count {total}, expected {}", 2 * n).into());
    }
    // A round trip is one move of ours and one of the peer's.
    Ok((n as f64 / took.as_secs_f64(), idle as f64 / (2 * n) as f64))
}

fn main() -> R {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("peer") {
        let seg = Segment::attach(&args[2])?;
        let h = Handle::from_raw(args[3].parse()?, args[4].parse()?);
        run(&seg, h, args[5].parse()?, Mode::parse(&args[6])?, 1)?;
        return Ok(());
    }
    let n: u64 = args.get(1).map_or(Ok(20_000), |s| s.parse())?;
    println!("{n} moves per process, alternating between two processes");
    println!(
        "| pair (this process / peer) | round trips/s | µs per round trip | idle turns per move | vs blocking |"
    );
    println!("|---|---:|---:|---:|---:|");
    let (base, share) = pair(n, Mode::Blocking, Mode::Blocking)?;
    let row = |what: &str, (rate, share): (f64, f64)| {
        println!(
            "| {what} | {rate:.0} | {:.2} | {share:.2} | {:.2}x |",
            1e6 / rate,
            rate / base
        );
    };
    row("blocking / blocking (baseline)", (base, share));
    for (a, b) in [
        (Mode::Tokio, Mode::Tokio),
        (Mode::Futures, Mode::Futures),
        (Mode::Tokio, Mode::Blocking),
    ] {
        let r = pair(n, a, b)?;
        row(&format!("{} / {}", a.name(), b.name()), r);
    }
    Ok(())
}
