//! Typed snapshots across real processes: a struct derived with rkyv put by
//! one process, read and mutated in place by another, a wrong type refused,
//! a corrupted archive refused at attach by a process that registered the
//! type. The test binary spawns itself as the peer.

mod common;

use std::time::Duration;

use common::{Peer, Watchdog, say, unique_name};
use rkyv::munge::munge;
use rkyv::{Archive, Deserialize, Serialize, rancor};
use shmheap::{Error, Handle, Segment, register_type};

const SEC: Duration = Duration::from_secs(1);

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(derive(Debug))]
enum Kind {
    Plain,
    Tagged(String),
    Weighted { w: f64 },
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(derive(Debug))]
struct Item {
    id: u32,
    kind: Kind,
    score: Option<i64>,
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(derive(Debug))]
struct State {
    counter: u64,
    label: String,
    items: Vec<Item>,
    nested: Vec<Vec<u16>>,
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
#[rkyv(derive(Debug))]
struct NotState {
    counter: u64,
}

fn state() -> State {
    State {
        counter: 0,
        label: "shared state".into(),
        items: (0..50)
            .map(|id| Item {
                id,
                kind: match id % 3 {
                    0 => Kind::Plain,
                    1 => Kind::Tagged(format!("tag {id}")),
                    _ => Kind::Weighted { w: id as f64 / 2.0 },
                },
                score: (id % 2 == 0).then_some(-(id as i64)),
            })
            .collect(),
        nested: vec![vec![1, 2, 3], vec![], vec![65535]],
    }
}

fn handle_vars(name: &str, h: Handle) -> Vec<(&'static str, String)> {
    let (o, g) = h.to_raw();
    vec![
        ("SEG", name.to_owned()),
        ("OFF", o.to_string()),
        ("GEN", g.to_string()),
    ]
}

fn env_handle() -> (String, Handle) {
    let name = common::env("SEG");
    let h = Handle::from_raw(common::env_u64("OFF"), common::env_u64("GEN"));
    (name, h)
}

#[test]
fn peer_main() {
    common::serve_peer(|role| {
        match role {
            "read" => peer_read(),
            "mutate" => peer_mutate(),
            "corrupt" => peer_corrupt(),
            other => Err(format!("unknown role {other}")),
        }
        .map(|()| String::new())
    });
}

/// Reads the snapshot, checks it equals `state()` field by field and after
/// deserializing, checks another type is refused.
fn peer_read() -> Result<(), String> {
    let (name, h) = env_handle();
    let seg = Segment::attach(&name).map_err(|e| e.to_string())?;
    let turn = seg.turn().map_err(|e| e.to_string())?;
    let a = turn.archived::<State>(h).map_err(|e| e.to_string())?;
    if a.label != "shared state" || a.items.len() != 50 || a.items[4].id != 4 {
        return Err(format!("fields differ: {a:?}"));
    }
    let back: State = rkyv::deserialize::<State, rancor::Error>(a).map_err(|e| e.to_string())?;
    if back != state() {
        return Err("deserialized snapshot differs".into());
    }
    match turn.archived::<NotState>(h) {
        Err(Error::TypeMismatch { .. }) => {}
        other => return Err(format!("wrong type not refused: {:?}", other.map(|_| ()))),
    }
    say("read ok");
    Ok(())
}

/// Increments `counter` and every item's score in place, 100 turns.
fn peer_mutate() -> Result<(), String> {
    let (name, h) = env_handle();
    let seg = Segment::attach(&name).map_err(|e| e.to_string())?;
    for _ in 0..100 {
        let mut turn = seg.turn().map_err(|e| e.to_string())?;
        let seal = turn.archived_mut::<State>(h).map_err(|e| e.to_string())?;
        munge!(let ArchivedState { counter, items, .. } = seal);
        let mut counter = counter;
        *counter = (counter.to_native() + 1).into();
        let mut items = rkyv::vec::ArchivedVec::as_slice_seal(items);
        for i in 0..items.len() {
            let item = items.as_mut().index(i);
            munge!(let ArchivedItem { score, .. } = item);
            if let Some(s) = rkyv::option::ArchivedOption::as_seal(score) {
                let mut s = s;
                *s = (s.to_native() + 1).into();
            }
        }
    }
    say("mutate ok");
    Ok(())
}

/// Registers `State`, then attaches: must get `Corrupt`.
fn peer_corrupt() -> Result<(), String> {
    register_type::<State>();
    match Segment::attach(&common::env("SEG")) {
        Err(Error::Corrupt { what, .. }) => {
            say(format!("corrupt {what}"));
            Ok(())
        }
        Err(e) => Err(format!("expected Corrupt, got {e}")),
        Ok(_) => Err("attach accepted a corrupted archive".into()),
    }
}

#[test]
fn snapshot_read_by_another_process() {
    let _wd = Watchdog::test("typed-read");
    let name = unique_name("typed-read");
    let seg = Segment::create(&name, 4 << 20).unwrap();
    let h = seg.turn().unwrap().put_archived(&state()).unwrap();
    let mut peer = Peer::spawn("read", &handle_vars(&name, h));
    peer.expect("read ok", 30 * SEC);
    peer.finish_with(0, 30 * SEC);
}

#[test]
fn snapshot_mutated_in_place_by_another_process() {
    let _wd = Watchdog::test("typed-mutate");
    let name = unique_name("typed-mutate");
    let seg = Segment::create(&name, 4 << 20).unwrap();
    let h = seg.turn().unwrap().put_archived(&state()).unwrap();
    let mut peer = Peer::spawn("mutate", &handle_vars(&name, h));
    // Meanwhile this process reads: the counter only goes up.
    let mut last = 0;
    loop {
        let turn = seg.turn().unwrap();
        let a = turn.archived::<State>(h).unwrap();
        let c = a.counter.to_native();
        assert!(c >= last, "counter went back from {last} to {c}");
        last = c;
        if c == 100 {
            break;
        }
        if let Some(s) = peer.try_status() {
            assert!(s.success(), "peer failed: {}", common::describe(s));
        }
    }
    peer.expect("mutate ok", 30 * SEC);
    peer.finish_with(0, 30 * SEC);
    let turn = seg.turn().unwrap();
    let a = turn.archived::<State>(h).unwrap();
    let back: State = rkyv::deserialize::<State, rancor::Error>(a).unwrap();
    let mut want = state();
    want.counter = 100;
    for it in &mut want.items {
        it.score = it.score.map(|s| s + 100);
    }
    assert_eq!(back, want);
    turn.validate().unwrap();
}

#[test]
fn corrupted_snapshot_refused_at_attach() {
    let _wd = Watchdog::test("typed-corrupt");
    let name = unique_name("typed-corrupt");
    let seg = Segment::create(&name, 4 << 20).unwrap();
    let h = seg.turn().unwrap().put_archived(&state()).unwrap();
    // The root struct sits at the end of the archive; its String and Vec
    // relative pointers are there. Overwrite its last 32 bytes with 0xFF.
    let len = common::peek_u64(&name, h.offset() + 16 + 16);
    let data = h.offset() + 16 + 32;
    common::poke(&name, data + len - 32, &[0xFF; 32]);
    let mut peer = Peer::spawn("corrupt", &[("SEG", name.clone())]);
    let line = peer.line(30 * SEC);
    assert!(
        line.starts_with("corrupt ") && line.contains("fails validation"),
        "{line}"
    );
    peer.finish_with(0, 30 * SEC);
    // Without the type registered, attach checks the block only; the
    // first open in this process refuses the archive.
    assert!(matches!(
        seg.turn().unwrap().archived::<State>(h),
        Err(Error::Corrupt { .. })
    ));
}

/// `archived_mut` in a transactional turn: what the `Seal` hands out is
/// journaled when it is handed out, so a rollback undoes the in-place
/// stores and a commit keeps them.
#[test]
fn archived_mut_in_a_transaction() {
    register_type::<State>();
    let seg = Segment::options().size(1 << 20).create_in_memory().unwrap();
    let h = seg.turn().unwrap().put_archived(&state()).unwrap();
    let bump = |turn: &mut shmheap::Turn<'_>| {
        let seal = turn.archived_mut::<State>(h).unwrap();
        munge!(let ArchivedState { counter, .. } = seal);
        let mut counter = counter;
        *counter = (counter.to_native() + 5).into();
    };
    let counter = |seg: &Segment| {
        seg.turn()
            .unwrap()
            .archived::<State>(h)
            .unwrap()
            .counter
            .to_native()
    };
    {
        let mut t = seg.transaction().unwrap();
        bump(&mut t);
        bump(&mut t);
        assert_eq!(t.archived::<State>(h).unwrap().counter.to_native(), 10);
    }
    assert_eq!(counter(&seg), 0, "rolled back by the drop");
    let mut t = seg.transaction().unwrap();
    bump(&mut t);
    t.commit().unwrap();
    assert_eq!(counter(&seg), 5);
}
