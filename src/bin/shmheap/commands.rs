//! The commands. Each returns its exit code, or a one-line error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use shmheap::{Error, Segment, SegmentOptions, Status, Turn, ValueRef};

use crate::output::{bytes, print_json, process_json, processes, state, status_json};
use crate::{Command, Target, TurnArgs};

/// Where a segment lives.
enum Place {
    Shm(String),
    File(PathBuf),
}

impl Target {
    fn place(&self) -> Place {
        if self.name.contains('/') {
            Place::File(PathBuf::from(&self.name))
        } else {
            Place::Shm(self.name.clone())
        }
    }

    /// The error, in one line, with what to do about it where there is
    /// something to do.
    fn fail(&self, e: Error) -> String {
        let n = &self.name;
        match e {
            Error::NotFound { .. } => format!("{n}: no such segment"),
            Error::BadMagic => format!("{n}: not a shmheap segment (no shmheap magic)"),
            Error::Truncated { .. } => format!("{n}: not a shmheap segment ({e})"),
            Error::PeerDied { pid } => format!(
                "{n}: process {pid} died holding the turn; `shmheap recover {n}` recovers \
                 the segment, `--no-turn` reads a snapshot as it is"
            ),
            Error::Timeout => format!(
                "{n}: the turn did not come in time (another process holds it); \
                 `--no-turn` reads a snapshot copy, which may be inconsistent"
            ),
            e => format!("{n}: {e}"),
        }
    }

    fn status(&self) -> Result<Status, String> {
        match self.place() {
            Place::Shm(n) => Status::read(&n),
            Place::File(p) => Status::read_file(&p),
        }
        .map_err(|e| self.fail(e))
    }

    /// Attaches for inspection (no recovery, no validation).
    fn inspect(&self) -> Result<Segment, String> {
        let o = SegmentOptions::default();
        match self.place() {
            Place::Shm(n) => o.inspect(&n),
            Place::File(p) => o.inspect_file(&p),
        }
        .map_err(|e| self.fail(e))
    }

    fn snapshot(&self) -> Result<Segment, String> {
        match self.place() {
            Place::Shm(n) => Segment::snapshot(&n),
            Place::File(p) => Segment::snapshot_file(&p),
        }
        .map_err(|e| self.fail(e))
    }

    /// Runs `f` in a turn of the segment (or of a snapshot copy).
    fn with_turn<T>(
        &self,
        how: TurnArgs,
        f: impl FnOnce(&Turn<'_>) -> Result<T, Error>,
    ) -> Result<T, String> {
        let seg = if how.no_turn {
            eprintln!(
                "shmheap: {}: read from a snapshot copy taken without the turn: it may be \
                 inconsistent",
                self.name
            );
            self.snapshot()?
        } else {
            self.inspect()?
        };
        let turn = seg.turn_timeout(how.timeout).map_err(|e| self.fail(e))?;
        // An open journal means an operation was cut off: reading is
        // unsafe to trust, and ending the turn would commit it (a write).
        if !how.no_turn && seg.status().in_operation {
            return Err(format!(
                "{}: an operation was cut off (its journal is open); `shmheap recover {}` \
                 rolls it back, `--no-turn` reads it as it is",
                self.name, self.name
            ));
        }
        f(&turn).map_err(|e| self.fail(e))
    }
}

pub(crate) fn run(cmd: &Command, json: bool) -> Result<ExitCode, String> {
    match cmd {
        Command::Ls { dir } => ls(dir.as_deref(), json),
        Command::Info(t) => info(t, json),
        Command::Dump {
            target,
            depth,
            max_items,
            turn,
        } => dump(target, *depth, *max_items, *turn, json),
        Command::Stats { target, turn } => stats(target, *turn, json),
        Command::Validate { target, timeout } => validate(target, *timeout, json),
        Command::Recover(t) => recover(t, json),
        Command::Rm { target, force } => rm(target, *force, json),
        Command::Watch {
            target,
            interval,
            count,
        } => watch(target, *interval, *count, json),
    }
}

const SHM_DIR: &str = "/dev/shm";

/// `1 message`, `2 messages`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn ls(dir: Option<&Path>, json: bool) -> Result<ExitCode, String> {
    let d = dir.unwrap_or(Path::new(SHM_DIR));
    let entries = std::fs::read_dir(d).map_err(|e| format!("{}: {e}", d.display()))?;
    let mut rows = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let status = match dir {
            None => Status::read(&name),
            Some(_) => Status::read_file(&path),
        };
        match status {
            // Foreign files, and segments removed since the listing.
            Err(
                Error::BadMagic
                | Error::Truncated { .. }
                | Error::InvalidName { .. }
                | Error::NotFound { .. },
            ) => {}
            r => rows.push((name, path, r)),
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if json {
        let v: Vec<Json> = rows
            .iter()
            .map(|(name, path, r)| {
                let mut v = json!({ "name": name, "path": path });
                let extra = match r {
                    Ok(s) => status_json(s),
                    Err(Error::UnsupportedVersion { found, .. }) => {
                        json!({ "version": found, "error": r.as_ref().err().map(|e| e.to_string()) })
                    }
                    Err(e) => json!({ "error": e.to_string() }),
                };
                if let (Json::Object(o), Json::Object(x)) = (&mut v, extra) {
                    o.extend(x);
                }
                v
            })
            .collect();
        print_json(&Json::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<w$}  {:>10}  {:>10}  {:>7}  PROCESSES",
        "NAME", "SIZE", "USED", "VERSION"
    );
    for (name, _, r) in &rows {
        match r {
            Ok(s) => println!(
                "{name:<w$}  {:>10}  {:>10}  {:>7}  {}",
                bytes(s.size),
                bytes(s.used),
                s.version,
                processes(s)
            ),
            Err(e) => println!("{name:<w$}  ({e})"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn info(t: &Target, json: bool) -> Result<ExitCode, String> {
    let s = t.status()?;
    if json {
        let mut v = status_json(&s);
        if let Json::Object(o) = &mut v {
            o.insert("name".into(), json!(t.name));
        }
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    println!("segment        {}", t.name);
    println!("format         version {}", s.version);
    println!("size           {} ({} bytes)", bytes(s.size), s.size);
    println!(
        "used           {} in allocated blocks; high-water mark {}",
        bytes(s.used),
        bytes(s.high_water)
    );
    println!("created by     pid {}", s.creator_pid);
    println!(
        "queue          {}",
        plural(s.messages, "message", "messages")
    );
    println!(
        "root namespace {}",
        if s.has_root { "present" } else { "none yet" }
    );
    if s.in_operation {
        println!(
            "journal        open: an operation is in progress, or was cut off (`shmheap recover`)"
        );
    }
    let tw = &s.turn;
    let holder = match tw.holder {
        None => "free".to_string(),
        Some(pid) if tw.parked => format!("parked by pid {pid} (batched turns)"),
        Some(pid) if tw.holder_alive => format!("held by pid {pid}"),
        Some(pid) => format!(
            "held by pid {pid}, which is dead: `shmheap recover {}` recovers it",
            t.name
        ),
    };
    println!(
        "turn           {holder}; {} waiting ({} asleep); ticket {} served, next {}",
        tw.waiting, tw.sleepers, tw.now_serving, tw.next_ticket
    );
    println!(
        "processes      {} attached (at most {})",
        s.processes.len(),
        s.max_processes
    );
    for p in &s.processes {
        println!(
            "  pid {:<8} {:<5}  {}",
            p.pid,
            if p.alive { "alive" } else { "dead" },
            state(p.state)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A value as `dump` prints it, or its error.
fn repr(v: Result<ValueRef<'_>, Error>, depth: usize, items: usize) -> String {
    match v {
        Ok(v) => v.display_limited(depth, items).to_string(),
        Err(e) => format!("<error: {e}>"),
    }
}

fn dump(
    t: &Target,
    depth: usize,
    items: usize,
    how: TurnArgs,
    json: bool,
) -> Result<ExitCode, String> {
    let (root, root_len, queue) = t.with_turn(how, |turn| {
        let mut root = Vec::new();
        let mut root_len = 0;
        if let Some(d) = turn.root_ref()? {
            root_len = d.len();
            for kv in d.iter().take(items) {
                let (k, v) = match kv {
                    Ok((k, v)) => (repr(Ok(k), depth, items), repr(Ok(v), depth, items)),
                    Err(e) => (format!("<error: {e}>"), String::new()),
                };
                root.push((k, v));
            }
        }
        let mut queue = Vec::new();
        for i in 0..turn.message_count().min(items) {
            let Some(h) = turn.peek_message(i)? else {
                break;
            };
            queue.push((h, repr(turn.get(h), depth, items)));
        }
        Ok((root, root_len, queue))
    })?;
    let more = |n: usize| n.saturating_sub(items);
    let status = t.status().ok();
    let messages = status.as_ref().map_or(queue.len() as u64, |s| s.messages);
    if json {
        print_json(&json!({
            "name": t.name,
            "snapshot": how.no_turn,
            "root_entries": root_len,
            "root": root.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>(),
            "messages": messages,
            "queue": queue.iter().enumerate().map(|(i, (h, v))| json!({
                "index": i,
                "handle": { "offset": h.offset(), "generation": h.generation() },
                "value": v,
            })).collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "# root namespace: {}",
        plural(root_len as u64, "entry", "entries")
    );
    for (k, v) in &root {
        println!("{k}: {v}");
    }
    if more(root_len) > 0 {
        println!("... ({} more)", more(root_len));
    }
    println!(
        "# queue: {}, oldest first",
        plural(messages, "message", "messages")
    );
    for (i, (_, v)) in queue.iter().enumerate() {
        println!("{i}: {v}");
    }
    if more(messages as usize) > 0 {
        println!("... ({} more)", more(messages as usize));
    }
    Ok(ExitCode::SUCCESS)
}

fn stats(t: &Target, how: TurnArgs, json: bool) -> Result<ExitCode, String> {
    let (s, b) = t.with_turn(how, |turn| Ok((turn.stats(), turn.block_stats()?)))?;
    if json {
        print_json(&json!({
            "name": t.name,
            "snapshot": how.no_turn,
            "size": s.size,
            "used": s.used,
            "free": s.free,
            "blocks": s.blocks,
            "free_in_bins": s.free_in_bins,
            "high_water": s.high_water,
            "untouched": b.untouched,
            "largest_free_block": b.largest_free_block,
            "largest_free": b.largest_free(),
            "fragmentation": b.fragmentation(),
            "classes": b.classes.iter().map(|c| json!({
                "max_size": c.max_size,
                "allocated": c.allocated,
                "allocated_bytes": c.allocated_bytes,
                "free": c.free,
                "free_bytes": c.free_bytes,
            })).collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("size            {}", bytes(s.size));
    println!("used            {} in {} blocks", bytes(s.used), s.blocks);
    println!(
        "free            {} ({} in free blocks, {} untouched above the high-water mark)",
        bytes(s.free),
        bytes(s.free_in_bins),
        bytes(b.untouched)
    );
    println!("high-water mark {}", bytes(s.high_water));
    println!(
        "largest free    {} (largest free block {})",
        bytes(b.largest_free()),
        bytes(b.largest_free_block)
    );
    println!("fragmentation   {:.1} %", 100.0 * b.fragmentation());
    println!("blocks by size class:");
    println!(
        "  {:>10}  {:>9}  {:>10}  {:>9}  {:>10}",
        "size <=", "allocated", "bytes", "free", "bytes"
    );
    for c in &b.classes {
        println!(
            "  {:>10}  {:>9}  {:>10}  {:>9}  {:>10}",
            bytes(c.max_size),
            c.allocated,
            bytes(c.allocated_bytes),
            c.free,
            bytes(c.free_bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(t: &Target, timeout: Duration, json: bool) -> Result<ExitCode, String> {
    let how = TurnArgs {
        no_turn: false,
        timeout,
    };
    let r = t.with_turn(how, |turn| Ok(turn.validate()))?;
    let ok = r.is_ok();
    if json {
        let v = match &r {
            Ok(r) => json!({
                "name": t.name,
                "valid": true,
                "heap_bytes": r.heap_bytes,
                "blocks": r.blocks,
                "roots": r.roots,
                "messages": r.messages,
                "reachable": r.reachable,
                "orphans": r.orphans,
            }),
            Err(e) => json!({ "name": t.name, "valid": false, "error": e.to_string() }),
        };
        print_json(&v);
    } else {
        match &r {
            Ok(r) => println!(
                "{}: valid ({} blocks in {}, {} roots, {} messages, {} reachable, {} orphans)",
                t.name,
                r.blocks,
                bytes(r.heap_bytes),
                r.roots,
                r.messages,
                r.reachable,
                r.orphans
            ),
            Err(e) => println!("{}: INVALID: {e}", t.name),
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn recover(t: &Target, json: bool) -> Result<ExitCode, String> {
    let seg = t.inspect()?;
    let mut r = seg.recover().map_err(|e| t.fail(e))?;
    if r.is_none() && seg.status().in_operation {
        // No dead holder, but an operation cut off (a file-backed segment
        // whose processes all ended, an image): attaching rolls it back.
        drop(seg);
        let seg = match t.place() {
            Place::Shm(n) => SegmentOptions::default().attach(&n),
            Place::File(p) => SegmentOptions::default().attach_file(&p),
        }
        .map_err(|e| t.fail(e))?;
        r = seg.last_recovery();
        if r.is_none() {
            r = Some(shmheap::Recovery::default());
        }
    }
    let s = t.status()?;
    let dead: Vec<u32> = s
        .processes
        .iter()
        .filter(|p| !p.alive)
        .map(|p| p.pid)
        .collect();
    if json {
        let v = match &r {
            Some(r) => json!({
                "name": t.name,
                "recovered": true,
                "dead_pid": r.dead_pid,
                "records_undone": r.records_undone,
                "blocks_reclaimed": r.blocks_reclaimed,
                "bytes_reclaimed": r.bytes_reclaimed,
                "blocks": r.report.blocks,
                "messages": r.report.messages,
            }),
            None => json!({
                "name": t.name,
                "recovered": false,
                "holder": s.turn.holder,
            }),
        };
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    match r {
        Some(r) => println!(
            "{}: recovered from the death of pid {}: {} journal records undone, {} blocks \
             ({}) reclaimed; valid, {} blocks, {} messages",
            t.name,
            r.dead_pid,
            r.records_undone,
            r.blocks_reclaimed,
            bytes(r.bytes_reclaimed),
            r.report.blocks,
            r.report.messages
        ),
        None => match s.turn.holder {
            Some(pid) => println!(
                "{}: nothing to recover: the turn's holder, pid {pid}, is alive",
                t.name
            ),
            None => println!("{}: nothing to recover: the turn is free", t.name),
        },
    }
    if !dead.is_empty() {
        println!(
            "{}: records of dead processes (reused by the next attach): {dead:?}",
            t.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(t: &Target, force: bool, json: bool) -> Result<ExitCode, String> {
    // Never removes a file that is not a segment, even with --force.
    let s = t.status()?;
    let live: Vec<u32> = s.live_processes().collect();
    if !live.is_empty() && !force {
        return Err(format!(
            "{}: refused: {} live process(es) attached ({live:?}); `--force` removes the name \
             anyway (they keep their mapping)",
            t.name,
            live.len()
        ));
    }
    match t.place() {
        Place::Shm(n) => Segment::unlink(&n).map_err(|e| t.fail(e))?,
        Place::File(p) => std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", t.name))?,
    }
    if json {
        print_json(&json!({ "name": t.name, "removed": true, "live_processes": live }));
    } else {
        println!("{}: removed", t.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn watch(
    t: &Target,
    interval: Duration,
    count: Option<u64>,
    json: bool,
) -> Result<ExitCode, String> {
    let mut last = t.status()?;
    let mut at = Instant::now();
    if !json {
        println!(
            "{:>10}  {:>7}  {:>6}  {:>10}  {:>9}  HOLDER",
            "TURNS/S", "WAITING", "ASLEEP", "USED", "PROCESSES"
        );
    }
    let mut n = 0;
    while count.is_none_or(|c| n < c) {
        std::thread::sleep(interval);
        let s = t.status()?;
        let now = Instant::now();
        let turns = s.turn.now_serving.wrapping_sub(last.turn.now_serving);
        let rate = turns as f64 / now.duration_since(at).as_secs_f64();
        let holder = s.turn.holder.map(|pid| (pid, s.turn.holder_alive));
        if json {
            // One object per line (JSON Lines).
            println!(
                "{}",
                json!({
                    "turns_per_second": rate,
                    "turns": turns,
                    "waiting": s.turn.waiting,
                    "sleepers": s.turn.sleepers,
                    "used": s.used,
                    "messages": s.messages,
                    "processes": s.processes.iter().map(process_json).collect::<Vec<_>>(),
                    "holder": s.turn.holder,
                })
            );
        } else {
            let holder = match holder {
                None => "-".to_string(),
                Some((pid, true)) => pid.to_string(),
                Some((pid, false)) => format!("{pid} (dead)"),
            };
            println!(
                "{rate:>10.0}  {:>7}  {:>6}  {:>10}  {:>9}  {holder}",
                s.turn.waiting,
                s.turn.sleepers,
                bytes(s.used),
                s.processes.len()
            );
        }
        last = s;
        at = now;
        n += 1;
    }
    Ok(ExitCode::SUCCESS)
}
