//! Typed snapshots: a simulation state (a Rust struct derived with rkyv) put
//! by one process, advanced in place by a second process one turn per step,
//! while the first reads and prints it. Nothing is serialized between them:
//! both read the same archived bytes in the segment.
//!
//! `cargo run --release --example typed`

use std::process::{Command, Stdio};
use std::time::Instant;

use rkyv::munge::munge;
use rkyv::{Archive, Deserialize, Serialize};
use shmheap::{Handle, Segment};

const STEPS: u64 = 10_000;
const PARTICLES: u32 = 1000;
const DT: f32 = 0.01;

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Particle {
    id: u32,
    pos: [f32; 3],
    vel: [f32; 3],
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Simulation {
    tick: u64,
    name: String,
    particles: Vec<Particle>,
}

/// The second process: one turn per step, positions advanced in place.
fn stepper(name: &str, h: Handle) -> Result<(), shmheap::Error> {
    let seg = Segment::attach(name)?;
    for _ in 0..STEPS {
        let mut turn = seg.turn()?;
        let sim = turn.archived_mut::<Simulation>(h)?;
        munge!(let ArchivedSimulation { tick, particles, .. } = sim);
        let mut tick = tick;
        *tick = (tick.to_native() + 1).into();
        let mut ps = rkyv::vec::ArchivedVec::as_slice_seal(particles);
        for i in 0..ps.len() {
            munge!(let ArchivedParticle { pos, vel, .. } = ps.as_mut().index(i));
            let mut pos = pos;
            for k in 0..3 {
                pos[k] = (pos[k].to_native() + vel[k].to_native() * DT).into();
            }
        }
    }
    println!(
        "[stepper pid {}] advanced {STEPS} steps in place",
        std::process::id()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--stepper" {
        let h = Handle::from_raw(args[3].parse()?, args[4].parse()?);
        return Ok(stepper(&args[2], h)?);
    }
    let name = format!("shmheap-typed-{}", std::process::id());
    let seg = Segment::create(&name, 64 << 20)?;
    let sim = Simulation {
        tick: 0,
        name: "1000 particles drifting".into(),
        particles: (0..PARTICLES)
            .map(|id| Particle {
                id,
                pos: [0.0; 3],
                vel: [1.0, id as f32 / PARTICLES as f32, -0.5],
            })
            .collect(),
    };
    let h = seg.turn()?.put_archived(&sim)?;
    let bytes = match seg.turn()?.get(h)? {
        shmheap::ValueRef::Typed(t) => t.as_bytes()?.len(),
        _ => 0,
    };
    println!(
        "[viewer pid {}] put a {bytes}-byte snapshot of {:?} ({PARTICLES} particles) into {name:?}",
        std::process::id(),
        sim.name,
    );
    let (off, generation) = h.to_raw();
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--stepper",
            &name,
            &off.to_string(),
            &generation.to_string(),
        ])
        .stdout(Stdio::inherit())
        .spawn()?;
    let start = Instant::now();
    let mut next_print = 0;
    loop {
        let turn = seg.turn()?;
        let s = turn.archived::<Simulation>(h)?;
        let tick = s.tick.to_native();
        if tick >= next_print {
            let p = &s.particles[PARTICLES as usize - 1];
            println!(
                "[viewer] tick {tick:>5}: particle {} at ({:.2}, {:.2}, {:.2})",
                p.id, p.pos[0], p.pos[1], p.pos[2]
            );
            next_print += STEPS / 5;
        }
        if tick == STEPS {
            break;
        }
        drop(turn);
        std::thread::yield_now();
    }
    let elapsed = start.elapsed();
    if !child.wait()?.success() {
        return Err("the stepper failed".into());
    }
    let turn = seg.turn()?;
    let s = turn.archived::<Simulation>(h)?;
    let x = s.particles[0].pos[0].to_native();
    println!(
        "[viewer] done: tick {} (expected {STEPS}), particle 0 at x = {x:.2} (expected {:.2}); {:.0} steps/s of {PARTICLES} particles, in place",
        s.tick,
        STEPS as f32 * DT,
        STEPS as f64 / elapsed.as_secs_f64()
    );
    if s.tick != STEPS || (x - STEPS as f32 * DT).abs() > 0.5 {
        return Err("unexpected final state".into());
    }
    Ok(())
}
