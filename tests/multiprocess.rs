//! Integration tests across real processes.
//!
//! The peer of every test is this test binary itself, run as
//! `<exe> --exact peer_main --nocapture --test-threads=1` with the env var
//! `SHMHEAP_PEER=<role>` (and the role's arguments in other env vars).
//! `peer_main` returns at once in a normal test run; in a peer it runs the
//! role and ends the process with `std::process::exit(code)`. Peers talk
//! back through the segment itself, their exit code, and `@@PEER ` lines on
//! stdout.
//!
//! Everything that could hang is bounded: peers are waited for with a
//! timeout (and killed on it), every test holds a [`Watchdog`] that aborts
//! the process after two minutes, and every peer ends itself after 100 s.
//! Segment names are unique per process, test and call; the creating
//! `Segment` unlinks its name when dropped, also while a failing test
//! unwinds.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{
    Peer, Rng, ShmFile, Watchdog, env, env_handle, env_u64, handle_env, hear, name_env, peek,
    peek_u64, poke, poll, say, unique_name,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use shmheap::{Error, Handle, Segment, Turn, Value, value};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Returns an error (from a peer role) unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

const SEC: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// Segment layout (FORMAT.md: §3 header, block headers, slots), for damaging
// it on purpose. `check_layout` verifies these numbers against the live segment
// before a test relies on them.

/// Where the heap starts: the header rounded up to a page.
const HEAP_START: u64 = 24576;
/// `Header::version` (u32).
const OFF_VERSION: u64 = 8;
/// `Header::alloc.used`.
const OFF_ALLOC_USED: u64 = 2576;
/// `Header::alloc.blocks`.
const OFF_ALLOC_BLOCKS: u64 = 2584;
/// `Header::queue.head` (messages ever taken).
const OFF_QUEUE_HEAD: u64 = 4192;
/// `Header::queue.tail` (messages ever put).
const OFF_QUEUE_TAIL: u64 = 4200;
/// The undo journal's first block: 1024 payload bytes and a header.
const JOURNAL_BLOCK: u64 = 1024 + 16;
/// Block header size; a blob's payload is `len: u64` then the bytes.
const HDR: u64 = 16;
/// First slot of a tuple: block header, `len`, a reserved word.
const SEQ_SLOTS: u64 = HDR + 16;
/// Slot tag of a tuple.
const T_TUPLE: u8 = 7;

/// Checks the header offsets above against what the API reports.
fn check_layout(name: &str, turn: &Turn<'_>) {
    let st = turn.stats();
    assert_eq!(peek(name, 0, 8), b"SHMHEAP\0", "magic");
    assert_eq!(peek(name, OFF_VERSION, 4), 6u32.to_le_bytes(), "version");
    // The raw counters also count the undo journal's block (1 KiB payload
    // after a first operation), which `stats()` leaves out.
    assert_eq!(
        peek_u64(name, OFF_ALLOC_USED),
        st.used + JOURNAL_BLOCK,
        "alloc.used offset"
    );
    assert_eq!(
        peek_u64(name, OFF_ALLOC_BLOCKS),
        st.blocks + 1,
        "alloc.blocks offset"
    );
    assert_eq!(
        peek_u64(name, OFF_QUEUE_TAIL) - peek_u64(name, OFF_QUEUE_HEAD),
        turn.message_count() as u64,
        "queue.head/tail offsets"
    );
}

// ---------------------------------------------------------------------------
// The peer entry point and its roles.

#[test]
fn peer_main() {
    let Ok(role) = std::env::var(common::PEER_ENV) else {
        return;
    };
    common::peer_watchdog();
    let code = match role.as_str() {
        "attach" => peer_attach(),
        "seed" => run(peer_seed()),
        "counter" => run(peer_counter()),
        "fair" => run(peer_fair()),
        "hold" => run(peer_hold()),
        "waiter" => run(peer_waiter()),
        "roundtrip" => run(peer_roundtrip()),
        "excl" => run(peer_excl()),
        "spin" => run(peer_spin()),
        other => {
            say(format!("error unknown role {other}"));
            2
        }
    };
    std::process::exit(code);
}

fn run(r: R) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            say(format!("error {e}"));
            1
        }
    }
}

/// Exit codes of the `attach` role.
const ATTACH_OK: i32 = 0;
const ATTACH_CORRUPT: i32 = 3;
const ATTACH_BAD_MAGIC: i32 = 4;
const ATTACH_TRUNCATED: i32 = 5;
const ATTACH_VERSION: i32 = 6;
const ATTACH_OTHER: i32 = 7;
const ATTACH_READ_FAILED: i32 = 8;
const ATTACH_TOO_MANY: i32 = 9;
const ATTACH_PEER_DIED: i32 = 10;

/// Attaches to `SHMHEAP_NAME`; on success reads (takes and copies out)
/// every message. Reports the error's `Display` and exits with a code for
/// its kind.
fn peer_attach() -> i32 {
    match Segment::attach(&env("SHMHEAP_NAME")) {
        Ok(seg) => match read_all_messages(&seg) {
            Ok(n) => {
                say(format!("ok {n}"));
                ATTACH_OK
            }
            Err(e) => {
                say(format!("read-err {e}"));
                ATTACH_READ_FAILED
            }
        },
        Err(e) => {
            say(format!("err {e}"));
            match e {
                Error::Corrupt { .. } => ATTACH_CORRUPT,
                Error::BadMagic => ATTACH_BAD_MAGIC,
                Error::Truncated { .. } => ATTACH_TRUNCATED,
                Error::UnsupportedVersion { .. } => ATTACH_VERSION,
                Error::TooManyProcesses { .. } => ATTACH_TOO_MANY,
                Error::PeerDied { .. } => ATTACH_PEER_DIED,
                _ => ATTACH_OTHER,
            }
        }
    }
}

fn read_all_messages(seg: &Segment) -> Result<usize, Error> {
    let mut turn = seg.turn_timeout(10 * SEC)?;
    let mut n = 0;
    while let Some(h) = turn.take_message()? {
        turn.get(h)?.to_value()?;
        n += 1;
    }
    Ok(n)
}

/// Seed: take the message, check it, then 1000 turns of 2000 `+= 1`.
fn peer_seed() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    let expect = env_handle();
    let deadline = Instant::now() + 30 * SEC;
    let h = loop {
        let mut turn = seg.turn()?;
        if let Some(h) = turn.take_message()? {
            ensure!(h == expect, "took {h:?}, the parent put {expect:?}");
            check_seed_items(&turn, h, 0)?;
            break h;
        }
        drop(turn);
        ensure!(Instant::now() < deadline, "no message within 30 s");
        std::thread::yield_now();
    };
    // Handshake: our first counting turn comes after the parent's first.
    let hs = Handshake {
        before_first: SEED_INCREMENTS as i64,
        after_first: 0,
    };
    let interleaved = increment_loop_with(&seg, h, 1, SEED_TURNS, SEED_INCREMENTS, hs)?;
    say(format!("interleaved {interleaved}"));
    Ok(())
}

const SEED_TURNS: u64 = 1000;
const SEED_INCREMENTS: u64 = 2000;

fn seed_message() -> Value {
    value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}])
}

/// Checks the seed message's items (zero-copy where possible), with item 1
/// equal to `count`.
fn check_seed_items(turn: &Turn<'_>, h: Handle, count: i64) -> R {
    let list = turn.get(h)?.as_list()?;
    ensure!(list.len() == 4, "seed list has {} items", list.len());
    let s: &str = list.get(0)?.as_str()?;
    ensure!(s == "hello", "item 0 is {s:?}");
    let c = list.get(1)?.as_int()?;
    ensure!(c == count, "item 1 is {c}, expected {count}");
    let t = list.get(2)?.as_tuple()?;
    ensure!(
        t.len() == 3
            && t.get(0)?.as_int()? == 8
            && t.get(1)?.as_float()? == 2.0
            && !t.get(2)?.as_bool()?,
        "tuple item reads back wrong"
    );
    let tv = list.get(2)?.to_value()?;
    ensure!(tv == value!((8, 2.0, false)), "tuple is {tv:?}");
    let dv = list.get(3)?.to_value()?;
    ensure!(dv == value!({b"world": -6, 5: 4}), "dict is {dv:?}");
    let d = list.get(3)?.as_dict()?;
    let w = d
        .get(&Value::from(b"world"))?
        .map(|v| v.as_int())
        .transpose()?;
    ensure!(w == Some(-6), "dict[b'world'] is {w:?}");
    let five = d.get(&Value::Int(5))?.map(|v| v.as_int()).transpose()?;
    ensure!(five == Some(4), "dict[5] is {five:?}");
    let full = list.to_value()?;
    let mut want = seed_message();
    if let Value::List(items) = &mut want {
        items[1] = Value::Int(count);
    }
    ensure!(full == want, "list is {full:?}");
    Ok(())
}

/// `turns` turns of `incs` `+= 1` on item `item` of the list `h`. Returns
/// in how many turns the item was not what this process left in its
/// previous turn (another process got a turn in between).
fn increment_loop(seg: &Segment, h: Handle, item: usize, turns: u64, incs: u64) -> R<u64> {
    increment_loop_with(seg, h, item, turns, incs, Handshake::default())
}

/// Thresholds to wait for (polling turns that do not count) so that two
/// loops provably overlap.
#[derive(Default, Clone, Copy)]
struct Handshake {
    /// Before the first counting turn, wait until the item is at least this.
    before_first: i64,
    /// After the first counting turn, wait until the item is at least this.
    after_first: i64,
}

fn increment_loop_with(
    seg: &Segment,
    h: Handle,
    item: usize,
    turns: u64,
    incs: u64,
    hs: Handshake,
) -> R<u64> {
    let wait_for = |min: i64| -> R {
        let deadline = Instant::now() + 30 * SEC;
        while seg.turn()?.get(h)?.as_list()?.get(item)?.as_int()? < min {
            ensure!(Instant::now() < deadline, "item {item} never reached {min}");
            std::thread::yield_now();
        }
        Ok(())
    };
    wait_for(hs.before_first)?;
    let mut last: Option<i64> = None;
    let mut interleaved = 0;
    for i in 0..turns {
        {
            let mut turn = seg.turn()?;
            let mut list = turn.list_mut(h)?;
            let x = list.int_mut(item)?;
            if last.is_some_and(|l| l != *x) {
                interleaved += 1;
            }
            for _ in 0..incs {
                // black_box: a real load and store in the segment each time.
                *std::hint::black_box(&mut *x) += 1;
            }
            last = Some(*x);
        }
        if i == 0 {
            wait_for(hs.after_first)?;
        }
    }
    Ok(interleaved)
}

/// Counter: register in item 1, wait for all `SHMHEAP_N`, then increment
/// item 0.
fn peer_counter() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    let h = env_handle();
    let n = env_u64("SHMHEAP_N") as i64;
    barrier(&seg, h, n)?;
    increment_loop(
        &seg,
        h,
        0,
        env_u64("SHMHEAP_TURNS"),
        env_u64("SHMHEAP_INCS"),
    )?;
    Ok(())
}

/// Counts this process in item 1 of the list `h`, then waits until `n`
/// processes have.
fn barrier(seg: &Segment, h: Handle, n: i64) -> R {
    *seg.turn()?.list_mut(h)?.int_mut(1)? += 1;
    let deadline = Instant::now() + 30 * SEC;
    loop {
        let ready = seg.turn()?.get(h)?.as_list()?.get(1)?.as_int()?;
        if ready == n {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "only {ready} of {n} peers came");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Fairness entry phases.
const PHASE_ARRIVE: i64 = 0;
const PHASE_WORK: i64 = 1;
const PHASE_BARRIER: i64 = 2;

/// Fair: every turn this process takes after attaching appends
/// `(id, waiters, phase, ready)` to the list `h` (item 0 counts the
/// processes that arrived).
fn peer_fair() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    let h = env_handle();
    let id = env_u64("SHMHEAP_ID") as i64;
    let n = env_u64("SHMHEAP_N") as i64;
    let k = env_u64("SHMHEAP_K");
    {
        let mut turn = seg.turn()?;
        let w = turn.waiters() as i64;
        let mut list = turn.list_mut(h)?;
        let x = list.int_mut(0)?;
        *x += 1;
        let ready = *x;
        list.push(value!((id, w, PHASE_ARRIVE, ready)))?;
    }
    let deadline = Instant::now() + 30 * SEC;
    loop {
        let mut turn = seg.turn()?;
        let w = turn.waiters() as i64;
        let mut list = turn.list_mut(h)?;
        let ready = list.get(0)?.as_int()?;
        list.push(value!((id, w, PHASE_BARRIER, ready)))?;
        drop(turn);
        if ready == n {
            break;
        }
        ensure!(Instant::now() < deadline, "only {ready} of {n} peers came");
        std::thread::sleep(Duration::from_micros(500));
    }
    for i in 0..k {
        let mut turn = seg.turn()?;
        // Now and then linger in the turn, so that the others surely queue
        // up behind it even on a loaded machine.
        if i % 5 == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
        // Read inside the turn, before it ends: every ticket counted here
        // was handed out already and is served before any later one.
        let w = turn.waiters() as i64;
        turn.list_mut(h)?.push(value!((id, w, PHASE_WORK, 0)))?;
    }
    Ok(())
}

/// Hold: put "held" and keep the turn for `SHMHEAP_HOLD_MS` (0: until
/// killed); then, if `SHMHEAP_AFTER` is 1, take one more turn and put
/// "peer-after".
fn peer_hold() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    let hold = env_u64("SHMHEAP_HOLD_MS");
    let mut turn = seg.turn()?;
    turn.put_message(&Value::from("held"))?;
    say("holding");
    if hold == 0 {
        loop {
            std::thread::sleep(SEC);
        }
    }
    std::thread::sleep(Duration::from_millis(hold));
    drop(turn);
    if env_u64("SHMHEAP_AFTER") == 1 {
        let mut turn = seg.turn_timeout(10 * SEC)?;
        turn.put_message(&Value::from("peer-after"))?;
    }
    say("done");
    Ok(())
}

/// Waiter: attach, say so, wait for "go" on stdin, then wait for the turn
/// and put `SHMHEAP_TAG`.
fn peer_waiter() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    say("attached");
    let go = hear();
    ensure!(go == "go", "expected go, got {go:?}");
    let mut turn = seg.turn_timeout(20 * SEC)?;
    turn.put_message(&Value::from(env("SHMHEAP_TAG")))?;
    drop(turn);
    say("got");
    Ok(())
}

/// Roundtrip: `SHMHEAP_N` times, take a message, copy it out, free it and
/// put the copy back as a new message.
fn peer_roundtrip() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    for i in 0..env_u64("SHMHEAP_N") {
        let mut turn = seg.turn()?;
        let h = turn.take_message()?.ok_or(format!("queue empty at {i}"))?;
        let v = turn.get(h)?.to_value()?;
        turn.free(h)?;
        turn.put_message(&v)?;
    }
    Ok(())
}

/// Excl: `SHMHEAP_ITERS` attempts at the turn, most with short timeouts.
/// Inside each turn: item 0 (who is inside) must be 0; set it, work a bit
/// (yielding the CPU), count in item 1, check item 0 is still ours, clear
/// it. Reports `ok <turns> timeouts <n>`.
fn peer_excl() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    let h = env_handle();
    let me = env_u64("SHMHEAP_ID") as i64 + 1;
    let (mut ok, mut timeouts) = (0u64, 0u64);
    for i in 0..env_u64("SHMHEAP_ITERS") {
        let timeout = [None, Some(0), Some(20), Some(100), Some(500), Some(2000)][i as usize % 6];
        let turn = match timeout {
            None => Some(seg.turn()?),
            Some(us) => match seg.turn_timeout(Duration::from_micros(us)) {
                Ok(t) => Some(t),
                Err(Error::Timeout) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let Some(mut turn) = turn else {
            timeouts += 1;
            continue;
        };
        let mut list = turn.list_mut(h)?;
        let inside = *list.int_mut(0)?;
        ensure!(
            inside == 0,
            "entered the turn while process {inside} is inside"
        );
        *list.int_mut(0)? = me;
        for j in 0..200u32 {
            std::hint::black_box(j);
            if j % 50 == 0 {
                std::thread::yield_now();
            }
        }
        *list.int_mut(1)? += 1;
        let inside = *list.int_mut(0)?;
        ensure!(inside == me, "process {inside} entered during our turn");
        *list.int_mut(0)? = 0;
        ok += 1;
    }
    say(format!("ok {ok} timeouts {timeouts}"));
    Ok(())
}

/// Spin: say "attached", then take turns adding to item 0 until item 2
/// is 1.
fn peer_spin() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    let h = env_handle();
    say("attached");
    loop {
        let mut turn = seg.turn()?;
        let mut list = turn.list_mut(h)?;
        if list.get(2)?.as_int()? == 1 {
            return Ok(());
        }
        let x = list.int_mut(0)?;
        // Stay in the turn a while, so a kill often lands inside it.
        for _ in 0..20_000 {
            *std::hint::black_box(&mut *x) += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// 1. The seed scenario.

#[test]
fn seed_scenario_two_processes_count_exactly() {
    let _wd = Watchdog::test("seed");
    let name = unique_name("seed");
    let seg = Segment::create(&name, 16 << 20).unwrap();
    let h = seg.turn().unwrap().put_message(&seed_message()).unwrap();
    let [off, generation] = handle_env(h);
    let mut peer = Peer::spawn("seed", &[name_env(&name), off, generation]);
    // Start only once the peer has taken the message (so both loops run at
    // the same time).
    poll("the peer to take the message", 30 * SEC, || {
        if let Some(s) = peer.try_status() {
            panic!("peer exited early: {}", common::describe(s));
        }
        (!seg.turn().unwrap().has_messages().unwrap()).then_some(())
    });
    let start = Instant::now();
    // Handshake: after our first turn, wait for the peer's first, so the
    // loops provably overlap (the peer's first turn falls between our first
    // and second), however the scheduler runs the two processes.
    let hs = Handshake {
        before_first: 0,
        after_first: 2 * SEED_INCREMENTS as i64,
    };
    let mine = increment_loop_with(&seg, h, 1, SEED_TURNS, SEED_INCREMENTS, hs).unwrap();
    let lines = peer.finish_with(0, 60 * SEC);
    let elapsed = start.elapsed();
    let theirs: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("interleaved "))
        .unwrap_or_else(|| panic!("peer did not report; lines {lines:?}"))
        .parse()
        .unwrap();
    eprintln!(
        "seed: {} turns in {elapsed:?}; interleaved turns: parent {mine}, peer {theirs}",
        2 * SEED_TURNS
    );
    // The parent saw the peer's increments between two of its own turns:
    // the loops really overlapped. (Usually they alternate turn by turn.)
    assert!(
        mine > 0,
        "the parent never saw the peer's work between turns"
    );
    let mut turn = seg.turn().unwrap();
    let total = 2 * SEED_TURNS * SEED_INCREMENTS;
    assert_eq!(total, 4_000_000);
    assert_eq!(
        turn.get(h)
            .unwrap()
            .as_list()
            .unwrap()
            .get(1)
            .unwrap()
            .as_int()
            .unwrap(),
        total as i64
    );
    check_seed_items(&turn, h, total as i64).unwrap();
    turn.validate().unwrap();
    turn.free(h).unwrap();
    assert_eq!(
        turn.stats().blocks,
        1,
        "only the queue ring stays allocated"
    );
}

// ---------------------------------------------------------------------------
// 2. N processes, one counter.

fn shared_counter(test: &str, n: usize, turns: u64, incs: u64) {
    let _wd = Watchdog::test(test);
    let name = unique_name(test);
    let seg = Segment::options()
        .size(1 << 20)
        .max_processes(n as u32 + 1)
        .create(&name)
        .unwrap();
    let h = {
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&value!([0, 0])).unwrap();
        assert_eq!(turn.take_message().unwrap(), Some(h));
        h
    };
    let start = Instant::now();
    let mut peers: Vec<Peer> = (0..n)
        .map(|_| {
            let [a, b] = handle_env(h);
            Peer::spawn(
                "counter",
                &[
                    name_env(&name),
                    a,
                    b,
                    ("SHMHEAP_N", n.to_string()),
                    ("SHMHEAP_TURNS", turns.to_string()),
                    ("SHMHEAP_INCS", incs.to_string()),
                ],
            )
        })
        .collect();
    for p in &mut peers {
        p.finish_with(0, 90 * SEC);
    }
    let elapsed = start.elapsed();
    let turn = seg.turn().unwrap();
    let list = turn.get(h).unwrap().as_list().unwrap();
    assert_eq!(list.get(1).unwrap().as_int().unwrap(), n as i64, "arrivals");
    let want = n as u64 * turns * incs;
    assert_eq!(list.get(0).unwrap().as_int().unwrap(), want as i64);
    turn.validate().unwrap();
    eprintln!("{test}: {n} processes x {turns} turns x {incs} increments = {want} in {elapsed:?}");
}

#[test]
fn shared_counter_4_processes() {
    shared_counter("counter4", 4, 2000, 100);
}

#[test]
fn shared_counter_16_processes() {
    shared_counter("counter16", 16, 500, 50);
}

// ---------------------------------------------------------------------------
// 3. FIFO fairness.

/// Four processes each take `K` work turns and, in each, append `(id,
/// waiters)` to a shared list (with every other turn they take after
/// attaching recorded as well, marked by phase).
///
/// Why the checks below must hold: tickets are served strictly in order,
/// and a process holds at most one ticket at a time (one `Segment`, one
/// thread; `turn()` takes a ticket only after the previous turn was
/// dropped). So when the holder of ticket `t` reads `waiters() = w`, the
/// tickets `t+1 ..= t+w` have been handed out already, to `w` *other*,
/// *distinct* processes, and nobody gives up a ticket here (no timeouts, no
/// deaths). Those `w` tickets are the next `w` turns to be served; a ticket
/// the holder takes after its turn ends is greater than all of them. Hence,
/// as long as every turn taken is recorded in order:
///
/// - `w <= N - 1`;
/// - if `w >= 1`, the next recorded turn belongs to another process (no
///   process takes two turns in a row while another waits);
/// - more strongly, turns `i ..= i + w` belong to `w + 1` distinct processes.
///
/// "Every turn is recorded" holds from the turn in which the last process
/// arrives: all attaches (whose validation takes an unrecorded turn) came
/// before it. So the checks run on the entries from that one on.
#[test]
fn fifo_fairness_four_processes() {
    const N: i64 = 4;
    let k: u64 = if cfg!(debug_assertions) { 500 } else { 2000 };
    let _wd = Watchdog::test("fair");
    let name = unique_name("fair");
    let seg = Segment::create(&name, 16 << 20).unwrap();
    let h = {
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&value!([0])).unwrap();
        turn.take_message().unwrap();
        h
    };
    let mut peers: Vec<Peer> = (0..N)
        .map(|id| {
            let [a, b] = handle_env(h);
            Peer::spawn(
                "fair",
                &[
                    name_env(&name),
                    a,
                    b,
                    ("SHMHEAP_ID", id.to_string()),
                    ("SHMHEAP_N", N.to_string()),
                    ("SHMHEAP_K", k.to_string()),
                ],
            )
        })
        .collect();
    for p in &mut peers {
        p.finish_with(0, 90 * SEC);
    }
    let turn = seg.turn().unwrap();
    let Value::List(items) = turn.get(h).unwrap().to_value().unwrap() else {
        panic!("not a list")
    };
    assert_eq!(items[0], Value::Int(N), "arrivals");
    let entries: Vec<[i64; 4]> = items[1..]
        .iter()
        .map(|e| match e {
            Value::Tuple(t) => {
                let f = |i: usize| match t[i] {
                    Value::Int(x) => x,
                    ref o => panic!("entry field {o:?}"),
                };
                [f(0), f(1), f(2), f(3)]
            }
            o => panic!("entry {o:?}"),
        })
        .collect();
    let start = entries
        .iter()
        .position(|e| e[2] == PHASE_ARRIVE && e[3] == N)
        .expect("the last arrival is recorded");
    let tail = &entries[start..];
    let mut work = HashMap::new();
    let mut with_waiters = 0;
    for (i, e) in tail.iter().enumerate() {
        let (id, w) = (e[0], e[1]);
        assert!((0..N).contains(&id), "bad id {id}");
        assert!(
            (0..N).contains(&w),
            "turn {i}: waiters() = {w} with only {N} processes"
        );
        if e[2] == PHASE_WORK {
            *work.entry(id).or_insert(0u64) += 1;
            with_waiters += (w >= 1) as u64;
        }
        if w >= 1
            && let Some(next) = tail.get(i + 1)
        {
            assert_ne!(
                next[0],
                id,
                "turn {i} of process {id} had {w} waiters, yet the next turn is its own again; \
                 around: {:?}",
                &tail[i.saturating_sub(3)..(i + 4).min(tail.len())]
            );
        }
        let window: Vec<i64> = tail[i..(i + 1 + w as usize).min(tail.len())]
            .iter()
            .map(|e| e[0])
            .collect();
        let mut distinct = window.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            window.len(),
            "turn {i} had {w} waiters but the next turns were by {window:?}"
        );
    }
    for id in 0..N {
        assert_eq!(
            work.get(&id).copied(),
            Some(k),
            "work turns of process {id}"
        );
    }
    // Non-vacuous: the processes really contended.
    assert!(
        with_waiters > 0,
        "no work turn had a waiter: the processes never contended"
    );
    eprintln!(
        "fair: {} recorded turns after the last arrival, {with_waiters} of {} work turns had waiters",
        tail.len(),
        N as u64 * k
    );
}

// ---------------------------------------------------------------------------
// 4. Timeouts.

#[test]
fn timeout_while_peer_holds_the_turn() {
    let _wd = Watchdog::test("timeout");
    let name = unique_name("timeout");
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let mut peer = Peer::spawn(
        "hold",
        &[
            name_env(&name),
            // Long enough for the checks below on a loaded machine (at
            // 1 s, 600 zero timeouts once outran the hold there).
            ("SHMHEAP_HOLD_MS", "5000".into()),
            ("SHMHEAP_AFTER", "1".into()),
        ],
    );
    peer.expect("holding", 30 * SEC);
    let held_since = Instant::now();
    assert!(
        seg.try_turn().unwrap().is_none(),
        "try_turn while the peer holds the turn"
    );
    // Three abandoned tickets in a row.
    for _ in 0..3 {
        let t0 = Instant::now();
        let r = seg.turn_timeout(Duration::from_millis(50));
        let took = t0.elapsed();
        assert!(matches!(r, Err(Error::Timeout)), "got {r:?}");
        assert!(
            took >= Duration::from_millis(50),
            "timed out early: {took:?}"
        );
        assert!(
            took < Duration::from_millis(500),
            "timed out late: {took:?}"
        );
    }
    // Many more than the 256 ticket slots: giving up must not use up
    // tickets (or the ring of waiter slots would wrap onto live tickets).
    for i in 0..600 {
        let r = seg.turn_timeout(Duration::ZERO);
        assert!(matches!(r, Err(Error::Timeout)), "zero timeout {i}: {r:?}");
    }
    assert!(seg.try_turn().unwrap().is_none(), "try_turn again");
    assert!(
        held_since.elapsed() < Duration::from_millis(5000),
        "the checks above were too slow to run while the peer held the turn"
    );
    // The queue of turns goes on past the abandoned tickets: we get the
    // turn as soon as the peer lets go.
    let t0 = Instant::now();
    {
        let turn = seg.turn_timeout(10 * SEC).unwrap();
        eprintln!("timeout: got the turn {:?} after asking", t0.elapsed());
        let first = turn.read_message().unwrap().expect("the peer's message");
        assert_eq!(turn.get(first).unwrap().as_str().unwrap(), "held");
    }
    // ... and so does the peer's next turn.
    peer.finish_with(0, 30 * SEC);
    let mut turn = seg.turn_timeout(10 * SEC).unwrap();
    let mut got = Vec::new();
    while let Some(h) = turn.take_message().unwrap() {
        got.push(turn.get(h).unwrap().to_value().unwrap());
        turn.free(h).unwrap();
    }
    assert_eq!(got, vec![Value::from("held"), Value::from("peer-after")]);
    drop(turn);
    // Free again: try_turn gets it.
    assert!(seg.try_turn().unwrap().is_some(), "try_turn on a free turn");
}

/// Three processes hammer the turn, mostly with short timeouts: abandoned
/// tickets never let two processes in at once, and every turn taken is
/// counted exactly once.
#[test]
fn timeouts_under_contention_keep_mutual_exclusion() {
    const N: usize = 3;
    let iters: u64 = if cfg!(debug_assertions) { 2000 } else { 6000 };
    let _wd = Watchdog::test("excl");
    let name = unique_name("excl");
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let h = {
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&value!([0, 0])).unwrap();
        turn.take_message().unwrap();
        h
    };
    let mut peers: Vec<Peer> = (0..N)
        .map(|id| {
            let [a, b] = handle_env(h);
            Peer::spawn(
                "excl",
                &[
                    name_env(&name),
                    a,
                    b,
                    ("SHMHEAP_ID", id.to_string()),
                    ("SHMHEAP_ITERS", iters.to_string()),
                ],
            )
        })
        .collect();
    let (mut ok, mut timeouts) = (0u64, 0u64);
    for p in &mut peers {
        let lines = p.finish_with(0, 90 * SEC);
        let l = lines
            .iter()
            .find(|l| l.starts_with("ok "))
            .unwrap_or_else(|| panic!("no report in {lines:?}"));
        let w: Vec<&str> = l.split(' ').collect();
        ok += w[1].parse::<u64>().unwrap();
        timeouts += w[3].parse::<u64>().unwrap();
    }
    assert_eq!(ok + timeouts, N as u64 * iters);
    let turn = seg.turn().unwrap();
    let list = turn.get(h).unwrap().as_list().unwrap();
    assert_eq!(
        list.get(0).unwrap().as_int().unwrap(),
        0,
        "someone is still inside"
    );
    assert_eq!(
        list.get(1).unwrap().as_int().unwrap(),
        ok as i64,
        "turns counted"
    );
    eprintln!("excl: {ok} turns, {timeouts} timeouts");
    assert!(
        timeouts > 0,
        "no timeout happened: the test exercised nothing"
    );
}

// ---------------------------------------------------------------------------
// 5. Dead peers.

/// Kills the peer holding the turn while the parent waits for it; the
/// peer is reaped at once (a zombie still counts as alive for `kill(pid,
/// 0)`).
#[test]
fn peer_killed_while_holding_gives_peer_died() {
    let _wd = Watchdog::test("died-holding");
    let name = unique_name("died-holding");
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let mut peer = Peer::spawn(
        "hold",
        &[
            name_env(&name),
            ("SHMHEAP_HOLD_MS", "0".into()),
            ("SHMHEAP_AFTER", "0".into()),
        ],
    );
    peer.expect("holding", 30 * SEC);
    let pid = peer.pid;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let status = peer.kill();
        (t, status)
    });
    let r = seg.turn_timeout(20 * SEC);
    let failed_at = Instant::now();
    let (killed_at, status) = killer.join().unwrap();
    assert!(status.is_some(), "the peer was running");
    match r {
        Err(Error::PeerDied { pid: p }) => assert_eq!(p, pid, "PeerDied names the wrong pid"),
        other => panic!("expected PeerDied {{ pid: {pid} }}, got {other:?}"),
    }
    assert!(
        failed_at > killed_at,
        "PeerDied came before the peer was killed"
    );
    let latency = failed_at - killed_at;
    eprintln!("died-holding: PeerDied {latency:?} after the kill");
    assert!(latency < 2 * SEC, "PeerDied took {latency:?}");
    // The dead holder keeps the turn until someone recovers: asking again
    // says so again...
    let r = seg.turn_timeout(10 * SEC);
    assert!(
        matches!(r, Err(Error::PeerDied { pid: p }) if p == pid),
        "second ask: {r:?}"
    );
    // ...and a process attaching now recovers the segment (attaching needs
    // a sound one) instead of hanging or failing; then everyone goes on.
    let lines = Peer::spawn("attach", &[name_env(&name)]).finish_with(ATTACH_OK, 30 * SEC);
    assert!(lines.iter().any(|l| l == "ok 1"), "{lines:?}");
    let turn = seg
        .turn_timeout(10 * SEC)
        .expect("the turn after the recovery");
    // (the attaching peer read the dead holder's committed message, "ok 1",
    // and took it)
    assert_eq!(turn.message_count(), 0);
    assert_eq!(turn.validate().unwrap().orphans, 0);
}

/// As above, but the peer is not reaped until the parent's wait has ended:
/// the dead holder is a zombie meanwhile, which `kill(pid, 0)` still finds.
#[test]
fn peer_killed_while_holding_detected_before_reaping() {
    let _wd = Watchdog::test("died-zombie");
    let name = unique_name("died-zombie");
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let mut peer = Peer::spawn(
        "hold",
        &[
            name_env(&name),
            ("SHMHEAP_HOLD_MS", "0".into()),
            ("SHMHEAP_AFTER", "0".into()),
        ],
    );
    peer.expect("holding", 30 * SEC);
    // SIGKILL without waiting (what `Child::kill` alone does).
    let pid = peer.pid;
    sigkill_no_reap(pid);
    let killed_at = Instant::now();
    let r = seg.turn_timeout(3 * SEC);
    let latency = killed_at.elapsed();
    drop(peer); // reaps
    match r {
        Err(Error::PeerDied { pid: p }) => assert_eq!(p, pid),
        other => panic!(
            "expected PeerDied {{ pid: {pid} }} for a killed (unreaped) holder, got {other:?} \
             after {latency:?}"
        ),
    }
    assert!(latency < 2 * SEC, "PeerDied took {latency:?}");
}

/// SIGKILL by pid without reaping.
fn sigkill_no_reap(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid}");
}

/// A peer queued behind the parent is killed while it waits; neither the
/// next live waiter nor the parent is blocked by its dead ticket.
#[test]
fn peer_killed_while_waiting_does_not_block() {
    let _wd = Watchdog::test("died-waiting");
    let name = unique_name("died-waiting");
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let spawn = |tag: &str| {
        let mut p = Peer::spawn(
            "waiter",
            &[name_env(&name), ("SHMHEAP_TAG", tag.to_owned())],
        );
        p.expect("attached", 30 * SEC);
        p
    };
    // Case 1: dead waiter A queued before a live waiter B.
    let mut a = spawn("A");
    let mut b = spawn("B");
    let turn = seg.turn().unwrap();
    a.send("go");
    poll("A to queue", 10 * SEC, || {
        (turn.waiters() >= 1).then_some(())
    });
    b.send("go");
    poll("B to queue", 10 * SEC, || {
        (turn.waiters() >= 2).then_some(())
    });
    assert_eq!(turn.waiters(), 2);
    a.kill();
    let released = Instant::now();
    drop(turn);
    b.finish_with(0, 10 * SEC);
    let b_latency = released.elapsed();
    eprintln!("died-waiting: B got the turn {b_latency:?} after the release");
    assert!(
        b_latency < 2 * SEC,
        "B waited {b_latency:?} behind a dead ticket"
    );
    {
        let mut turn = seg.turn_timeout(2 * SEC).unwrap();
        let h = turn.take_message().unwrap().expect("B's message");
        assert_eq!(turn.get(h).unwrap().as_str().unwrap(), "B");
        turn.free(h).unwrap();
        assert!(!turn.has_messages().unwrap(), "A never got the turn");
    }
    // Case 2: the dead waiter C is the only one; the parent's next turn.
    let mut c = spawn("C");
    let turn = seg.turn().unwrap();
    c.send("go");
    poll("C to queue", 10 * SEC, || {
        (turn.waiters() >= 1).then_some(())
    });
    c.kill();
    drop(turn);
    for i in 0..5 {
        let t0 = Instant::now();
        let turn = seg.turn_timeout(2 * SEC);
        let took = t0.elapsed();
        assert!(turn.is_ok(), "turn {i} after the dead waiter: {turn:?}");
        assert!(took < 2 * SEC, "turn {i} took {took:?}");
        assert!(
            !turn.unwrap().has_messages().unwrap(),
            "C never got the turn"
        );
    }
}

/// A peer is killed at some moment while three processes hammer the turn.
/// Whatever it was doing, the others never hang: either the turn goes on
/// (it died outside the turn, or while waiting) or everyone waiting gets
/// `PeerDied` with its pid (it died holding the turn).
#[test]
fn peer_killed_during_contention_never_hangs_the_others() {
    let _wd = Watchdog::test("chaos");
    let rounds = 8;
    let (mut went_on, mut died_holding) = (0, 0);
    for round in 0..rounds {
        let name = unique_name("chaos");
        let seg = Segment::create(&name, 1 << 20).unwrap();
        let h = {
            let mut turn = seg.turn().unwrap();
            let h = turn.put_message(&value!([0, 0, 0])).unwrap();
            turn.take_message().unwrap();
            h
        };
        let mut peers: Vec<Peer> = (0..3)
            .map(|_| {
                let [a, b] = handle_env(h);
                let mut p = Peer::spawn("spin", &[name_env(&name), a, b]);
                p.expect("attached", 30 * SEC);
                p
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30 + 10 * round));
        let victim = peers[0].pid;
        assert!(
            peers[0].kill().is_some(),
            "round {round}: the victim had exited"
        );
        let t0 = Instant::now();
        match seg.turn_timeout(5 * SEC) {
            Ok(mut turn) => {
                went_on += 1;
                let mut list = turn.list_mut(h).unwrap();
                assert!(list.get(0).unwrap().as_int().unwrap() > 0, "nobody counted");
                *list.int_mut(2).unwrap() = 1;
                drop(turn);
                for p in &mut peers[1..] {
                    p.finish_with(0, 10 * SEC);
                }
            }
            Err(Error::PeerDied { pid }) => {
                died_holding += 1;
                assert_eq!(pid, victim, "round {round}: PeerDied names another pid");
                for p in &mut peers[1..] {
                    let lines = p.finish_with(1, 10 * SEC);
                    let want = format!("error process {victim} died");
                    assert!(
                        lines.iter().any(|l| l.starts_with(&want)),
                        "round {round}: survivor said {lines:?}"
                    );
                }
            }
            Err(e) => panic!(
                "round {round}: after killing {victim}, turn_timeout gave {e:?} after {:?}",
                t0.elapsed()
            ),
        }
    }
    eprintln!("chaos: {went_on} rounds went on, {died_holding} rounds the victim held the turn");
}

/// The process table holds `max_processes`; a killed process's slot is
/// reused.
#[test]
fn process_table_full_and_dead_slot_reused() {
    let _wd = Watchdog::test("proctable");
    let name = unique_name("proctable");
    let seg = Segment::options()
        .size(1 << 20)
        .max_processes(2)
        .create(&name)
        .unwrap();
    let mut a = Peer::spawn("waiter", &[name_env(&name), ("SHMHEAP_TAG", "A".into())]);
    a.expect("attached", 30 * SEC);
    let procs = seg.processes();
    assert!(
        procs.contains(&a.pid) && procs.contains(&std::process::id()),
        "{procs:?}"
    );
    let (status, lines) = Peer::spawn("attach", &[name_env(&name)]).finish(30 * SEC);
    assert_eq!(
        status.code(),
        Some(ATTACH_TOO_MANY),
        "third process: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("process table is full")),
        "{lines:?}"
    );
    // SIGKILL: A never unregisters; its slot is taken over.
    a.kill();
    let (status, lines) = Peer::spawn("attach", &[name_env(&name)]).finish(30 * SEC);
    assert_eq!(status.code(), Some(ATTACH_OK), "after A died: {lines:?}");
}

// ---------------------------------------------------------------------------
// 6. Corrupt segments.

struct Fixture {
    seg: Segment,
    name: String,
    /// `["hello world", (1, (2, "x")), 3.5, [1, 2]]`
    list: Handle,
    /// `"a string to damage"`
    str: Handle,
    /// `(10, "t", None)`
    tuple: Handle,
}

fn fixture(test: &str) -> Fixture {
    let name = unique_name(test);
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let (list, str, tuple) = {
        let mut turn = seg.turn().unwrap();
        let list = turn
            .put_message(&value!(["hello world", (1, (2, "x")), 3.5, [1, 2]]))
            .unwrap();
        let str = turn
            .put_message(&Value::from("a string to damage"))
            .unwrap();
        let tuple = turn.put_message(&value!((10, "t", None))).unwrap();
        turn.put_message(&Value::from(b"some bytes")).unwrap();
        turn.put_message(&Value::Int(7)).unwrap();
        check_layout(&name, &turn);
        (list, str, tuple)
    };
    Fixture {
        seg,
        name,
        list,
        str,
        tuple,
    }
}

/// Each damage makes a peer's `Segment::attach` fail with `Error::Corrupt`
/// (exit code 3, and the error's `Display` on stdout), never a panic.
#[test]
fn corrupt_segment_peer_attach_gets_corrupt() {
    let _wd = Watchdog::test("corrupt");
    type Damage = fn(&Fixture);
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "str bytes not UTF-8",
            |f| poke(&f.name, f.str.offset() + HDR + 8, &[0xff, 0xfe, 0xc0]),
            "UTF-8",
        ),
        (
            "block size word garbage",
            |f| {
                let w0 = peek_u64(&f.name, f.list.offset());
                let bad = 0xdead_beef_0000_0000 | (w0 & 15);
                poke(&f.name, f.list.offset(), &bad.to_le_bytes());
            },
            "",
        ),
        (
            "str length past its block",
            |f| poke(&f.name, f.str.offset() + HDR, &(u64::MAX - 7).to_le_bytes()),
            "",
        ),
        (
            "unknown slot tag",
            |f| poke(&f.name, f.tuple.offset() + SEQ_SLOTS, &[0x77]),
            "slot tag",
        ),
        (
            "cycle: tuple item points at the tuple",
            |f| {
                let at = f.tuple.offset() + SEQ_SLOTS + 16;
                let mut slot = [0u8; 16];
                slot[0] = T_TUPLE;
                slot[8..].copy_from_slice(&f.tuple.offset().to_le_bytes());
                poke(&f.name, at, &slot);
            },
            "",
        ),
        (
            "queue length garbage",
            |f| poke(&f.name, OFF_QUEUE_TAIL, &1000u64.to_le_bytes()),
            "",
        ),
        (
            "generation of a queued object changed",
            |f| {
                let w1 = peek_u64(&f.name, f.str.offset() + 8);
                poke(&f.name, f.str.offset() + 8, &(w1 + (1 << 8)).to_le_bytes());
            },
            "",
        ),
        (
            "allocator counter off",
            |f| {
                let used = peek_u64(&f.name, OFF_ALLOC_USED);
                poke(&f.name, OFF_ALLOC_USED, &(used + 16).to_le_bytes());
            },
            "",
        ),
    ];
    for (what, damage, needle) in cases {
        let f = fixture("corrupt");
        damage(&f);
        let mut peer = Peer::spawn("attach", &[name_env(&f.name)]);
        let lines = peer.finish(30 * SEC);
        let (status, lines) = lines;
        assert_eq!(
            status.code(),
            Some(ATTACH_CORRUPT),
            "{what}: peer exited with {} (expected Corrupt, code {ATTACH_CORRUPT}); lines {lines:?}",
            common::describe(status)
        );
        let msg = lines
            .iter()
            .find_map(|l| l.strip_prefix("err "))
            .unwrap_or_else(|| panic!("{what}: no error line in {lines:?}"));
        assert!(
            msg.starts_with("corrupt segment at offset"),
            "{what}: Display is {msg:?}"
        );
        assert!(msg.contains(needle), "{what}: {msg:?} lacks {needle:?}");
        eprintln!("corrupt: {what}: {msg}");
        // The creator's own view agrees.
        let r = f.seg.turn().unwrap().validate();
        assert!(
            matches!(r, Err(Error::Corrupt { .. })),
            "{what}: validate() in the creator gave {r:?}"
        );
    }
}

/// Random byte damage in the heap and the allocator/queue state: attaching
/// (and then reading every message) gives Ok or an error, never a panic.
/// Mostly in-process (fast); a few rounds through a peer.
#[test]
fn random_damage_never_panics() {
    let _wd = Watchdog::test("random-damage");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let rounds = if cfg!(debug_assertions) { 400 } else { 1000 };
    let mut outcomes: HashMap<String, u32> = HashMap::new();
    for round in 0..rounds {
        let f = fixture("rdmg");
        let top = f.seg.turn().unwrap().stats().high_water;
        let mut notes = Vec::new();
        for _ in 0..1 + rng.below(4) {
            if rng.below(8) == 0 {
                // A word of the allocator or queue state.
                let off = 4736 + 8 * rng.below((5856 - 4736) / 8);
                let v = match rng.below(3) {
                    0 => rng.next(),
                    1 => rng.below(1 << 20),
                    _ => peek_u64(&f.name, off) ^ (1 << rng.below(64)),
                };
                poke(&f.name, off, &v.to_le_bytes());
                notes.push(format!("word {off}={v:#x}"));
            } else {
                let off = HEAP_START + rng.below(top - HEAP_START);
                let b = rng.next() as u8;
                poke(&f.name, off, &[b]);
                notes.push(format!("byte {off}={b:#x}"));
            }
        }
        let name = f.name.clone();
        let r = std::panic::catch_unwind(|| match Segment::attach(&name) {
            Ok(seg) => match read_all_messages(&seg) {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("read-err {e}"),
            },
            Err(Error::Corrupt { .. }) => "corrupt".to_owned(),
            Err(e) => format!("other {e}"),
        });
        let outcome = r.unwrap_or_else(|_| panic!("round {round}: panic with damage {notes:?}"));
        assert!(
            outcome == "ok" || outcome == "corrupt",
            "round {round}: damage {notes:?} gave {outcome}"
        );
        *outcomes.entry(outcome).or_default() += 1;
    }
    // A few rounds with a real peer.
    for round in 0..3 {
        let f = fixture("rdmg-peer");
        let top = f.seg.turn().unwrap().stats().high_water;
        let mut notes = Vec::new();
        for _ in 0..4 {
            let off = HEAP_START + rng.below(top - HEAP_START);
            let b = rng.next() as u8;
            poke(&f.name, off, &[b]);
            notes.push((off, b));
        }
        let (status, lines) = Peer::spawn("attach", &[name_env(&f.name)]).finish(30 * SEC);
        assert!(
            matches!(status.code(), Some(ATTACH_OK | ATTACH_CORRUPT)),
            "peer round {round}: damage {notes:?}: {}; lines {lines:?}",
            common::describe(status)
        );
    }
    eprintln!("random-damage: {outcomes:?}");
}

#[test]
fn foreign_file_gives_bad_magic() {
    let _wd = Watchdog::test("foreign");
    let mut rng = Rng(42);
    let name = unique_name("foreign");
    let _file = ShmFile::create(&name, &rng.bytes(64 << 10));
    let r = Segment::attach(&name);
    assert!(
        matches!(r, Err(Error::BadMagic | Error::Corrupt { .. })),
        "{r:?}"
    );
    // Also in a peer, which must exit cleanly with the error.
    let mut peer = Peer::spawn("attach", &[name_env(&name)]);
    let (status, lines) = peer.finish(30 * SEC);
    assert!(
        matches!(status.code(), Some(ATTACH_BAD_MAGIC | ATTACH_CORRUPT)),
        "peer: {}; lines {lines:?}",
        common::describe(status)
    );
    // Tiny objects: empty, shorter than the magic, a foreign 16 bytes.
    for (what, bytes) in [
        ("empty", &[][..]),
        ("4 bytes", &b"SHMH"[..]),
        ("16 foreign bytes", &b"not a segment..."[..]),
    ] {
        let n = unique_name("foreign-small");
        let _f = ShmFile::create(&n, bytes);
        let r = Segment::attach(&n);
        assert!(
            matches!(r, Err(Error::Truncated { .. } | Error::BadMagic)),
            "{what}: {r:?}"
        );
    }
}

#[test]
fn truncated_copy_gives_truncated() {
    let _wd = Watchdog::test("truncated");
    let f = fixture("truncated");
    let size = f.seg.size();
    assert_eq!(size, 1 << 20);
    for cut in [4096u64, 64 << 10] {
        let copy = unique_name("truncated-copy");
        // Nobody writes the segment meanwhile. (Not under a turn: the copy
        // would then show the turn as held by this live process.)
        let bytes = peek(&f.name, 0, cut as usize);
        let _file = ShmFile::create(&copy, &bytes);
        let r = Segment::attach(&copy);
        match r {
            Err(Error::Truncated { claimed, actual }) => {
                assert_eq!(actual, cut, "actual size");
                assert!(claimed > actual, "claimed {claimed} <= actual {actual}");
                if cut >= 8192 {
                    assert_eq!(claimed, size, "claimed is the header's size");
                }
            }
            other => panic!("copy of the first {cut} bytes: {other:?}"),
        }
    }
    // A full copy is a sound segment (sanity check of the method).
    let copy = unique_name("truncated-full");
    let bytes = peek(&f.name, 0, size as usize);
    let _file = ShmFile::create(&copy, &bytes);
    let seg = Segment::attach(&copy).unwrap();
    assert_eq!(seg.turn().unwrap().message_count(), 5);
}

#[test]
fn changed_version_gives_unsupported_version() {
    let _wd = Watchdog::test("version");
    let f = fixture("version");
    // Version 5, the one before parked turns.
    poke(&f.name, OFF_VERSION, &5u32.to_le_bytes());
    let r = Segment::attach(&f.name);
    assert!(
        matches!(
            r,
            Err(Error::UnsupportedVersion {
                found: 5,
                expected: 6
            })
        ),
        "{r:?}"
    );
    let (status, lines) = Peer::spawn("attach", &[name_env(&f.name)]).finish(30 * SEC);
    assert_eq!(status.code(), Some(ATTACH_VERSION), "lines {lines:?}");
}

// ---------------------------------------------------------------------------
// 7. Roundtrip of random values through a peer.

/// A hashable key: None, int, str, bytes or a tuple of (int, str). For these
/// Python's equality is structural equality, so distinct keys are distinct
/// for the segment too.
fn arb_key() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::None),
        any::<i64>().prop_map(Value::Int),
        (-3i64..3).prop_map(Value::Int),
        ".{0,8}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        (-3i64..3, "[a-c]{0,2}").prop_map(|(i, s)| value!((i, s))),
    ]
}

fn distinct(keys: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for k in keys {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

fn arb_float() -> impl Strategy<Value = f64> {
    use prop::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE)
        .prop_filter("no NaN", |f| !f.is_nan())
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        arb_float().prop_map(Value::Float),
        ".{0,24}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::ByteArray),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            (
                prop::collection::vec(arb_key(), 0..6),
                prop::collection::vec(inner, 6)
            )
                .prop_map(|(keys, vals)| {
                    Value::Dict(distinct(keys).into_iter().zip(vals).collect())
                }),
            prop::collection::vec(arb_key(), 0..6).prop_map(|m| Value::Set(distinct(m))),
        ]
    })
}

#[test]
fn proptest_roundtrip_through_a_peer() {
    const BATCH: usize = 64;
    let _wd = Watchdog::test("roundtrip");
    let mut runner = TestRunner::new(Config {
        cases: 4,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = prop::collection::vec(arb_value(), BATCH);
    runner
        .run(&strategy, |batch| {
            let name = unique_name("roundtrip");
            let seg = Segment::create(&name, 32 << 20).unwrap();
            {
                let mut turn = seg.turn().unwrap();
                for v in &batch {
                    turn.put_message(v).unwrap();
                }
            }
            let (status, lines) = Peer::spawn(
                "roundtrip",
                &[name_env(&name), ("SHMHEAP_N", BATCH.to_string())],
            )
            .finish(60 * SEC);
            prop_assert_eq!(status.code(), Some(0), "peer failed; lines {:?}", lines);
            let mut turn = seg.turn().unwrap();
            prop_assert_eq!(turn.message_count(), BATCH);
            for (i, want) in batch.iter().enumerate() {
                let h = turn.take_message().unwrap().unwrap();
                let got = turn.get(h).unwrap().to_value().unwrap();
                prop_assert_eq!(&got, want, "message {}", i);
                prop_assert!(turn.get(h).unwrap().py_eq(want).unwrap(), "py_eq {}", i);
                turn.free(h).unwrap();
            }
            prop_assert!(!turn.has_messages().unwrap());
            let report = turn.validate().unwrap();
            prop_assert_eq!(report.orphans, 0);
            // The peer freed the originals, we freed the copies: only the
            // queue ring is left.
            prop_assert_eq!(turn.stats().blocks, 1);
            Ok(())
        })
        .unwrap();
}
