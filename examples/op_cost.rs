//! Runs one workload of the bench report a fixed number of times, for an
//! instruction count that does not depend on the machine's load:
//!
//! ```sh
//! cargo build --release --example op_cost
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*IntList::shm_read*' \
//!     target/release/examples/op_cost shm_read random 100
//! ```
//!
//! then instructions ÷ (100 × 1000) is the cost of one `get(i)?.as_int()`
//! (callgrind_annotate shows where it goes). Workloads: `shm_read`,
//! `vec_read`, `shm_write`, `vec_write`, `shm_add`, `vec_add`, and the bulk
//! paths `shm_ints` and `shm_copy`; order `sequential` or `random`. And
//! `msg_ints`, `msg_seed`: one message put, taken, walked and freed in one
//! process (`--toggle-collect='*LocalMessage::shm*'`), and `msg_slice`, the
//! same from a slice through the bulk paths (`'*SliceMessage::shm*'`).

#[path = "../benches/support/mod.rs"]
mod support;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(op), Some(order)) = (args.first(), args.get(1)) else {
        eprintln!("usage: op_cost OP sequential|random [ITERS]");
        std::process::exit(2);
    };
    let iters: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    if op == "turn" {
        // An uncontended turn taken and handed on (`'*Uncontended::turn*'`).
        let d = support::Uncontended::new().turn(iters);
        println!(
            "turn: {:.1} ns per turn",
            d.as_secs_f64() / iters as f64 * 1e9
        );
        return;
    }
    if op == "small" {
        // A small string put, taken and freed (`'*SmallStrings::shm*'`).
        let d = support::SmallStrings::new().shm(iters);
        println!(
            "small: {:.1} ns per string",
            d.as_secs_f64() / iters as f64 * 1e9
        );
        return;
    }
    if op == "push" {
        // `ListMut::push` of ints (`'*Append::shm*'`), `iters` lists.
        let d = support::Append::new().shm(iters);
        println!(
            "push: {:.2} ns per push",
            d.as_secs_f64() / (iters * support::APPEND as u64) as f64 * 1e9
        );
        return;
    }
    if op == "validate" {
        // `Turn::validate` over a mixed segment of `iters` MB.
        let mut w = support::Validation::new(iters << 20);
        let d = w.validate(3);
        println!(
            "validate: {} bytes, {:.2} GB/s",
            w.bytes,
            3.0 * w.bytes as f64 / d.as_secs_f64() / 1e9
        );
        return;
    }
    if op == "bulk" {
        // The 400 KiB bytes message, with the page faults it takes.
        let mut w = support::Bulk::new();
        for round in 0..3 {
            let f0 = minor_faults();
            let d = w.shm(iters);
            println!(
                "bulk round {round}: {:.1} µs per message, {} minor page faults per message",
                d.as_secs_f64() / iters as f64 * 1e6,
                (minor_faults() - f0) / iters as i64
            );
        }
        copy_distances(iters);
        return;
    }
    if let Some(what) = op.strip_prefix("msg_") {
        // In-process put + take + walk + free of one message (`order` is
        // ignored): `msg_ints`, `msg_seed`.
        if what == "slice" {
            let d = support::SliceMessage::new().shm(iters);
            println!(
                "{op}: {:.2} µs per message",
                d.as_secs_f64() / iters as f64 * 1e6
            );
            return;
        }
        let v = match what {
            "ints" => support::ints_value(),
            _ => support::seed_value(),
        };
        let d = support::LocalMessage::new(v).shm(iters);
        println!(
            "{op}: {:.2} µs per message",
            d.as_secs_f64() / iters as f64 * 1e6
        );
        return;
    }
    let mut l = support::IntList::new(order == "random");
    let d = match op.as_str() {
        "shm_read" => l.shm_read(iters),
        "vec_read" => l.vec_read(iters),
        "shm_write" => l.shm_write(iters),
        "vec_write" => l.vec_write(iters),
        "shm_add" => l.shm_add(iters),
        "vec_add" => l.vec_add(iters),
        "shm_ints" => l.shm_ints(iters),
        "shm_copy" => l.shm_copy(iters),
        _ => {
            eprintln!("unknown workload {op}");
            std::process::exit(2);
        }
    };
    let per = d.as_secs_f64() / (iters * support::INTS as u64) as f64;
    println!("{op} {order}: {:.2} ns per item", per * 1e9);
}

/// One warm destination in a segment (a bytearray's bytes), filled by
/// `copy_from_slice` from sources at each distance below it modulo 4096:
/// glibc's `rep movsb` is about 20 times slower at a distance of 8 on this
/// machine's CPU (see `segment::copy_bytes`); 2 KiB pieces avoid it.
fn copy_distances(iters: u64) {
    use std::hint::black_box;
    let seg = support::named_segment("bulkcopy", 8 << 20);
    let n = support::BULK - 8192;
    let mut t = seg.turn().expect("turn");
    let h = t
        .put_message(&shmheap::Value::ByteArray(vec![0; support::BULK]))
        .expect("put");
    let mut b = t.bytes_mut(h).expect("bytes_mut");
    let dst = b.as_mut_slice().expect("slice");
    let pool = vec![3u8; support::BULK + 8192];
    let d = dst.as_ptr() as usize % 4096;
    // The source at `gap` bytes below the destination, modulo 4096.
    let src_at = |gap: usize| {
        let s0 = (d + 4096 - gap - pool.as_ptr() as usize % 4096) % 4096;
        &pool[s0..s0 + n]
    };
    let time = |f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed().as_secs_f64() / iters as f64 * 1e6
    };
    let mut by = Vec::new();
    for gap in (0..=128usize).step_by(8).chain([256, 1024, 2048]) {
        let src = src_at(gap);
        let us = time(&mut || dst[..n].copy_from_slice(black_box(src)));
        by.push(format!("{gap}: {us:.1}"));
    }
    println!(
        "copy, destination - source (mod 4096) -> µs: {}",
        by.join(", ")
    );
    let src = src_at(8);
    let mut by = Vec::new();
    for piece in [1024usize, 2048, 4096, 65536] {
        let us = time(&mut || {
            for (o, i) in dst[..n].chunks_mut(piece).zip(black_box(src).chunks(piece)) {
                o.copy_from_slice(i);
            }
        });
        by.push(format!("{piece}: {us:.1}"));
    }
    println!("copy at distance 8 in pieces of -> µs: {}", by.join(", "));
}

/// Minor page faults of this process so far.
fn minor_faults() -> i64 {
    // SAFETY: `getrusage` fills the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_minflt
    }
}
