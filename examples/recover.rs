//! kill -9 the holder of the turn, and recover.
//!
//! `cargo run --release --example recover`
//!
//! The parent puts a list of 200,000 ints and a counter in a segment, then
//! starts a child (this program again) that inserts at the front of the
//! list, turn after turn: each insert moves every item, so the child spends
//! most of its time in the middle of one. The parent SIGKILLs it, waits for
//! the turn (which reports the dead holder), recovers, and checks that the
//! list is exactly the committed inserts — no half-moved items, nothing
//! lost.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shmheap::{Error, Handle, Segment, Value};

const ITEMS: i64 = 200_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--child" {
        let h = Handle::from_raw(args[3].parse()?, args[4].parse()?);
        return child(&args[2], h);
    }
    let name = format!("shmheap-recover-demo-{}", std::process::id());
    let seg = Segment::create(&name, 64 << 20)?;
    let root = {
        let mut turn = seg.turn()?;
        let list: Vec<Value> = (0..ITEMS).rev().map(Value::Int).collect();
        let h = turn.put_message(&Value::List(vec![Value::Int(0), Value::List(list)]))?;
        turn.take_message()?;
        h
    };
    println!("parent: a list of {ITEMS} ints, descending, and a counter of inserts");
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--child",
            &name,
            &root.offset().to_string(),
            &root.generation().to_string(),
        ])
        .stdout(Stdio::inherit())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(400));
    println!("parent: kill -9 {}", child.id());
    child.kill()?;
    child.wait()?;

    let t0 = Instant::now();
    match seg.turn() {
        Err(Error::PeerDied { pid }) => {
            println!(
                "parent: turn() -> PeerDied {{ pid: {pid} }} after {:.1} ms",
                t0.elapsed().as_secs_f64() * 1e3
            );
            let r = seg.recover()?.expect("the holder is dead");
            println!(
                "parent: recover() -> rolled back {} journal record(s) of the interrupted \
                 insert, reclaimed {} block(s) ({} bytes), validated {} blocks, {} orphans",
                r.records_undone,
                r.blocks_reclaimed,
                r.bytes_reclaimed,
                r.report.blocks,
                r.report.orphans
            );
        }
        Ok(_) => println!("parent: the child died between two turns: nothing to recover"),
        Err(e) => return Err(e.into()),
    }

    let mut turn = seg.turn()?;
    let report = turn.validate()?;
    let mut r = turn.list_mut(root)?;
    let counter = *r.int_mut(0)?;
    let l = r.list_mut(1)?;
    let len = l.len() as i64;
    // Each insert put `ITEMS + k` at the front, then bumped the counter:
    // the list must read ITEMS + len - ITEMS - 1, ..., 1, 0 from the front.
    let mut in_order = true;
    for (i, item) in l.iter()?.enumerate() {
        if item?.as_int()? != len - 1 - i as i64 {
            in_order = false;
            break;
        }
    }
    println!(
        "parent: {len} items ({} inserted), every one in place: {in_order}; counter {counter} \
         ({}); the segment validates ({} blocks, {} orphans)",
        len - ITEMS,
        if counter == len - ITEMS {
            "the last insert was counted"
        } else {
            "the child died between an insert and its count"
        },
        report.blocks,
        report.orphans
    );
    assert!(in_order && (counter == len - ITEMS || counter == len - ITEMS - 1));
    Ok(())
}

/// Inserts at the front, one per turn, counting each, until killed.
fn child(name: &str, root: Handle) -> Result<(), Box<dyn std::error::Error>> {
    let seg = Segment::attach(name)?;
    println!(
        "child {}: attached; inserting at the front",
        std::process::id()
    );
    loop {
        let mut turn = seg.turn()?;
        let mut r = turn.list_mut(root)?;
        let mut l = r.list_mut(1)?;
        let n = l.len() as i64;
        l.insert(0, n)?;
        *r.int_mut(0)? += 1;
    }
}
