//! Typed snapshot tests on heap-backed segments (they run under Miri).

use rkyv::munge::munge;
use rkyv::{Archive, Deserialize, Serialize, rancor};

use crate::{Error, Segment, Value, register_type, value};

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(derive(Debug))]
struct Particle {
    id: u32,
    pos: [f32; 3],
    vel: [f32; 3],
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(derive(Debug))]
enum Phase {
    Idle,
    Running { since: u64 },
    Done(String),
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(derive(Debug))]
struct Sim {
    tick: u64,
    name: String,
    particles: Vec<Particle>,
    note: Option<String>,
    phase: Phase,
    history: Vec<Vec<i32>>,
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
#[rkyv(derive(Debug))]
struct Other {
    tick: u64,
}

fn sim(n: u32) -> Sim {
    Sim {
        tick: 0,
        name: "box of particles".into(),
        particles: (0..n)
            .map(|id| Particle {
                id,
                pos: [id as f32, 0.0, 0.0],
                vel: [1.0, 0.5, -0.25],
            })
            .collect(),
        note: Some("hello".into()),
        phase: Phase::Running { since: 7 },
        history: vec![vec![1, 2], vec![], vec![-3]],
    }
}

fn seg() -> Segment {
    crate::test_segment(1 << 20)
}

#[test]
fn put_read_and_deserialize() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let original = sim(10);
    let h = turn.put_archived(&original).unwrap();
    assert_eq!(turn.take_message().unwrap(), Some(h));
    let a = turn.archived::<Sim>(h).unwrap();
    assert_eq!(a.name, "box of particles");
    assert_eq!(a.particles.len(), 10);
    assert_eq!(a.particles[3].pos[0], 3.0);
    assert!(matches!(a.phase, ArchivedPhase::Running { since } if since == 7));
    let back: Sim = rkyv::deserialize::<Sim, rancor::Error>(a).unwrap();
    assert_eq!(back, original);
    // Opened again: served without revalidation, same result.
    assert_eq!(turn.archived::<Sim>(h).unwrap().tick, 0);
    turn.validate().unwrap();
    turn.free(h).unwrap();
    assert!(matches!(
        turn.archived::<Sim>(h),
        Err(Error::StaleHandle { .. })
    ));
}

#[test]
fn mutate_in_place_through_seal() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = turn.put_archived(&sim(4)).unwrap();
    for _ in 0..3 {
        let seal = turn.archived_mut::<Sim>(h).unwrap();
        munge!(let ArchivedSim { tick, particles, .. } = seal);
        let mut tick = tick;
        *tick = (tick.to_native() + 1).into();
        let mut ps = rkyv::vec::ArchivedVec::as_slice_seal(particles);
        for i in 0..ps.len() {
            let p = ps.as_mut().index(i);
            munge!(let ArchivedParticle { pos, vel, .. } = p);
            let mut pos = pos;
            for k in 0..3 {
                let v = pos[k].to_native() + vel[k].to_native();
                pos[k] = v.into();
            }
        }
    }
    let a = turn.archived::<Sim>(h).unwrap();
    assert_eq!(a.tick, 3);
    assert_eq!(a.particles[2].pos[0], 2.0 + 3.0);
    assert_eq!(a.particles[2].pos[2], -0.75);
    turn.validate().unwrap();
}

#[test]
fn another_type_is_refused() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = turn.put_archived(&sim(1)).unwrap();
    let e = turn.archived::<Other>(h).unwrap_err();
    assert!(matches!(e, Error::TypeMismatch { .. }), "{e}");
    assert!(matches!(
        turn.archived_mut::<Other>(h),
        Err(Error::TypeMismatch { .. })
    ));
    let l = turn.put_message(&value!([1])).unwrap();
    assert!(matches!(
        turn.archived::<Sim>(l),
        Err(Error::TypeMismatch {
            expected: "typed",
            ..
        })
    ));
    // Registered types are named in the error.
    register_type::<Sim>();
    let e = turn.archived::<Other>(h).unwrap_err();
    assert!(e.to_string().contains("Sim"), "{e}");
}

#[test]
fn typed_values_live_in_lists_and_are_reclaimed() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&value!(["x"])).unwrap();
    let base = turn.stats().used;
    let t = Value::typed(&sim(3)).unwrap();
    {
        let mut l = turn.list_mut(h).unwrap();
        l.push(t.clone()).unwrap();
        l.repeat(2).unwrap();
        let item = l.get(1).unwrap();
        let a = item.as_archived::<Sim>().unwrap();
        assert_eq!(a.particles.len(), 3);
        assert!(item.as_archived::<Other>().is_err());
        assert!(l.get(0).unwrap().as_archived::<Sim>().is_err());
        assert_eq!(l.count(&t).unwrap(), 2);
        // A typed item has a handle and opens through the turn too.
        assert!(l.item_handle(1).unwrap().is_some());
        // ["x", t, "x", t]
        assert_eq!(l.pop().unwrap(), Some(t.clone()));
        assert_eq!(l.pop().unwrap(), Some(Value::Str("x".into())));
        let Some(Value::Typed(tv)) = l.pop().unwrap() else {
            panic!("expected a typed value")
        };
        assert_eq!(tv.access::<Sim>().unwrap().name, "box of particles");
        assert_eq!(l.len(), 1);
    }
    assert_eq!(turn.stats().used, base);
    turn.validate().unwrap();
}

#[test]
fn a_corrupted_archive_is_refused() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = turn.put_archived(&sim(2)).unwrap();
    // Break the archived String's relative pointer: point it far away.
    let l = crate::format::typed::TypedLayout::read(&turn.heap(), h.offset).unwrap();
    let data = h.offset.add(crate::format::typed::TYPED_DATA);
    let mem = turn.mem();
    // Overwrite the last 16 bytes (inside the root struct) with 0xFF.
    mem.write_bytes(data.add(l.len - 16), &[0xFF; 16]).unwrap();
    let e = turn.archived::<Sim>(h).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    // Registered, the attach-time validation refuses it too.
    register_type::<Sim>();
    let e = turn.validate().unwrap_err();
    assert!(e.to_string().contains("fails validation"), "{e}");
}
