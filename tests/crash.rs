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
        "recover" => peer_recover(),
        other => Err(format!("unknown role {other}")),
    });
}

/// Number of operations a peer runs at most: it runs until it is killed
/// (its own watchdog ends it if nothing does).
const OPS: u64 = u64::MAX;

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
    /// An in-place store: the first byte of the bytearray, through
    /// `BytesMut::as_mut_slice`.
    Scribble,
}

/// Which operations a run makes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// All kinds, mixed.
    Mixed,
    /// Only messages put (values of several blocks; the ring grows).
    Put,
    /// Only pushes of strings (the list grows chunk by chunk, its table
    /// moves).
    Push,
    /// Only inserts in the middle (items move).
    Insert,
    /// Only new dict keys (the index is rebuilt at each growth).
    Dict,
    /// The mixed workload with in-place stores among it, for transactional
    /// turns.
    Txn,
}

impl Kind {
    fn parse(s: &str) -> Kind {
        match s {
            "put" => Kind::Put,
            "push" => Kind::Push,
            "insert" => Kind::Insert,
            "dict" => Kind::Dict,
            "txn" => Kind::Txn,
            _ => Kind::Mixed,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Mixed => "mixed",
            Kind::Put => "put",
            Kind::Push => "push",
            Kind::Insert => "insert",
            Kind::Dict => "dict",
            Kind::Txn => "txn",
        }
    }
}

/// Operation `j` of a run of `kind` (a pure function of both).
fn op(kind: Kind, j: u64) -> Op {
    let j64 = j as i64;
    match kind {
        Kind::Mixed => mixed_op(j),
        Kind::Put => Op::Put(Value::List(vec![
            Value::Int(j64),
            Value::from(format!("message {j}")),
            Value::List(vec![Value::Int(j64); (j % 20) as usize]),
        ])),
        Kind::Push => Op::Push(Value::from(format!("item {j}"))),
        Kind::Insert => Op::Insert(Value::from(format!("in {j}"))),
        Kind::Dict => Op::DictPut(j64, Value::from(format!("v{j}"))),
        Kind::Txn if j % 5 == 2 => Op::Scribble,
        Kind::Txn => mixed_op(j),
    }
}

fn mixed_op(j: u64) -> Op {
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
#[derive(Debug, Default, Clone, PartialEq)]
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
            Op::Scribble => {
                if let Some(b) = self.bytes.first_mut() {
                    *b = b.wrapping_add(1);
                }
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
        Op::Scribble => {
            let mut r = turn.list_mut(root)?;
            let mut b = r.bytes_mut(4)?;
            if let Some(x) = b.as_mut_slice()?.first_mut() {
                *x = x.wrapping_add(1);
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
    let kind = Kind::parse(&common::env("KIND"));
    common::say("ready");
    let crash = common::env_u64("CRASH_AFTER");
    if crash > 0 {
        shmheap::__test::crash_after(crash);
    }
    // Transactional turns: the count goes back with the turn's operations.
    let txn = common::env("TXN") == "1";
    let mut j = start;
    while j < OPS {
        let mut turn =
            if txn { seg.transaction() } else { seg.turn() }.map_err(|e| e.to_string())?;
        for _ in 0..per_turn {
            run_op(&mut turn, root, &op(kind, j)).map_err(|e| format!("op {j}: {e}"))?;
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
        turn.commit().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A survivor that recovers, with a crash point armed: it may die in the
/// middle of the recovery (which the next survivor then redoes).
fn peer_recover() -> Result<String, String> {
    // Attaching to a segment whose turn holder died recovers it.
    shmheap::__test::crash_after(common::env_u64("CRASH_AFTER"));
    let seg = Segment::attach(&common::env("SEG")).map_err(|e| e.to_string())?;
    Ok(format!("attached; recovery {:?}", seg.last_recovery()))
}

/// The environment of a "work" (or "recover") peer.
fn work_vars(
    name: &str,
    root: Handle,
    kind: Kind,
    crash: u64,
    start: u64,
    per_turn: u64,
) -> Vec<(&'static str, String)> {
    vec![
        ("SEG", name.to_string()),
        ("ROOT_OFF", root.offset().to_string()),
        ("ROOT_GEN", root.generation().to_string()),
        ("START", start.to_string()),
        ("PER_TURN", per_turn.to_string()),
        ("CRASH_AFTER", crash.to_string()),
        ("KIND", kind.name().to_string()),
        ("TXN", (matches!(kind, Kind::Txn) as u8).to_string()),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Death {
    /// At the n-th allocator or journal step.
    Injected(u64),
    /// SIGKILL from the parent after this many microseconds.
    Timed(u64),
}

/// How a run of crash trials goes.
struct Plan {
    test: &'static str,
    kind: Kind,
    deaths: Vec<Death>,
    /// Whether a first survivor, itself with a crash point armed, tries to
    /// recover before the test process does.
    recoverer_dies: bool,
    seed: u64,
}

/// Runs one peer per death in `plan`, each starting where the last one's
/// completed operations ended; after each death the test process recovers
/// and checks the segment against the model.
fn crash_trials(plan: Plan) {
    let n = plan.deaths.len() as u64;
    let _wd = Watchdog::new(plan.test, Duration::from_secs(60 + 2 * n));
    let name = common::unique_name(plan.test);
    let seg = Segment::options().size(64 << 20).create(&name).unwrap();
    let root = {
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&initial()).unwrap();
        assert_eq!(turn.take_message().unwrap(), Some(h));
        h
    };
    let mut model = Model::default();
    let mut done = 0u64;
    let mut rng = Rng(plan.seed);
    let (mut undone_total, mut reclaimed_total, mut mid_op, mut recoverer_deaths) =
        (0u64, 0u64, 0u64, 0u64);
    let vars = |crash: u64, start: u64, per_turn: u64| {
        work_vars(&name, root, plan.kind, crash, start, per_turn)
    };
    for (trial, &death) in plan.deaths.iter().enumerate() {
        let crash_after = match death {
            Death::Injected(n) => n,
            Death::Timed(_) => 0,
        };
        // (A transactional turn holds several operations.)
        let per_turn = match plan.kind {
            Kind::Txn => 2 + rng.below(6),
            _ => 1 + rng.below(4),
        };
        let mut peer = Peer::spawn("work", &vars(crash_after, done, per_turn));
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
        if plan.recoverer_dies {
            let mut r = Peer::spawn("recover", &vars(1 + rng.below(60), 0, 1));
            let (st, lines) = r.finish(30 * SEC);
            match std::os::unix::process::ExitStatusExt::signal(&st) {
                Some(9) => recoverer_deaths += 1,
                _ => assert_eq!(st.code(), Some(0), "recoverer: {lines:?}"),
            }
        }
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
            model.apply(&op(plan.kind, j));
        }
        // The count is written after each operation: the next one may have
        // completed too (then it is wholly there), or not at all.
        let next = op(plan.kind, now);
        let mut ahead = model.clone();
        ahead.apply(&next);
        if seen == model {
            done = now;
        } else if seen == ahead && !matches!(plan.kind, Kind::Txn) {
            model = ahead;
            done = now + 1;
            // The next peer starts after it.
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
            // A death inside an operation leaves journal records to undo,
            // or blocks it had allocated and not published.
            mid_op += (r.records_undone > 0 || r.blocks_reclaimed > 0) as u64;
        }
        if std::env::var_os("CRASH_VERBOSE").is_some() {
            eprintln!(
                "trial {trial}: {death:?}: {done} operations done; recovery {:?} in {:?}",
                recovery.map(|r| (r.records_undone, r.blocks_reclaimed)),
                t0.elapsed()
            );
        }
    }
    eprintln!(
        "{}: {n} deaths, {done} {} operations; {mid_op} deaths inside an operation \
         ({undone_total} journal records undone, {reclaimed_total} blocks reclaimed); \
         {recoverer_deaths} recoverers died recovering",
        plan.test,
        plan.kind.name()
    );
    assert!(done > 0, "no operation ever completed");
    assert!(
        mid_op > 0,
        "no death fell inside an operation: the test did not test what it claims"
    );
}

fn env_or(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Deaths at random crash points of a mixed workload.
#[test]
fn killed_at_injected_crash_points_recovers_to_the_model() {
    let mut r = Rng(0xC0FFEE);
    crash_trials(Plan {
        test: "crash-injected",
        kind: Kind::Mixed,
        // Mostly early (short runs), sometimes late (a big list and dict).
        deaths: (0..env_or("CRASH_TRIALS", 40))
            .map(|_| {
                Death::Injected(
                    1 + if r.below(4) == 0 {
                        r.below(20_000)
                    } else {
                        r.below(600)
                    },
                )
            })
            .collect(),
        recoverer_dies: false,
        seed: 1,
    });
}

/// SIGKILL at random moments of a mixed workload (anywhere, not only at
/// crash points).
#[test]
fn killed_at_random_moments_recovers_to_the_model() {
    let mut r = Rng(0xBADC0DE);
    crash_trials(Plan {
        test: "crash-timed",
        kind: Kind::Mixed,
        deaths: (0..env_or("CRASH_TRIALS", 40) / 2)
            .map(|_| Death::Timed(200 + r.below(30_000)))
            .collect(),
        recoverer_dies: false,
        seed: 2,
    });
}

/// Every crash point, one after the other, of runs that only put messages,
/// only push (list growth), only insert in the middle, only add dict keys
/// (rehashes): each trial dies at step `k` of its run, `k = 1, 2, ...`.
fn sweep(test: &'static str, kind: Kind, seed: u64) {
    crash_trials(Plan {
        test,
        kind,
        deaths: (1..=env_or("CRASH_SWEEP", 100))
            .map(Death::Injected)
            .collect(),
        recoverer_dies: false,
        seed,
    });
}

#[test]
fn every_crash_point_of_put_message() {
    sweep("sweep-put", Kind::Put, 3);
}

#[test]
fn every_crash_point_of_list_growth() {
    sweep("sweep-push", Kind::Push, 4);
}

#[test]
fn every_crash_point_of_list_insert() {
    sweep("sweep-insert", Kind::Insert, 5);
}

#[test]
fn every_crash_point_of_dict_growth_and_rehash() {
    sweep("sweep-dict", Kind::Dict, 6);
}

/// The first survivor dies while recovering (at a crash point of the
/// rollback, the allocator rebuild or the frees); the next one redoes the
/// recovery and finds the model.
#[test]
fn a_recoverer_killed_while_recovering_is_recovered_from() {
    let mut r = Rng(0xFEED);
    crash_trials(Plan {
        test: "crash-recoverer",
        kind: Kind::Mixed,
        deaths: (0..env_or("CRASH_TRIALS", 40) / 2)
            .map(|_| Death::Injected(1 + r.below(800)))
            .collect(),
        recoverer_dies: true,
        seed: 7,
    });
}

/// Transactional turns of several operations each (list, dict, set,
/// bytearray, queue, in-place stores, frees), killed at random crash
/// points: after recovery the segment is the model after exactly the
/// committed turns (the counter is written inside each turn, so it goes
/// back with it; nothing of the turn in flight is left, not even one of its
/// operations).
#[test]
fn a_transaction_killed_at_injected_crash_points_is_wholly_undone() {
    let mut r = Rng(0x7A11);
    crash_trials(Plan {
        test: "txn-injected",
        kind: Kind::Txn,
        deaths: (0..env_or("CRASH_TRIALS", 40))
            .map(|_| {
                Death::Injected(
                    1 + if r.below(4) == 0 {
                        r.below(20_000)
                    } else {
                        r.below(600)
                    },
                )
            })
            .collect(),
        recoverer_dies: false,
        seed: 11,
    });
}

/// Transactional turns killed by SIGKILL at random moments.
#[test]
fn a_transaction_killed_at_random_moments_is_wholly_undone() {
    let mut r = Rng(0x7A12);
    crash_trials(Plan {
        test: "txn-timed",
        kind: Kind::Txn,
        deaths: (0..env_or("CRASH_TRIALS", 40) / 2)
            .map(|_| Death::Timed(200 + r.below(30_000)))
            .collect(),
        recoverer_dies: false,
        seed: 12,
    });
}

/// Every crash point, one after the other, of a run of transactional
/// turns.
#[test]
fn every_crash_point_of_a_transactional_turn() {
    sweep("sweep-txn", Kind::Txn, 13);
}

/// The recoverer of a dead transaction dies while recovering (rolling the
/// turn's records back, rebuilding, reclaiming); the next one redoes it.
#[test]
fn a_recoverer_killed_while_undoing_a_transaction_is_recovered_from() {
    let mut r = Rng(0x7A13);
    crash_trials(Plan {
        test: "txn-recoverer",
        kind: Kind::Txn,
        deaths: (0..env_or("CRASH_TRIALS", 40) / 2)
            .map(|_| Death::Injected(1 + r.below(800)))
            .collect(),
        recoverer_dies: true,
        seed: 14,
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
    // The peer dies at its 300th step, inside its only turn.
    let mut peer = Peer::spawn(
        "work",
        &work_vars(&name, root, Kind::Mixed, 300, 0, 1_000_000),
    );
    peer.expect("ready", 30 * SEC);
    let (status, _) = peer.finish(30 * SEC);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    // Our wait finds the holder dead, recovers, and enters.
    let mut turn = seg.turn().expect("the turn, after an automatic recovery");
    let r = seg.last_recovery().expect("a recovery was made");
    assert_eq!(r.dead_pid, peer.pid);
    assert_eq!(turn.validate().unwrap().orphans, 0);
    let (done, seen) = observe(&mut turn, root).unwrap();
    let mut model = Model::default();
    for j in 0..done {
        model.apply(&op(Kind::Mixed, j));
    }
    let mut ahead = model.clone();
    ahead.apply(&op(Kind::Mixed, done));
    assert!(seen == model || seen == ahead, "{seen:?}\n{model:?}");
}
