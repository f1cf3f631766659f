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
        {
            let seg = support::named_segment("bulkwhere", 8 << 20);
            let v = shmheap::Value::Bytes(vec![7u8; support::BULK]);
            let mut t = seg.turn().expect("turn");
            let mut at = Vec::new();
            for _ in 0..8 {
                let start = std::time::Instant::now();
                let h = t.put_message(&v).expect("put");
                let put = start.elapsed();
                t.take_message().expect("take");
                let start = std::time::Instant::now();
                t.free(h).expect("free");
                at.push(format!(
                    "{:?} put {:.1} µs free {:.1} µs",
                    h,
                    put.as_secs_f64() * 1e6,
                    start.elapsed().as_secs_f64() * 1e6
                ));
            }
            println!("where: {}", at.join("; "));
        }
        // The same copy into a bytearray already in the segment, and into
        // a Vec: the cost of the segment's pages, without the allocator.
        let seg = support::named_segment("bulkcopy", 8 << 20);
        let src: Vec<u8> = (0..support::BULK).map(|i| (i * 7) as u8).collect();
        let mut t = seg.turn().expect("turn");
        let h = t
            .put_message(&shmheap::Value::ByteArray(src.clone()))
            .expect("put");
        let mut dst = vec![0u8; support::BULK];
        for round in 0..3 {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                let mut b = t.bytes_mut(h).expect("bytes_mut");
                b.as_mut_slice()
                    .expect("slice")
                    .copy_from_slice(std::hint::black_box(&src));
            }
            let shm = start.elapsed();
            let start = std::time::Instant::now();
            for _ in 0..iters {
                dst.copy_from_slice(std::hint::black_box(&src));
                std::hint::black_box(&mut dst);
            }
            let vec = start.elapsed();
            let mut segoff = Vec::new();
            {
                let mut b = t.bytes_mut(h).expect("bytes_mut");
                let sl = b.as_mut_slice().expect("slice");
                let n = support::BULK - 8192;
                for o in [0usize, 8, 4040, 4048, 4056, 4064, 4072, 4080, 4088] {
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        sl[o..o + n].copy_from_slice(std::hint::black_box(&src[..n]));
                    }
                    segoff.push(format!(
                        "{} (mod 4096 {}): {:.1}",
                        o,
                        (sl.as_ptr() as usize + o) % 4096,
                        start.elapsed().as_secs_f64() / iters as f64 * 1e6
                    ));
                }
            }
            println!("into the segment at offsets: {}", segoff.join(", "));
            {
                // The same destination, sources at every distance below it
                // (mod 4096).
                let mut b = t.bytes_mut(h).expect("bytes_mut");
                let sl = b.as_mut_slice().expect("slice");
                let n = support::BULK - 8192;
                let pool = vec![3u8; support::BULK + 8192];
                let d = sl.as_ptr() as usize % 4096;
                let mut by = Vec::new();
                for gap in (0..=128usize).step_by(8).chain([256, 1024, 2048]) {
                    // src ≡ dst - gap (mod 4096)
                    let s0 = (d + 4096 - gap - pool.as_ptr() as usize % 4096) % 4096;
                    let src = &pool[s0..s0 + n];
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        sl[..n].copy_from_slice(std::hint::black_box(src));
                    }
                    by.push(format!(
                        "{gap}: {:.1}",
                        start.elapsed().as_secs_f64() / iters as f64 * 1e6
                    ));
                }
                println!("dst - src (mod 4096) -> µs: {}", by.join(", "));
                let s0 = (d + 4096 - 8 - pool.as_ptr() as usize % 4096) % 4096;
                let src = &pool[s0..s0 + n];
                let mut by = Vec::new();
                for piece in [1024usize, 2048, 4096, 8192, 65536] {
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        for (dd, ss) in sl[..n]
                            .chunks_mut(piece)
                            .zip(std::hint::black_box(src).chunks(piece))
                        {
                            dd.copy_from_slice(ss);
                        }
                    }
                    by.push(format!(
                        "{piece}: {:.1}",
                        start.elapsed().as_secs_f64() / iters as f64 * 1e6
                    ));
                }
                println!("gap 8 copied in pieces of -> µs: {}", by.join(", "));
            }
            let mut big = vec![0u8; support::BULK + 64];
            let mut off = Vec::new();
            for o in [8usize, 16, 24, 32, 40, 48, 56, 64] {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    big[o..o + support::BULK].copy_from_slice(std::hint::black_box(&src));
                    std::hint::black_box(&mut big);
                }
                off.push(format!(
                    "+{o} (mod 64 {}): {:.1}",
                    (big.as_ptr() as usize + o) % 64,
                    start.elapsed().as_secs_f64() / iters as f64 * 1e6
                ));
            }
            println!(
                "copy round {round}: into the segment {:.1} µs, into a Vec {:.1} µs, at offsets {}; src mod 64 {}",
                shm.as_secs_f64() / iters as f64 * 1e6,
                vec.as_secs_f64() / iters as f64 * 1e6,
                off.join(", "),
                src.as_ptr() as usize % 64
            );
        }
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

/// Minor page faults of this process so far.
fn minor_faults() -> i64 {
    // SAFETY: `getrusage` fills the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_minflt
    }
}
