//! File-backed segments across real processes: one process creates a
//! segment in a file and fills its root namespace, a later process (the
//! first one gone) reopens the file, finds everything, and changes it, and
//! the parent finds the change. Peers are this test binary itself (see
//! `tests/multiprocess.rs`); every wait is bounded.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Peer, Rng, Watchdog, env};
use shmheap::{Error, Segment, Value, value};

const SEC: Duration = Duration::from_secs(1);
/// Env var carrying the segment file's path to a peer.
const PATH_ENV: &str = "SHMHEAP_PATH";

#[test]
fn peer_main() {
    common::serve_peer(|role| {
        let path = PathBuf::from(env(PATH_ENV));
        match role {
            "create" => peer_create(&path),
            "reopen" => peer_reopen(&path),
            other => Err(format!("unknown role {other}")),
        }
    });
}

/// A temporary directory of this test, removed (with the segment files in
/// it) when dropped, also while a failing test unwinds.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shmheap-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).expect("create the test's temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The root namespace's entries as the creating process writes them:
/// nested lists, dicts, a set, bytes, a bytearray, strs, ints.
fn entries() -> Vec<(Value, Value)> {
    vec![
        ("ints".into(), value!([0, 1, -1, i64::MAX, i64::MIN])),
        ("str".into(), "héllo, wörld".into()),
        ("bytes".into(), Value::Bytes(vec![0, 1, 2, 254, 255])),
        ("bytearray".into(), Value::bytearray(*b"mutable")),
        (
            "set".into(),
            Value::Set(vec![1.into(), "two".into(), value!((3, "t"))]),
        ),
        (
            "dict".into(),
            value!({"inner": [1, {"deep": [2, [3, "x"]]}], 5: None, (1, 2): 2.5}),
        ),
        (
            "list".into(),
            value!([[1, 2], [], "x", 2.5, true, {"k": "v"}]),
        ),
        ("counter".into(), 41.into()),
        (7.into(), value!(("tuple", 7))),
    ]
}

/// What the second process makes of them.
fn mutated() -> Value {
    let mut es = entries();
    es.retain(|(k, _)| *k != Value::from("str"));
    for (k, v) in &mut es {
        if *k == Value::from("list") {
            let Value::List(items) = v else {
                unreachable!()
            };
            items.push(42.into());
        }
        if *k == Value::from("counter") {
            *v = 42.into();
        }
    }
    es.push(("added".into(), value!({"by": "the second process"})));
    Value::Dict(es)
}

fn root_value(seg: &Segment) -> Result<Option<Value>, Error> {
    let turn = seg.turn()?;
    turn.root_ref()?
        .map(|d| shmheap::ValueRef::Dict(d).to_value())
        .transpose()
}

/// Creates the file-backed segment (kept after this process ends), fills
/// its root, flushes it, and ends.
fn peer_create(path: &Path) -> Result<String, String> {
    let seg = Segment::options()
        .size(1 << 20)
        .keep(true)
        .create_file(path)
        .map_err(|e| format!("create_file: {e}"))?;
    let mut turn = seg.turn().map_err(|e| e.to_string())?;
    let mut root = turn.root().map_err(|e| format!("root: {e}"))?;
    for (k, v) in entries() {
        root.insert(k, v).map_err(|e| format!("insert: {e}"))?;
    }
    // Flushed inside the turn: no operation is half-done in the file.
    seg.flush().map_err(|e| format!("flush: {e}"))?;
    Ok("created".into())
}

/// Reopens the file (the creator is gone), checks what it finds, changes
/// it, and ends.
fn peer_reopen(path: &Path) -> Result<String, String> {
    let seg = Segment::options()
        .attach_file(path)
        .map_err(|e| format!("attach_file: {e}"))?;
    let report = seg
        .turn()
        .and_then(|t| t.validate())
        .map_err(|e| format!("validate: {e}"))?;
    if report.orphans != 0 || report.roots != 1 {
        return Err(format!("unexpected report {report:?}"));
    }
    let found = root_value(&seg).map_err(|e| e.to_string())?;
    if found != Some(Value::Dict(entries())) {
        return Err(format!("the root holds {found:?}"));
    }
    let mut turn = seg.turn().map_err(|e| e.to_string())?;
    let step = |r: Result<(), Error>, what: &str| r.map_err(|e| format!("{what}: {e}"));
    let mut root = turn.root().map_err(|e| e.to_string())?;
    step(
        root.list_mut(&"list".into()).and_then(|mut l| l.push(42)),
        "push",
    )?;
    step(root.int_mut(&"counter".into()).map(|c| *c += 1), "int_mut")?;
    step(root.remove(&"str".into()).map(drop), "remove")?;
    step(
        root.insert("added", value!({"by": "the second process"}))
            .map(drop),
        "insert",
    )?;
    drop(turn);
    seg.flush().map_err(|e| format!("flush: {e}"))?;
    Ok("reopened".into())
}

#[test]
fn a_file_backed_root_outlives_its_processes() {
    let _wd = Watchdog::test("file-root");
    let dir = TempDir::new("file-root");
    let path = dir.file("segment");
    let vars = [(PATH_ENV, path.display().to_string())];
    let lines = Peer::spawn("create", &vars).finish_with(0, 60 * SEC);
    assert_eq!(lines, ["created"]);
    // The creator is gone; its file stays.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
    let lines = Peer::spawn("reopen", &vars).finish_with(0, 60 * SEC);
    assert_eq!(lines, ["reopened"]);
    // The second process's changes are in the file.
    {
        let seg = Segment::options().attach_file(&path).unwrap();
        assert_eq!(root_value(&seg).unwrap(), Some(mutated()));
        let report = seg.turn().unwrap().validate().unwrap();
        assert_eq!((report.roots, report.messages, report.orphans), (1, 0, 0));
        seg.flush().unwrap();
    }
    // Attaching never removes the file; the directory's drop does.
    assert!(path.exists());
}

#[test]
fn a_file_that_is_not_a_segment_gives_bad_magic() {
    let _wd = Watchdog::test("file-foreign");
    let dir = TempDir::new("file-foreign");
    let mut rng = Rng(7);
    for (what, bytes) in [
        ("64 KiB of noise", rng.bytes(64 << 10)),
        ("1 MiB of zeros", vec![0; 1 << 20]),
        ("a short text", b"not a segment, just some text\n".to_vec()),
    ] {
        let path = dir.file(what);
        std::fs::write(&path, &bytes).unwrap();
        let r = Segment::options().attach_file(&path);
        assert!(matches!(r, Err(Error::BadMagic)), "{what}: {r:?}");
        // The file is left as it was.
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}");
    }
    let r = Segment::options().attach_file(&dir.file("missing"));
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
}

#[test]
fn file_backed_create_is_exclusive_and_removes_its_file_unless_kept() {
    let _wd = Watchdog::test("file-create");
    let dir = TempDir::new("file-create");
    let path = dir.file("segment");
    {
        let seg = Segment::options()
            .size(64 << 10)
            .create_file(&path)
            .unwrap();
        seg.turn().unwrap().root().unwrap().insert("k", 1).unwrap();
        seg.flush().unwrap();
        let again = Segment::options().size(64 << 10).create_file(&path);
        assert!(matches!(again, Err(Error::NameTaken { .. })), "{again:?}");
        // A second attachment in this process sees the root.
        let other = Segment::options().attach_file(&path).unwrap();
        assert_eq!(root_value(&other).unwrap(), Some(value!({"k": 1})));
    }
    assert!(!path.exists(), "the creator removes its file when dropped");
    // A shm segment has nothing to flush.
    let name = common::unique_name("file-create-shm");
    let seg = Segment::create(&name, 64 << 10).unwrap();
    seg.flush().unwrap();
}
