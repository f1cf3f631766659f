//! The seed scenario: two processes share a list and take turns mutating it.
//!
//! `cargo run --release --example seed` creates a segment, spawns itself as
//! the second process, puts `["hello", 0, (8, 2.0, false), {b"world": -6,
//! 5: 4}]` as a message; the peer takes it; then both do 1000 turns of 2000
//! `+= 1` on item 1. The final count is exactly 4,000,000.
//!
//! With `--keep` the segment stays behind for the `shmheap` command: the
//! final list back in the queue and the original message under
//! `'message'` in the root namespace (`shmheap ls`, `shmheap dump NAME`,
//! `shmheap rm NAME`). Values print as Python literals (their `Display`).

use std::process::{Command, Stdio};
use std::time::Instant;

use shmheap::{Handle, Segment, Value, value};

const TURNS: usize = 1000;
const INCREMENTS: i64 = 2000;

fn work(seg: &Segment, h: Handle, who: &str) -> Result<(), shmheap::Error> {
    let mut last = None;
    let mut interleaved = 0;
    for _ in 0..TURNS {
        let mut turn = seg.turn()?;
        let mut list = turn.list_mut(h)?;
        let x = list.int_mut(1)?;
        // Did the other process take a turn since our last one?
        if last.is_some_and(|v| *x != v) {
            interleaved += 1;
        }
        for _ in 0..INCREMENTS {
            *x += 1;
        }
        last = Some(*x);
    }
    println!(
        "[{who}] done: {TURNS} turns of {INCREMENTS} `+= 1`; {interleaved} of them came right after a turn of the other process"
    );
    Ok(())
}

fn consumer(name: &str) -> Result<(), shmheap::Error> {
    let seg = Segment::attach(name)?;
    println!(
        "[consumer pid {}] attached to {name:?} (validated)",
        std::process::id()
    );
    // Wait for the message.
    let h = loop {
        let mut turn = seg.turn()?;
        if let Some(h) = turn.take_message()? {
            let v = turn.get(h)?;
            println!("[consumer] took message: {v}");
            let list = v.as_list()?;
            println!(
                "[consumer] zero-copy read: item 0 = {}, item 2 = {}",
                list.get(0)?,
                list.get(2)?
            );
            break h;
        }
        drop(turn);
        std::thread::yield_now();
    };
    work(&seg, h, "consumer")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--consumer" {
        return Ok(consumer(&args[2])?);
    }
    let keep = args.iter().any(|a| a == "--keep");
    let name = format!("shmheap-seed-{}", std::process::id());
    let seg = Segment::options().size(16 << 20).keep(keep).create(&name)?;
    println!(
        "[creator pid {}] created segment {name:?} ({} MiB)",
        std::process::id(),
        seg.size() >> 20
    );
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--consumer", &name])
        .stdout(Stdio::inherit())
        .spawn()?;
    let msg = value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}]);
    let h = {
        let mut turn = seg.turn()?;
        let h = turn.put_message(&msg)?;
        println!("[creator] put message {msg}");
        h
    };
    // Wait until the consumer has taken the message, then both work.
    while seg.turn()?.has_messages()? {}
    let start = Instant::now();
    work(&seg, h, "creator")?;
    let status = child.wait()?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("consumer failed: {status}").into());
    }
    let mut turn = seg.turn()?;
    let list = turn.get(h)?.as_list()?;
    let count = list.get(1)?.as_int()?;
    let total = 2 * TURNS as i64 * INCREMENTS;
    println!("[creator] final list: {}", turn.get(h)?);
    println!(
        "[creator] count = {count} (expected {total}) in {elapsed:.2?}: {:.0} turns per second \
         ({:.0} M `+= 1` per second in place; the compiler may combine the 2000 of one turn)",
        (2 * TURNS) as f64 / elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
    assert_eq!(list.get(1)?.to_value()?, Value::Int(total));
    if count != total {
        return Err("count mismatch".into());
    }
    if keep {
        turn.put_handle(h)?;
        turn.root()?.insert("message", msg)?;
        println!(
            "[creator] kept segment {name:?}: try `shmheap ls`, `shmheap dump {name}`, \
             `shmheap rm {name}`"
        );
    } else {
        turn.free(h)?;
    }
    Ok(())
}
