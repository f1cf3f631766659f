//! Processes killed in the middle of operations, and recovery.
//!
//! A peer (this test binary, run as `peer_main`) attaches and runs a
//! deterministic sequence of operations on one shared root — a list growing
//! and shrinking in the middle, a dict growing past rehashes and shrinking,
//! a set, a bytearray, messages put and taken — recording after each
//! operation how many it completed. It dies with SIGKILL either at an
//! injected crash point (the n-th allocator or journal step: inside an
//! allocation, a free, between journal records, at a commit) or at a random
//! moment chosen by the parent. The parent then finds the turn's holder dead
//! (`Error::PeerDied`), calls `Segment::recover`, and checks that the
//! segment validates with no orphan and that the root equals the model
//! after exactly the completed operations (the one in flight is either
//! wholly there or wholly gone).
//!
//! Everything that could hang is bounded by a watchdog.

mod common;

use std::time::{Duration, Instant};

use common::{Peer, Rng, Watchdog};
use shmheap::{Error, Handle, Segment, Turn, Value};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn peer_main() {
    common::serve_peer(|role| match role {
        "work" => peer_work().map(|()| String::new()),
        other => Err(format!("unknown role {other}")),
    });
}

/// Number of operations a peer runs at most (it is killed long before).
const OPS: u64 = 1_000_000;

/// Operation `j` (a pure function of `j`).
#[derive(Debug, Clone)]
enum Op {
    Push(Value),
    Insert(Value),
    Remove,
    Set(Value),
    Reverse,
    DictPut(i64, Value),
    DictRemove(i64),
    DictClear,
    SetAdd(i64),
    SetRemove(i64),
    Bytes(Vec<u8>),
    Put(Value),
    Take,
}

fn op(j: u64) -> Op {
    let mut r = Rng(j.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let j64 = j as i64;
    match r.below(16) {
        0 | 1 => Op::Push(Value::from(
            "s".repeat(r.below(40) as usize) + &j.to_string(),
        )),
        2 => Op::Insert(Value::Int(j64)),
        3 => Op::Remove,
        4 => Op::Set(Value::from(format!("set{j}"))),
        5 if r.below(8) == 0 => Op::Reverse,
        5..=7 => Op::DictPut(r.below(300) as i64, Value::from(format!("v{j}"))),
        8 => Op::DictRemove(r.below(300) as i64),
        9 if r.below(40) == 0 => Op::DictClear,
        9 | 10 => Op::SetAdd(r.below(200) as i64),
        11 => Op::SetRemove(r.below(200) as i64),
        12 => Op::Bytes(vec![j as u8; r.below(100) as usize]),
        13 => Op::Put(Value::List(vec![Value::Int(j64), Value::from("m")])),
        _ => Op::Take,
    }
}

/// The shared root: [done, list, dict, set, bytearray].
fn initial() -> Value {
    Value::List(vec![
        Value::Int(0),
        Value::List(vec![]),
        Value::dict(),
        Value::set(),
        Value::bytearray(Vec::new()),
    ])
}

/// The model of the root and of the queue after `n` operations.
#[derive(Debug, Default, PartialEq)]
struct Model {
    list: Vec<Value>,
    dict: Vec<(i64, Value)>,
    set: Vec<i64>,
    bytes: Vec<u8>,
    queue: std::collections::VecDeque<Value>,
}

impl Model {
    fn apply(&mut self, o: &Op) {
        match o {
            Op::Push(v) => self.list.push(v.clone()),
            Op::Insert(v) => self.list.insert(self.list.len() / 2, v.clone()),
            Op::Remove => {
                if !self.list.is_empty() {
                    self.list.remove(self.list.len() / 3);
                }
            }
            Op::Set(v) => {
                if !self.list.is_empty() {
                    let i = self.list.len() / 4;
                    self.list[i] = v.clone();
                }
            }
            Op::Reverse => self.list.reverse(),
            Op::DictPut(k, v) => match self.dict.iter_mut().find(|(x, _)| x == k) {
                Some(e) => e.1 = v.clone(),
                None => self.dict.push((*k, v.clone())),
            },
            Op::DictRemove(k) => self.dict.retain(|(x, _)| x != k),
            Op::DictClear => self.dict.clear(),
            Op::SetAdd(k) => {
                if !self.set.contains(k) {
                    self.set.push(*k)
                }
            }
            Op::SetRemove(k) => self.set.retain(|x| x != k),
            Op::Bytes(b) => self.bytes.extend_from_slice(b),
            Op::Put(v) => self.queue.push_back(v.clone()),
            Op::Take => {
                self.queue.pop_front();
            }
        }
    }
}

fn run_op(turn: &mut Turn<'_>, root: Handle, o: &Op) -> Result<(), Error> {
    match o {
        Op::Push(v) => turn.list_mut(root)?.list_mut(1)?.push(v.clone()),
        Op::Insert(v) => {
            let mut r = turn.list_mut(root)?;
            let mut l = r.list_mut(1)?;
            let n = l.len();
            l.insert(n / 2, v.clone())
        }
        Op::Remove => {
            let mut r = turn.list_mut(root)?;
            let mut l = r.list_mut(1)?;
            let n = l.len();
            if n > 0 {
                l.remove(n / 3)?;
            }
            Ok(())
        }
        Op::Set(v) => {
            let mut r = turn.list_mut(root)?;
            let mut l = r.list_mut(1)?;
            let n = l.len();
            if n > 0 {
                l.set(n / 4, v.clone())?;
            }
            Ok(())
        }
        Op::Reverse => turn.list_mut(root)?.list_mut(1)?.reverse(),
        Op::DictPut(k, v) => turn
            .list_mut(root)?
            .dict_mut(2)?
            .insert(*k, v.clone())
            .map(drop),
        Op::DictRemove(k) => turn
            .list_mut(root)?
            .dict_mut(2)?
            .remove(&Value::Int(*k))
            .map(drop),
        Op::DictClear => turn.list_mut(root)?.dict_mut(2)?.clear(),
        Op::SetAdd(k) => turn.list_mut(root)?.set_mut(3)?.insert(*k).map(drop),
        Op::SetRemove(k) => turn
            .list_mut(root)?
            .set_mut(3)?
            .remove(&Value::Int(*k))
            .map(drop),
        Op::Bytes(b) => turn.list_mut(root)?.bytes_mut(4)?.extend_from_slice(b),
        Op::Put(v) => turn.put_message(v).map(drop),
        Op::Take => {
            if let Some(h) = turn.take_message()? {
                turn.free(h)?;
            }
            Ok(())
        }
    }
}

/// Reads the root and the queue back as a model (and the done count).
fn observe(turn: &mut Turn<'_>, root: Handle) -> Result<(u64, Model), Error> {
    let Value::List(items) = turn.get(root)?.to_value()? else {
        panic!("root is not a list");
    };
    let [done, list, dict, set, bytes] = <[Value; 5]>::try_from(items).expect("five items");
    let (
        Value::Int(done),
        Value::List(list),
        Value::Dict(dict),
        Value::Set(set),
        Value::ByteArray(bytes),
    ) = (done, list, dict, set, bytes)
    else {
        panic!("root items of the wrong types");
    };
    let dict = dict
        .into_iter()
        .map(|(k, v)| match k {
            Value::Int(k) => (k, v),
            other => panic!("dict key {other:?}"),
        })
        .collect();
    let set = set
        .into_iter()
        .map(|k| match k {
            Value::Int(k) => k,
            other => panic!("set member {other:?}"),
        })
        .collect();
    // The queue, read without taking (take and put back would reorder it).
    let mut queue = std::collections::VecDeque::new();
    let n = turn.message_count();
    let mut taken = Vec::new();
    for _ in 0..n {
        let h = turn.take_message()?.expect("a message");
        queue.push_back(turn.get(h)?.to_value()?);
        taken.push(h);
    }
    for h in taken {
        turn.put_handle(h)?;
    }
    Ok((
        done as u64,
        Model {
            list,
            dict,
            set,
            bytes,
            queue,
        },
    ))
}

fn env_handle() -> Handle {
    Handle::from_raw(common::env_u64("ROOT_OFF"), common::env_u64("ROOT_GEN"))
}

/// The peer: attaches, arms the crash point (if any), and runs operations,
/// a few per turn, counting each completed one in item 0 of the root.
fn peer_work() -> Result<(), String> {
    let seg = Segment::attach(&common::env("SEG")).map_err(|e| e.to_string())?;
    let root = env_handle();
    let start = common::env_u64("START");
    let per_turn = common::env_u64("PER_TURN").max(1);
    common::say("ready");
    let crash = common::env_u64("CRASH_AFTER");
    if crash > 0 {
        shmheap::__test::crash_after(crash);
    }
    let mut j = start;
    while j < OPS {
        let mut turn = seg.turn().map_err(|e| e.to_string())?;
        for _ in 0..per_turn {
            run_op(&mut turn, root, &op(j)).map_err(|e| format!("op {j}: {e}"))?;
            j += 1;
            *turn
                .list_mut(root)
                .and_then(|mut r| r.int_mut(0).map(|p| p as *mut i64))
                .map(|p| {
                    // SAFETY: a pointer into the root's slot, used at once,
                    // inside the turn.
                    unsafe { &mut *p }
                })
                .map_err(|e| e.to_string())? = j as i64;
        }
    }
    Ok(())
}

/// Runs `trials` peers that die, each after some operations, recovering
/// and checking after each death. `kill` chooses how each one dies.
fn crash_trials(test: &str, trials: u64, seed: u64, how: &dyn Fn(&mut Rng) -> Death) {
    let _wd = Watchdog::new(test, Duration::from_secs(30 + 10 * trials));
    let name = common::unique_name(test);
    let seg = Segment::options().size(64 << 20).create(&name).unwrap();
    let root = {
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&initial()).unwrap();
        assert_eq!(turn.take_message().unwrap(), Some(h));
        h
    };
    let mut model = Model::default();
    let mut done = 0u64;
    let mut rng = Rng(seed);
    let (mut undone_total, mut reclaimed_total, mut mid_op) = (0u64, 0u64, 0u64);
    for trial in 0..trials {
        let death = how(&mut rng);
        let crash_after = match death {
            Death::Injected(n) => n,
            Death::Timed(_) => 0,
        };
        let mut peer = Peer::spawn(
            "work",
            &[
                ("SEG", name.clone()),
                ("ROOT_OFF", root.offset().to_string()),
                ("ROOT_GEN", root.generation().to_string()),
                ("START", done.to_string()),
                ("PER_TURN", (1 + rng.below(4)).to_string()),
                ("CRASH_AFTER", crash_after.to_string()),
            ],
        );
        peer.expect("ready", 30 * SEC);
        let (status, lines) = match death {
            Death::Timed(us) => {
                std::thread::sleep(Duration::from_micros(us));
                (peer.kill().expect("the peer's status"), Vec::new())
            }
            Death::Injected(_) => peer.finish(30 * SEC),
        };
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "trial {trial}: the peer should have died by SIGKILL: {} {lines:?}",
            common::describe(status)
        );
        // The survivor: the turn is held by a dead process, or free.
        let t0 = Instant::now();
        let recovery = match seg.turn_timeout(10 * SEC) {
            Ok(turn) => {
                drop(turn);
                None
            }
            Err(Error::PeerDied { pid }) => {
                let r = seg.recover().unwrap().expect("a recovery");
                assert_eq!(r.dead_pid, pid);
                Some(r)
            }
            Err(e) => panic!("trial {trial}: {e}"),
        };
        let mut turn = seg.turn().unwrap();
        let report = turn.validate().unwrap();
        assert_eq!(report.orphans, 0, "trial {trial}: {report:?}");
        let (now, seen) = observe(&mut turn, root).unwrap();
        drop(turn);
        assert!(now >= done, "trial {trial}: done went back {done} -> {now}");
        for j in done..now {
            model.apply(&op(j));
        }
        // The count is written after each operation: the next one may
        // have completed too (then it is wholly there).
        let next = op(now);
        let mut ahead = Model {
            list: model.list.clone(),
            dict: model.dict.clone(),
            set: model.set.clone(),
            bytes: model.bytes.clone(),
            queue: model.queue.clone(),
        };
        ahead.apply(&next);
        if seen == model {
            done = now;
        } else if seen == ahead {
            model = ahead;
            done = now + 1;
            // Tell the next peer to start after it.
            let mut turn = seg.turn().unwrap();
            *turn.list_mut(root).unwrap().int_mut(0).unwrap() = done as i64;
        } else {
            panic!(
                "trial {trial}: after {now} operations (next {next:?}), the segment is neither \
                 the model before nor after the next operation:\nseen  {seen:?}\nmodel \
                 {model:?}\nahead {ahead:?}\nrecovery {recovery:?}"
            );
        }
        if let Some(r) = recovery {
            undone_total += r.records_undone;
            reclaimed_total += r.blocks_reclaimed;
            mid_op += (r.records_undone > 0) as u64;
        }
        eprintln!(
            "trial {trial}: {death:?}: {done} operations done; recovery {:?} in {:?}",
            recovery.map(|r| (r.records_undone, r.blocks_reclaimed)),
            t0.elapsed()
        );
    }
    eprintln!(
        "{test}: {trials} deaths, {done} operations, {mid_op} recoveries rolled an operation \
         back ({undone_total} records), {reclaimed_total} blocks reclaimed"
    );
    assert!(done > 0, "no operation ever completed");
}

#[derive(Debug, Clone, Copy)]
enum Death {
    /// At the n-th allocator or journal step.
    Injected(u64),
    /// SIGKILL from the parent after this many microseconds.
    Timed(u64),
}

fn trials() -> u64 {
    std::env::var("CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
}

#[test]
fn killed_at_injected_crash_points_recovers_to_the_model() {
    crash_trials("crash-injected", trials(), 0xC0FFEE, &|r| {
        // Mostly early (short runs), sometimes long (a big list and dict).
        Death::Injected(
            1 + if r.below(4) == 0 {
                r.below(20_000)
            } else {
                r.below(600)
            },
        )
    });
}

#[test]
fn killed_at_random_moments_recovers_to_the_model() {
    crash_trials("crash-timed", trials() / 2, 0xBADC0DE, &|r| {
        Death::Timed(200 + r.below(30_000))
    });
}

/// With `auto_recover`, a waiter takes over from a dead holder by itself and
/// gets its turn.
#[test]
fn auto_recover_takes_over_without_an_error() {
    let _wd = Watchdog::test("auto-recover");
    let name = common::unique_name("auto");
    let seg = Segment::options()
        .size(16 << 20)
        .auto_recover(true)
        .create(&name)
        .unwrap();
    let root = {
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&initial()).unwrap();
        assert_eq!(turn.take_message().unwrap(), Some(h));
        h
    };
    // The peer dies at its 300th step, mid-operation most likely.
    let mut peer = Peer::spawn(
        "work",
        &[
            ("SEG", name.clone()),
            ("ROOT_OFF", root.offset().to_string()),
            ("ROOT_GEN", root.generation().to_string()),
            ("START", "0".into()),
            ("PER_TURN", "1000000".into()),
            ("CRASH_AFTER", "300".into()),
        ],
    );
    peer.expect("ready", 30 * SEC);
    let (status, _) = peer.finish(30 * SEC);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    // It died inside its (only) turn: our wait recovers and enters.
    let mut turn = seg.turn().expect("the turn, after an automatic recovery");
    let r = seg.last_recovery().expect("a recovery was made");
    assert_eq!(r.dead_pid, peer.pid);
    assert_eq!(turn.validate().unwrap().orphans, 0);
    let (done, seen) = observe(&mut turn, root).unwrap();
    let mut model = Model::default();
    for j in 0..done {
        model.apply(&op(j));
    }
    let mut ahead = Model {
        queue: model.queue.clone(),
        list: model.list.clone(),
        dict: model.dict.clone(),
        set: model.set.clone(),
        bytes: model.bytes.clone(),
    };
    ahead.apply(&op(done));
    assert!(seen == model || seen == ahead, "{seen:?}\n{model:?}");
}
