//! Async vs blocking turn hand-off between two processes, in one run.
//!
//! Both processes take `N` turns each as fast as they can, each turn one
//! `+= 1` on a shared int; FIFO fairness makes them alternate strictly, so
//! every turn is a hand-off to the other process and two turns are one
//! round trip. The pairs: both blocking (`Segment::turn`, the baseline),
//! both async (`turn_async` on a tokio current-thread runtime, and on
//! `futures::executor::block_on`), and one of each. The peer is this
//! example run again.
//!
//! ```text
//! cargo run --release --example bench_async            # 20000 turns each
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

fn bump(seg: &Segment, h: Handle, t: &mut shmheap::Turn<'_>) -> R {
    let _ = seg;
    *t.list_mut(h)?.int_mut(0)? += 1;
    Ok(())
}

/// Waits until both processes arrived (item 1 of `h` is 2), then takes
/// `n` turns in `mode`; returns the time the `n` turns took.
fn run(seg: &Segment, h: Handle, n: u64, mode: Mode) -> R<Duration> {
    *seg.turn()?.list_mut(h)?.int_mut(1)? += 1;
    while seg.turn()?.get(h)?.as_list()?.get(1)?.as_int()? < 2 {
        std::thread::yield_now();
    }
    let t0 = Instant::now();
    match mode {
        Mode::Blocking => {
            for _ in 0..n {
                bump(seg, h, &mut seg.turn()?)?;
            }
        }
        Mode::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                for _ in 0..n {
                    bump(seg, h, &mut seg.turn_async().await?)?;
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
        }
        Mode::Futures => futures::executor::block_on(async {
            for _ in 0..n {
                bump(seg, h, &mut seg.turn_async().await?)?;
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        })?,
    }
    Ok(t0.elapsed())
}

fn pair(n: u64, mine: Mode, peer: Mode) -> R<f64> {
    let name = format!("shmheap-bench-async-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 20)?;
    let h = {
        let mut t = seg.turn()?;
        let h = t.put_message(&value!([0, 0]))?;
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
    let took = run(&seg, h, n, mine)?;
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("peer failed: {status}").into());
    }
    let total = seg.turn()?.get(h)?.as_list()?.get(0)?.as_int()?;
    if total as u64 != 2 * n {
        return Err(format!("count {total}, expected {}", 2 * n).into());
    }
    // Our n turns interleaved with the peer's n: 2n hand-offs in `took`
    // (the peer may finish its last turns a little later or earlier).
    Ok(n as f64 / took.as_secs_f64())
}

fn main() -> R {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("peer") {
        let seg = Segment::attach(&args[2])?;
        let h = Handle::from_raw(args[3].parse()?, args[4].parse()?);
        run(&seg, h, args[5].parse()?, Mode::parse(&args[6])?)?;
        return Ok(());
    }
    let n: u64 = args.get(1).map_or(Ok(20_000), |s| s.parse())?;
    println!("{n} turns per process, strict alternation between two processes");
    println!("| pair (this process / peer) | round trips/s | µs per round trip | vs blocking |");
    println!("|---|---:|---:|---:|");
    let base = pair(n, Mode::Blocking, Mode::Blocking)?;
    let row = |what: &str, rate: f64| {
        println!(
            "| {what} | {rate:.0} | {:.2} | {:.2}x |",
            1e6 / rate,
            rate / base
        );
    };
    row("blocking / blocking (baseline)", base);
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
