//! Creates a very large segment and reports how long it took and how much
//! memory it made resident: `cargo run --release --example bigseg -- 16`
//! (size in GiB).

use std::time::Instant;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gib: u64 = std::env::args().nth(1).map_or(Ok(16), |s| s.parse())?;
    let name = format!("shmheap-big-{}", std::process::id());
    let before = rss_kib();
    let t = Instant::now();
    let seg = shmheap::Segment::create(&name, gib << 30)?;
    let created = t.elapsed();
    let after_create = rss_kib();
    let t = Instant::now();
    {
        let mut turn = seg.turn()?;
        let h = turn.put_message(&shmheap::value!(["hello", 1, 2.5]))?;
        turn.take_message()?;
        turn.free(h)?;
    }
    let used = t.elapsed();
    let t = Instant::now();
    let other = shmheap::Segment::attach(&name)?;
    let attached = t.elapsed();
    println!(
        "{gib} GiB segment: created in {created:?}, resident +{} KiB after create; first turn {used:?}; attach (with validation) {attached:?}; resident now +{} KiB",
        after_create.saturating_sub(before),
        rss_kib().saturating_sub(before)
    );
    drop(other);
    Ok(())
}
