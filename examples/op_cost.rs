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
