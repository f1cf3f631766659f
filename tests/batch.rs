//! Batched turns (`SegmentOptions::batch`) across real processes: the bound
//! (a waiter waits at most `k` turns of the batching process), a parked turn
//! whose process idles, dies or detaches goes on to the next waiter with no
//! recovery, `try_turn` and async waits take parked turns, and exact counts
//! with batching and strict processes mixed.
//!
//! Peers are this test binary (see `tests/multiprocess.rs` for the scheme);
//! every test holds a watchdog and every wait has a timeout.

mod common;

use std::time::{Duration, Instant};

use common::{Peer, Watchdog, env, env_handle, env_u64, handle_env, hear, name_env, poll, say};
use shmheap::{Error, Handle, Segment, SegmentOptions, Turn, value};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn peer_main() {
    common::serve_peer(|role| {
        let r = match role {
            "queue" => peer_queue(),
            "parker" => peer_parker(),
            "count" => peer_count(),
            other => Err(format!("unknown role {other}").into()),
        };
        r.map_err(|e| e.to_string())
    });
}

type R<T = String> = Result<T, Box<dyn std::error::Error>>;

/// A segment holding the list `[0, 0]` (item 0 a flag, item 1 a count),
/// created with `batch`.
fn fixture(test: &str, batch: u32) -> (Segment, Handle) {
    let seg = SegmentOptions::default()
        .size(1 << 20)
        .batch(batch)
        .create(&common::unique_name(test))
        .unwrap();
    let h = {
        let mut t = seg.turn().unwrap();
        let h = t.put_message(&value!([0, 0])).unwrap();
        t.take_message().unwrap();
        h
    };
    (seg, h)
}

/// Item `i` of the int list `h`.
fn item(t: &Turn<'_>, h: Handle, i: usize) -> i64 {
    t.get(h)
        .unwrap()
        .as_list()
        .unwrap()
        .get(i)
        .unwrap()
        .as_int()
        .unwrap()
}

/// The count (item 1), read in a turn of its own.
fn count(seg: &Segment, h: Handle) -> i64 {
    item(&seg.turn_timeout(10 * SEC).unwrap(), h, 1)
}

/// Spawns a parker (see `peer_parker`) that parks with batch 16 and waits
/// `ms` for its later turns; returns once it parked.
fn parker(name: &str, h: Handle, ms: u64) -> Peer {
    let mut peer = Peer::spawn(
        "parker",
        &vars(
            name,
            h,
            &[
                ("SHMHEAP_BATCH", "16".into()),
                ("SHMHEAP_MS", ms.to_string()),
            ],
        ),
    );
    peer.expect("parked", 30 * SEC);
    peer
}

/// A peer's environment: the segment's name, the handle `h` and `extra`.
fn vars(name: &str, h: Handle, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut v = vec![name_env(name)];
    v.extend(handle_env(h));
    v.extend(extra.iter().cloned());
    v
}

/// Stops `pid` with SIGSTOP and waits until `/proc` shows every thread of
/// it stopped.
fn stop(pid: u32) {
    signal(pid, libc::SIGSTOP);
    let stopped = |stat: String| {
        let state = stat
            .rsplit_once(')')
            .map(|(_, s)| s.trim_start().chars().next());
        state == Some(Some('T'))
    };
    poll("the peer to stop", 30 * SEC, || {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        let mut all = true;
        for t in tasks {
            let stat = std::fs::read_to_string(t.ok()?.path().join("stat")).ok()?;
            all &= stopped(stat);
        }
        all.then_some(())
    });
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid of our own child; no memory is involved.
    let r = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig})");
}

/// Queue: attach (strict), say so, and at "go" take one turn: `+= 1` on
/// item 1.
fn peer_queue() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    let h = env_handle();
    say("attached");
    let go = hear();
    if go != "go" {
        return Err(format!("expected go, got {go:?}").into());
    }
    let mut t = seg.turn_timeout(60 * SEC)?;
    *t.list_mut(h)?.int_mut(1)? += 1;
    Ok("done".into())
}

/// A batching process whose turn stays parked: attach with
/// `SHMHEAP_BATCH`, one turn of `+= 1`, say "parked", then wait for a line
/// on stdin (or be killed) and, for "again", take one more turn within
/// `SHMHEAP_MS`, reporting "again ok" or "again timeout".
fn peer_parker() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    seg.set_batch(env_u64("SHMHEAP_BATCH") as u32);
    let h = env_handle();
    {
        let mut t = seg.turn_timeout(10 * SEC)?;
        *t.list_mut(h)?.int_mut(1)? += 1;
    }
    say("parked");
    loop {
        match hear().as_str() {
            "again" => {
                let ms = env_u64("SHMHEAP_MS");
                match seg.turn_timeout(Duration::from_millis(ms)) {
                    Ok(mut t) => {
                        *t.list_mut(h)?.int_mut(1)? += 1;
                        drop(t);
                        say("again ok");
                    }
                    Err(Error::Timeout) => say("again timeout"),
                    Err(e) => return Err(e.into()),
                }
            }
            "exit" => return Ok(String::new()),
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
}

/// Count: attach with `SHMHEAP_BATCH`, `SHMHEAP_TURNS` turns of `+= 1`.
fn peer_count() -> R {
    let seg = Segment::attach(&env("SHMHEAP_NAME"))?;
    seg.set_batch(env_u64("SHMHEAP_BATCH") as u32);
    let h = env_handle();
    for _ in 0..env_u64("SHMHEAP_TURNS") {
        let mut t = seg.turn_timeout(30 * SEC)?;
        *t.list_mut(h)?.int_mut(1)? += 1;
    }
    Ok("done".into())
}

/// With `batch(k)`, a process takes exactly `k` turns while a waiter that
/// cannot run (stopped with SIGSTOP, so it cannot take the parked turn)
/// waits; its next wait is behind the waiter.
#[test]
fn a_waiter_waits_at_most_batch_turns() {
    let _wd = Watchdog::test("bound");
    const K: u32 = 8;
    let (seg, h) = fixture("bound", K);
    let name = seg.name().unwrap();
    let mut peer = Peer::spawn("queue", &vars(&name, h, &[]));
    peer.expect("attached", 30 * SEC);
    let mut first = seg.turn().unwrap();
    peer.send("go");
    // The peer draws its ticket behind our turn.
    poll("the peer to queue", 30 * SEC, || {
        (first.waiters() >= 1).then_some(())
    });
    // Stopped for sure before the turn is let go (a signal is delivered
    // asynchronously: a waiter still spinning would take the parked turn).
    stop(peer.pid);
    *first.list_mut(h).unwrap().int_mut(0).unwrap() += 1;
    drop(first);
    let mut turns = 1;
    loop {
        match seg.turn_timeout(Duration::from_millis(300)) {
            Ok(mut t) => {
                *t.list_mut(h).unwrap().int_mut(0).unwrap() += 1;
                turns += 1;
                assert!(turns <= 10 * K, "no bound: {turns} turns");
            }
            Err(Error::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(turns, K, "turns taken while the waiter waited");
    signal(peer.pid, libc::SIGCONT);
    let (status, lines) = peer.finish(30 * SEC);
    assert!(status.success(), "{lines:?}");
    // The waiter's turn came, and ours after it.
    assert_eq!(count(&seg, h), 1);
    let t = seg.turn_timeout(10 * SEC).unwrap();
    assert_eq!(item(&t, h, 0), K as i64);
}

/// A turn parked by a process that then idles is taken by the next
/// waiter at once, and the parker's next turn waits behind it.
#[test]
fn a_parked_turn_goes_to_the_next_waiter() {
    let _wd = Watchdog::test("idle");
    let (seg, h) = fixture("idle", 1);
    let name = seg.name().unwrap();
    let mut peer = parker(&name, h, 1000);
    let start = Instant::now();
    let t = seg.turn_timeout(10 * SEC).unwrap();
    assert!(start.elapsed() < 5 * SEC, "took {:?}", start.elapsed());
    // While we hold it, the parker cannot resume: it waits, then times out.
    peer.send("again");
    peer.expect("again timeout", 30 * SEC);
    drop(t);
    peer.send("again");
    peer.expect("again ok", 30 * SEC);
    peer.send("exit");
    let (status, lines) = peer.finish(30 * SEC);
    assert!(status.success(), "{lines:?}");
    assert_eq!(count(&seg, h), 2);
}

/// A parked turn whose process was killed goes on to the next waiter with
/// no `PeerDied` and no recovery: it held no work in progress.
#[test]
fn a_parked_turn_of_a_killed_process_needs_no_recovery() {
    let _wd = Watchdog::test("killed");
    let (seg, h) = fixture("killed", 1);
    let name = seg.name().unwrap();
    let mut peer = parker(&name, h, 1000);
    peer.kill();
    let mut t = seg.turn_timeout(10 * SEC).unwrap();
    assert_eq!(seg.last_recovery(), None);
    t.validate().unwrap();
    assert_eq!(item(&t, h, 1), 1);
    *t.list_mut(h).unwrap().int_mut(1).unwrap() += 1;
    drop(t);
    assert_eq!(count(&seg, h), 2);
}

/// `try_turn` takes a turn another process parked when nobody waits, and
/// an async wait takes one too.
#[test]
fn try_turn_and_async_waits_take_parked_turns() {
    let _wd = Watchdog::test("try");
    let (seg, h) = fixture("try", 1);
    let name = seg.name().unwrap();
    let mut peer = parker(&name, h, 10000);
    let t = seg.try_turn().unwrap().expect("the parked turn is free");
    drop(t);
    // The parker resumes nothing now (its turn was taken): its next turn
    // is an ordinary one, and it parks again.
    peer.send("again");
    peer.expect("again ok", 30 * SEC);
    let t = futures::executor::block_on(seg.turn_async_timeout(10 * SEC)).unwrap();
    drop(t);
    peer.send("exit");
    let (status, lines) = peer.finish(30 * SEC);
    assert!(status.success(), "{lines:?}");
    assert_eq!(count(&seg, h), 2);
}

/// Dropping a `Segment` with a parked turn hands the turn on: the ticket
/// counters show a free turn.
#[test]
fn detaching_hands_a_parked_turn_on() {
    let _wd = Watchdog::test("detach");
    let (seg, h) = fixture("detach", 1);
    let name = seg.name().unwrap();
    let other = SegmentOptions::default().batch(4).attach(&name).unwrap();
    drop(other.turn().unwrap());
    let parked = seg.status();
    assert_eq!(
        parked.turn.next_ticket,
        parked.turn.now_serving.wrapping_add(1),
        "the turn is parked, its ticket still served"
    );
    assert!(parked.turn.parked);
    assert_eq!(parked.turn.holder, Some(std::process::id()));
    drop(other);
    let st = seg.status();
    assert_eq!(st.turn.next_ticket, st.turn.now_serving, "a free turn");
    assert!(!st.turn.parked);
    assert_eq!(count(&seg, h), 0);
}

/// Exact counts with batching and strict processes taking turns together.
#[test]
fn batched_and_strict_processes_count_exactly() {
    let _wd = Watchdog::test("mixed");
    let (seg, h) = fixture("mixed", 32);
    let name = seg.name().unwrap();
    const TURNS: u64 = 3000;
    let mut peers: Vec<Peer> = [1u32, 8, 64, 1, 16]
        .iter()
        .map(|b| {
            Peer::spawn(
                "count",
                &vars(
                    &name,
                    h,
                    &[
                        ("SHMHEAP_BATCH", b.to_string()),
                        ("SHMHEAP_TURNS", TURNS.to_string()),
                    ],
                ),
            )
        })
        .collect();
    for _ in 0..TURNS {
        let mut t = seg.turn_timeout(30 * SEC).unwrap();
        *t.list_mut(h).unwrap().int_mut(1).unwrap() += 1;
    }
    for p in &mut peers {
        let (status, lines) = p.finish(60 * SEC);
        assert!(status.success(), "{lines:?}");
    }
    assert_eq!(count(&seg, h), 6 * TURNS as i64);
}
