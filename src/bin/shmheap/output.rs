//! Text and JSON forms shared by the commands.

use serde_json::{Value as Json, json};
use shmheap::{ProcessInfo, Status, TurnState};

/// `1536` → `1.5 KiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u < UNITS.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// `holding (ticket 7)`, `waiting (ticket 8)`, `idle`.
pub(crate) fn state(s: TurnState) -> String {
    match s {
        TurnState::Idle => "idle".into(),
        TurnState::Waiting(t) => format!("waiting (ticket {t})"),
        TurnState::Holding(t) => format!("holding the turn (ticket {t})"),
        TurnState::Abandoned(t) => format!("gave up ticket {t}"),
    }
}

fn state_json(s: TurnState) -> Json {
    let (name, ticket) = match s {
        TurnState::Idle => ("idle", None),
        TurnState::Waiting(t) => ("waiting", Some(t)),
        TurnState::Holding(t) => ("holding", Some(t)),
        TurnState::Abandoned(t) => ("abandoned", Some(t)),
    };
    json!({ "state": name, "ticket": ticket })
}

pub(crate) fn process_json(p: &ProcessInfo) -> Json {
    let mut v = json!({ "pid": p.pid, "alive": p.alive });
    if let (Json::Object(o), Json::Object(s)) = (&mut v, state_json(p.state)) {
        o.extend(s);
    }
    v
}

/// `1234 (alive), 1240 (dead)`.
pub(crate) fn processes(s: &Status) -> String {
    if s.processes.is_empty() {
        return "-".into();
    }
    s.processes
        .iter()
        .map(|p| format!("{} ({})", p.pid, if p.alive { "alive" } else { "dead" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status as the JSON of `info` (and the rows of `ls`).
pub(crate) fn status_json(s: &Status) -> Json {
    let t = &s.turn;
    json!({
        "version": s.version,
        "size": s.size,
        "used": s.used,
        "high_water": s.high_water,
        "creator_pid": s.creator_pid,
        "max_processes": s.max_processes,
        "messages": s.messages,
        "has_root": s.has_root,
        "in_operation": s.in_operation,
        "processes": s.processes.iter().map(process_json).collect::<Vec<_>>(),
        "turn": {
            "now_serving": t.now_serving,
            "next_ticket": t.next_ticket,
            "sleepers": t.sleepers,
            "holder": t.holder,
            "holder_alive": t.holder.map(|_| t.holder_alive),
            "waiting": t.waiting,
            "parked": t.parked,
        },
    })
}

pub(crate) fn print_json(v: &Json) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
