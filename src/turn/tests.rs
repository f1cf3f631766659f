//! Turn tests with two attachments of one shared-memory segment in one
//! process (threads stand in for processes; the multi-process versions are
//! in `tests/multiprocess.rs`). They make futex and shm system calls, so
//! Miri cannot run them.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Error, Segment};

fn name(tag: &str) -> String {
    format!("shmheap-unit-{tag}-{}", std::process::id())
}

/// Many timed-out waits while another holds the turn: each gives its ticket
/// up, the next wait takes it back, and once the holder releases, the turn
/// comes (no pile of abandoned tickets, no lost turn).
#[test]
#[cfg_attr(miri, ignore = "shm and futex system calls")]
fn repeated_timeouts_never_block_the_turn() {
    let n = name("timeouts");
    let a = Segment::create(&n, 1 << 20).unwrap();
    let b = Segment::attach(&n).unwrap();
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let a = &a;
        s.spawn(move || {
            let t = a.turn().unwrap();
            tx.send(()).unwrap();
            // Held until every timeout below has happened (a fixed sleep
            // ran out first on a loaded machine), then a little longer so
            // the last wait below really waits.
            done_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(t);
        });
        rx.recv().unwrap();
        for _ in 0..600 {
            assert!(matches!(
                b.turn_timeout(Duration::from_micros(50)),
                Err(Error::Timeout)
            ));
            assert!(b.try_turn().unwrap().is_none());
        }
        done_tx.send(()).unwrap();
        let t0 = Instant::now();
        let t = b.turn_timeout(Duration::from_secs(10)).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_eq!(t.waiters(), 0);
    });
    // And the turn keeps working both ways.
    for _ in 0..100 {
        drop(a.turn().unwrap());
        drop(b.try_turn().unwrap().expect("free turn"));
    }
}

/// Two threads with their own attachments alternate strictly when both
/// want the turn all the time.
#[test]
#[cfg_attr(miri, ignore = "shm and futex system calls")]
fn two_waiters_alternate() {
    let n = name("alternate");
    let a = Segment::create(&n, 1 << 20).unwrap();
    let b = Segment::attach(&n).unwrap();
    let h = {
        let mut t = a.turn().unwrap();
        let h = t.put_message(&crate::value!([])).unwrap();
        t.take_message().unwrap();
        h
    };
    std::thread::scope(|s| {
        for (seg, id) in [(&a, 1), (&b, 2)] {
            s.spawn(move || {
                for _ in 0..2000 {
                    let mut t = seg.turn().unwrap();
                    let waiting = t.waiters();
                    let mut l = t.list_mut(h).unwrap();
                    l.push(id * 10 + (waiting > 0) as i64).unwrap();
                }
            });
        }
    });
    let t = a.turn().unwrap();
    let v: Vec<i64> = t
        .get(h)
        .unwrap()
        .as_list()
        .unwrap()
        .iter()
        .map(|x| x.unwrap().as_int().unwrap())
        .collect();
    assert_eq!(v.len(), 4000);
    for w in v.windows(2) {
        // If someone waited when turn i ended, turn i+1 is someone else's.
        if w[0] % 10 == 1 {
            assert_ne!(
                w[0] / 10,
                w[1] / 10,
                "a thread took two turns while another waited"
            );
        }
    }
}
