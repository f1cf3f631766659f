//! The `shmheap` binary run as a subprocess on segments these tests make:
//! each command's output and exit status, `--json` parsed back, the error
//! cases, and `rm` refused while a live peer (this test binary, spawned as
//! a child) is attached. Every child has a watchdog: killed, and the test
//! failed, if it does not finish in time.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use shmheap::{Segment, Value, value};

const WATCHDOG: Duration = Duration::from_secs(60);
const PEER: &str = "SHMHEAP_CLI_PEER";

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn json(&self) -> Json {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("{e}: {}", self.out))
    }
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.out, self.err);
        self
    }
    /// A failure: non-zero status and one line on stderr, no panic.
    fn fails(self, says: &str) -> Run {
        assert_ne!(self.code, 0, "{}", self.out);
        assert_eq!(self.err.lines().count(), 1, "one line: {}", self.err);
        assert!(
            self.err.contains(says),
            "{:?} should say {says:?}",
            self.err
        );
        assert!(!self.err.contains("panicked"), "{}", self.err);
        self
    }
}

/// Runs `shmheap ARGS` with a watchdog.
fn shmheap(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmheap"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shmheap");
    let deadline = Instant::now() + WATCHDOG;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("shmheap {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8(out.stdout).unwrap(),
        err: String::from_utf8(out.stderr).unwrap(),
    }
}

fn unique(tag: &str) -> String {
    format!("shmheap-cli-{}-{tag}", std::process::id())
}

/// A peer process (this test binary running `peer`), attached to `name`
/// and, with `hold`, holding its turn; it says `ready` and then waits for
/// its stdin to close (or the watchdog).
struct Peer(Child);

impl Peer {
    fn start(name: &str, hold: bool) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "peer", "--nocapture", "--test-threads=1"])
            .env(
                PEER,
                format!("{}:{name}", if hold { "hold" } else { "attach" }),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn peer");
        let mut line = String::new();
        let mut r = BufReader::new(child.stdout.take().unwrap());
        while !line.contains("ready") {
            line.clear();
            if r.read_line(&mut line).unwrap() == 0 {
                panic!("peer ended before it was ready");
            }
        }
        Peer(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Ends it at once, as a crash would.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The peer's side (does nothing unless spawned as one).
#[test]
fn peer() {
    let Ok(what) = std::env::var(PEER) else {
        return;
    };
    let (mode, name) = what.split_once(':').unwrap();
    let seg = if name.contains('/') {
        Segment::options().attach_file(Path::new(name))
    } else {
        Segment::attach(name)
    }
    .unwrap();
    let _turn = (mode == "hold").then(|| seg.turn().unwrap());
    println!("ready");
    std::io::stdout().flush().unwrap();
    // Wait for the parent to close stdin, with a watchdog.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_line(&mut String::new());
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(WATCHDOG);
}

const SEED: &str = "['hello', 0, (8, 2.0, False), {b'world': -6, 5: 4}]";

#[test]
fn a_session_on_a_named_segment() {
    let name = unique("seed");
    let seg = Segment::options()
        .size(1 << 20)
        .keep(true)
        .create(&name)
        .unwrap();
    {
        let mut turn = seg.turn().unwrap();
        turn.put_message(&value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}]))
            .unwrap();
        turn.put_message(&Value::Int(7)).unwrap();
        let mut root = turn.root().unwrap();
        root.insert("model", value!([1, 2.5, "w"])).unwrap();
        root.insert("deep", value!([[[[[1]]]]])).unwrap();
    }
    let me = std::process::id();

    // ls: listed, with this process attached and alive.
    let ls = shmheap(&["ls"]).ok();
    assert!(ls.out.lines().any(|l| l.starts_with(&name)), "{}", ls.out);
    let rows = shmheap(&["ls", "--json"]).ok().json();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name.as_str())
        .expect("listed");
    assert_eq!(row["size"], 1 << 20);
    assert_eq!(row["version"], shmheap::Status::FORMAT_VERSION);
    assert!(row["used"].as_u64().unwrap() > 0);
    assert_eq!(row["processes"][0]["pid"], me);
    assert_eq!(row["processes"][0]["alive"], true);

    // info
    let info = shmheap(&["info", &name]).ok();
    assert!(info.out.contains("turn           free"), "{}", info.out);
    assert!(info.out.contains(&format!("pid {me}")), "{}", info.out);
    let info = shmheap(&["info", &name, "--json"]).ok().json();
    assert_eq!(info["messages"], 2);
    assert_eq!(info["has_root"], true);
    assert_eq!(info["turn"]["holder"], Json::Null);
    assert_eq!(info["processes"][0]["state"], "idle");

    // dump: the seed message as Python prints it; limits.
    let dump = shmheap(&["dump", &name]).ok();
    assert!(dump.out.contains(&format!("0: {SEED}")), "{}", dump.out);
    assert!(dump.out.contains("'model': [1, 2.5, 'w']"), "{}", dump.out);
    assert!(dump.out.contains("1: 7"), "{}", dump.out);
    let limited = shmheap(&["dump", &name, "--depth", "2", "--max-items", "1"]).ok();
    assert!(limited.out.contains("0: ['hello', ...]"), "{}", limited.out);
    assert!(limited.out.contains("... (1 more)"), "{}", limited.out);
    let dump = shmheap(&["dump", &name, "--json"]).ok().json();
    assert_eq!(dump["queue"][0]["value"], SEED);
    assert_eq!(dump["queue"][1]["value"], "7");
    assert_eq!(dump["root"][0]["key"], "'model'");
    assert_eq!(dump["root"][1]["value"], "[[[[[1]]]]]");
    assert_eq!(dump["snapshot"], false);
    let snap = shmheap(&["dump", &name, "--no-turn"]).ok();
    assert!(snap.out.contains(SEED), "{}", snap.out);
    assert!(snap.err.contains("may be inconsistent"), "{}", snap.err);

    // stats
    let stats = shmheap(&["stats", &name]).ok();
    assert!(stats.out.contains("blocks by size class"), "{}", stats.out);
    let stats = shmheap(&["stats", &name, "--json"]).ok().json();
    let classes = stats["classes"].as_array().unwrap();
    let in_classes: u64 = classes
        .iter()
        .map(|c| c["allocated"].as_u64().unwrap())
        .sum();
    // The journal's block is in a class but not in `blocks`.
    assert!(in_classes >= stats["blocks"].as_u64().unwrap());
    assert!(stats["largest_free"].as_u64().unwrap() > 0);
    let frag = stats["fragmentation"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&frag));
    shmheap(&["stats", &name, "--no-turn", "--json"])
        .ok()
        .json();

    // validate
    let v = shmheap(&["validate", &name]).ok();
    assert!(v.out.contains("valid"), "{}", v.out);
    let v = shmheap(&["validate", &name, "--json"]).ok().json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["messages"], 2);

    // watch: two refreshes, JSON lines.
    let w = shmheap(&[
        "watch",
        &name,
        "--json",
        "--count",
        "2",
        "--interval",
        "0.01",
    ])
    .ok();
    assert_eq!(w.out.lines().count(), 2);
    for line in w.out.lines() {
        let v: Json = serde_json::from_str(line).unwrap();
        assert!(v["turns_per_second"].as_f64().is_some());
        assert_eq!(v["waiting"], 0);
    }
    let w = shmheap(&["watch", &name, "--count", "1", "--interval", "0.01"]).ok();
    assert!(w.out.starts_with("   TURNS/S"), "{}", w.out);

    // recover: nothing to do.
    let r = shmheap(&["recover", &name]).ok();
    assert!(r.out.contains("nothing to recover"), "{}", r.out);
    assert_eq!(
        shmheap(&["recover", &name, "--json"]).ok().json()["recovered"],
        false
    );

    // Inspecting changed nothing: the same values, no leftover records.
    {
        let turn = seg.turn().unwrap();
        assert_eq!(turn.message_count(), 2);
        assert_eq!(
            turn.get(turn.read_message().unwrap().unwrap())
                .unwrap()
                .to_string(),
            SEED
        );
    }
    assert_eq!(seg.processes(), vec![me]);

    // rm: refused while a live peer is attached (and this process).
    let peer = Peer::start(&name, false);
    let refused = shmheap(&["rm", &name]).fails("refused");
    assert!(
        refused.err.contains(&peer.pid().to_string()),
        "{}",
        refused.err
    );
    assert!(shmheap(&["ls"]).ok().out.contains(&name));
    drop(peer);
    drop(seg);
    let rm = shmheap(&["rm", &name, "--json"]).ok().json();
    assert_eq!(rm["removed"], true);
    assert!(!shmheap(&["ls"]).ok().out.contains(&name));
    shmheap(&["info", &name]).fails("no such segment");
}

#[test]
fn a_dead_holder_is_reported_and_recovered() {
    let dir = temp_dir("dead");
    let path = dir.join("seg.shm");
    let p = path.to_str().unwrap();
    {
        let seg = Segment::options()
            .size(256 << 10)
            .keep(true)
            .create_file(&path)
            .unwrap();
        seg.turn().unwrap().put_message(&value!(["kept"])).unwrap();
    }
    let peer = Peer::start(p, true);
    let pid = peer.pid();
    // Alive and holding: dump waits and times out, --no-turn reads.
    let info = shmheap(&["info", p, "--json"]).ok().json();
    assert_eq!(info["turn"]["holder"], pid);
    assert_eq!(info["turn"]["holder_alive"], true);
    shmheap(&["dump", p, "--timeout", "0.2"]).fails("did not come in time");
    assert!(
        shmheap(&["dump", p, "--no-turn"])
            .ok()
            .out
            .contains("0: ['kept']")
    );
    shmheap(&["rm", p]).fails("refused");
    peer.kill();
    // Dead holding the turn.
    let info = shmheap(&["info", p]).ok();
    assert!(info.out.contains("which is dead"), "{}", info.out);
    shmheap(&["dump", p]).fails(&format!("process {pid} died holding the turn"));
    shmheap(&["validate", p]).fails("recover");
    let r = shmheap(&["recover", p, "--json"]).ok().json();
    assert_eq!(r["recovered"], true);
    assert_eq!(r["dead_pid"], pid);
    assert_eq!(r["messages"], 1);
    shmheap(&["validate", p]).ok();
    assert!(shmheap(&["dump", p]).ok().out.contains("0: ['kept']"));
    shmheap(&["rm", p]).ok();
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique(tag));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn errors_are_one_line_and_nonzero() {
    let dir = temp_dir("errors");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();

    for cmd in [
        "info", "dump", "stats", "validate", "recover", "rm", "watch",
    ] {
        shmheap(&[cmd, "shmheap-cli-no-such-segment"]).fails("no such segment");
    }
    shmheap(&["info", &p("missing.shm")]).fails("no such segment");

    // A file that is not a segment: refused everywhere, never removed.
    std::fs::write(p("junk"), vec![7u8; 100_000]).unwrap();
    std::fs::write(p("tiny"), b"abc").unwrap();
    for cmd in ["info", "dump", "validate", "rm", "recover"] {
        shmheap(&[cmd, &p("junk")]).fails("not a shmheap segment");
    }
    shmheap(&["info", &p("tiny")]).fails("not a shmheap segment");
    assert!(dir.join("junk").exists());
    // ... and not listed, while segments in the same directory are.
    let seg = Segment::options()
        .size(64 << 10)
        .keep(true)
        .create_file(&dir.join("good.shm"))
        .unwrap();
    drop(seg);
    let rows = shmheap(&["ls", dir.to_str().unwrap(), "--json"])
        .ok()
        .json();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["good.shm"]);

    // Another format version.
    let mut bytes = std::fs::read(dir.join("good.shm")).unwrap();
    bytes[8..12].copy_from_slice(&999u32.to_le_bytes());
    std::fs::write(p("other.shm"), &bytes).unwrap();
    shmheap(&["info", &p("other.shm")]).fails("version 999");
    shmheap(&["dump", &p("other.shm")]).fails("version 999");
    let rows = shmheap(&["ls", dir.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert!(rows.as_array().unwrap().iter().any(|r| r["version"] == 999));

    // A damaged one: a message whose block header is smashed.
    let seg = Segment::options()
        .size(64 << 10)
        .keep(true)
        .create_file(&dir.join("bad.shm"))
        .unwrap();
    let h = seg.turn().unwrap().put_message(&value!(["x", 1])).unwrap();
    drop(seg);
    let mut bytes = std::fs::read(p("bad.shm")).unwrap();
    let at = h.offset() as usize;
    bytes[at..at + 8].copy_from_slice(&0xdead_beef_u64.to_le_bytes());
    std::fs::write(p("bad.shm"), &bytes).unwrap();
    let v = shmheap(&["validate", &p("bad.shm")]);
    assert_eq!(v.code, 1, "{} {}", v.out, v.err);
    assert!(v.out.contains("INVALID"), "{}", v.out);
    assert_eq!(
        shmheap(&["validate", &p("bad.shm"), "--json"]).json()["valid"],
        false
    );
    shmheap(&["stats", &p("bad.shm")]).fails("corrupt");
    let d = shmheap(&["dump", &p("bad.shm")]);
    assert!(!d.err.contains("panicked"), "{}", d.err);
    assert!(
        d.code != 0 || d.out.contains("<error:"),
        "{} {}",
        d.out,
        d.err
    );

    // Permission denied (not testable as root, who may read anything).
    std::fs::copy(dir.join("good.shm"), dir.join("locked.shm")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("locked.shm"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    if std::fs::read(dir.join("locked.shm")).is_err() {
        shmheap(&["info", &p("locked.shm")]).fails("Permission denied");
        shmheap(&["dump", &p("locked.shm")]).fails("Permission denied");
    } else {
        println!("skipped the permission-denied case: this user (root?) reads a mode-0 file");
    }
    // Usage errors: clap's, non-zero.
    assert_ne!(shmheap(&["dump"]).code, 0);
    assert_ne!(shmheap(&["frobnicate"]).code, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
