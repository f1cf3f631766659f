//! Helpers for the multi-process tests: unique segment names, peers spawned
//! from the test binary itself, timeouts on everything that could hang, and
//! raw access to a segment's bytes through `/dev/shm`.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The body of a test binary's `peer_main`: if this process was spawned as
/// a peer, arms the peer watchdog, runs `run(role)`, reports its message
/// (or `error ...`) to the parent and exits (0 or 1); otherwise returns.
pub fn serve_peer(run: impl FnOnce(&str) -> Result<String, String>) {
    let Ok(role) = std::env::var(PEER_ENV) else {
        return;
    };
    peer_watchdog();
    let code = match run(&role) {
        Ok(msg) => {
            if !msg.is_empty() {
                say(msg);
            }
            0
        }
        Err(e) => {
            say(format!("error {e}"));
            1
        }
    };
    std::process::exit(code);
}

/// Env var naming the role a spawned peer plays.
pub const PEER_ENV: &str = "SHMHEAP_PEER";
/// Prefix of the stdout lines a peer sends to its parent (libtest's own
/// output goes to the same stdout and is ignored).
pub const LINE: &str = "@@PEER ";
/// How long a peer may live before its own watchdog ends it.
pub const PEER_LIMIT: Duration = Duration::from_secs(100);
/// How long a test may run before its watchdog aborts the whole process.
pub const TEST_LIMIT: Duration = Duration::from_secs(120);

fn registry() -> &'static Mutex<Vec<String>> {
    static NAMES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    NAMES.get_or_init(|| Mutex::new(Vec::new()))
}

/// A segment name unique to this process, test and call; remembered so that
/// a watchdog abort can still unlink it.
pub fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("shmheap-t{}-{test}-{n}", std::process::id());
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(name.clone());
    name
}

fn unlink_all() {
    let names = registry().lock().unwrap_or_else(|p| p.into_inner());
    for n in names.iter() {
        let _ = std::fs::remove_file(shm_path(n));
    }
}

/// Aborts the process if the test it guards runs longer than `limit`
/// (after unlinking every segment name this process made). Dropping it
/// (also while unwinding from a failed assertion) disarms it.
pub struct Watchdog {
    _tx: mpsc::Sender<()>,
}

impl Watchdog {
    pub fn new(test: &str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let test = test.to_owned();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("WATCHDOG: test {test} still running after {limit:?}; aborting");
                unlink_all();
                std::process::abort();
            }
        });
        Watchdog { _tx: tx }
    }

    /// The default guard of a test.
    pub fn test(test: &str) -> Watchdog {
        Watchdog::new(test, TEST_LIMIT)
    }
}

/// In a peer: exit with code 99 if still alive after [`PEER_LIMIT`], so a
/// stuck peer never outlives its test run for long.
pub fn peer_watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(PEER_LIMIT);
        eprintln!("peer {}: watchdog expired", std::process::id());
        std::process::exit(99);
    });
}

/// Sends one protocol line to the parent.
pub fn say(msg: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{LINE}{msg}");
    let _ = out.flush();
}

/// In a peer: reads one line of the parent's stdin.
pub fn hear() -> String {
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
    s.trim().to_owned()
}

/// The value of the env var `k` in a peer.
pub fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("peer: env var {k} missing"))
}

/// The env var `k` parsed as a number.
pub fn env_u64(k: &str) -> u64 {
    env(k)
        .parse()
        .unwrap_or_else(|_| panic!("peer: env var {k} is not a number"))
}

/// A peer process: this test binary run with only `peer_main`, in a role.
pub struct Peer {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    pub pid: u32,
    role: String,
}

impl Peer {
    /// Spawns the peer `role` with extra environment `vars`.
    pub fn spawn(role: &str, vars: &[(&str, String)]) -> Peer {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "peer_main", "--nocapture", "--test-threads=1"])
            .env(PEER_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn peer");
        let pid = child.id();
        let stdout = child.stdout.take().expect("peer stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may have printed "test peer_main ... " without a
                // newline before the first protocol line.
                if let Some(at) = line.find(LINE)
                    && tx.send(line[at + LINE.len()..].to_owned()).is_err()
                {
                    break;
                }
            }
        });
        Peer {
            child: Some(child),
            stdin,
            lines: rx,
            reader: Some(reader),
            pid,
            role: role.to_owned(),
        }
    }

    /// The next protocol line, or a test failure (the peer is killed) after
    /// `timeout`.
    pub fn line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(l) => l,
            Err(e) => {
                let status = self.kill();
                panic!(
                    "peer {} ({}) sent no line within {timeout:?} ({e:?}); status {status:?}",
                    self.pid, self.role
                )
            }
        }
    }

    /// Waits for a protocol line equal to `want` (skipping others).
    pub fn expect(&mut self, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let l = self.line(left);
            if l == want {
                return;
            }
            eprintln!("peer {} ({}): {l}", self.pid, self.role);
        }
    }

    /// Sends a line to the peer's stdin.
    pub fn send(&mut self, msg: &str) {
        let stdin = self.stdin.as_mut().expect("peer stdin");
        writeln!(stdin, "{msg}").expect("write to peer");
        stdin.flush().expect("flush peer stdin");
    }

    /// Whether the peer has exited (reaping it if so).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait"))
    }

    /// Waits for the peer to exit; kills it and fails the test if it takes
    /// longer than `timeout`. Returns the status and the protocol lines
    /// that were not consumed yet.
    pub fn finish(&mut self, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.try_status() {
                break s;
            }
            if Instant::now() >= deadline {
                let st = self.kill();
                let lines = self.drain();
                panic!(
                    "peer {} ({}) did not exit within {timeout:?}; killed ({st:?}); lines {lines:?}",
                    self.pid, self.role
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        (status, self.drain())
    }

    /// Waits (as [`Peer::finish`]) and asserts exit code `code`; returns
    /// the remaining protocol lines.
    pub fn finish_with(&mut self, code: i32, timeout: Duration) -> Vec<String> {
        let (status, lines) = self.finish(timeout);
        assert_eq!(
            status.code(),
            Some(code),
            "peer {} ({}) exited with {} (expected code {code}); lines: {lines:?}",
            self.pid,
            self.role,
            describe(status)
        );
        lines
    }

    fn drain(&mut self) -> Vec<String> {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.lines.try_iter().collect()
    }

    /// SIGKILLs and reaps the peer (if it still runs).
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A readable description of an exit status (code or signal).
pub fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("code {c}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => format!("{s:?}"),
    }
}

/// Calls `f` until it returns `Some`, failing the test after `timeout`.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Path of a shared-memory object.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from("/dev/shm").join(name)
}

/// Writes `bytes` at `offset` into the shared-memory object `name`.
pub fn poke(name: &str, offset: u64, bytes: &[u8]) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(shm_path(name))
        .expect("open shm object");
    f.write_all_at(bytes, offset).expect("write shm object");
}

/// Reads `n` bytes at `offset` of the shared-memory object `name`.
pub fn peek(name: &str, offset: u64, n: usize) -> Vec<u8> {
    let f = OpenOptions::new()
        .read(true)
        .open(shm_path(name))
        .expect("open shm object");
    let mut buf = vec![0; n];
    f.read_exact_at(&mut buf, offset).expect("read shm object");
    buf
}

/// The little-endian `u64` at `offset`.
pub fn peek_u64(name: &str, offset: u64) -> u64 {
    u64::from_le_bytes(peek(name, offset, 8).try_into().unwrap())
}

/// A raw file in `/dev/shm`, removed on drop.
pub struct ShmFile {
    pub name: String,
}

impl ShmFile {
    /// Creates `/dev/shm/<name>` exclusively with `bytes` as content.
    pub fn create(name: &str, bytes: &[u8]) -> ShmFile {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(shm_path(name))
            .expect("create shm file");
        f.write_all(bytes).expect("write shm file");
        ShmFile {
            name: name.to_owned(),
        }
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(shm_path(&self.name));
    }
}

/// A small deterministic PRNG (xorshift64*), for reproducible damage.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One model test's side of a run split between two processes (see
/// [`split_steps`]).
pub trait SplitSide {
    /// Applies step `k`, made by the other process, to the local model only.
    fn catch_up(&mut self, k: usize);
    /// Compares the shared value with the local model.
    fn check(&mut self, turn: &mut shmheap::Turn<'_>) -> Result<(), String>;
    /// Applies step `k` to the shared value and to the local model.
    fn apply(&mut self, turn: &mut shmheap::Turn<'_>, k: usize) -> Result<(), String>;
    /// Validates the whole segment.
    fn check_segment(&mut self, turn: &shmheap::Turn<'_>) -> Result<(), String>;
    /// Describes step `k` for error messages.
    fn describe(&self, k: usize) -> String;
}

/// Takes turns on `seg` until the step counter (item 0 of the list at
/// `ctl`) reaches `total`, applying the steps `k` with `k % 2 == me` and
/// bumping the counter after each; the other process's steps are replayed
/// on the local model and the shared value checked against it. `alive` is
/// called while waiting for the other process; an error from it ends the
/// run. Returns how many steps this process applied.
pub fn split_steps(
    seg: &shmheap::Segment,
    me: usize,
    total: usize,
    ctl: shmheap::Handle,
    side: &mut dyn SplitSide,
    alive: &mut dyn FnMut() -> Result<(), String>,
) -> Result<usize, String> {
    const STALL: Duration = Duration::from_secs(30);
    let (mut applied, mut mine) = (0, 0);
    let mut progress = Instant::now();
    loop {
        let mut turn = seg
            .turn_timeout(Duration::from_secs(10))
            .map_err(|e| format!("turn: {e}"))?;
        let counter = turn
            .get(ctl)
            .and_then(|v| v.as_list()?.get(0)?.as_int())
            .map_err(|e| format!("read the step counter: {e}"))?;
        let at = usize::try_from(counter).map_err(|_| format!("step counter {counter}"))?;
        if at > total || at < applied {
            return Err(format!("step counter {at}, applied {applied} of {total}"));
        }
        if at > applied {
            while applied < at {
                side.catch_up(applied);
                applied += 1;
            }
            side.check(&mut turn).map_err(|e| {
                format!(
                    "process {me}, after the other process's step {} ({}): {e}",
                    at - 1,
                    side.describe(at - 1)
                )
            })?;
            progress = Instant::now();
        }
        if at == total {
            side.check_segment(&turn)
                .map_err(|e| format!("process {me}, at the end: {e}"))?;
            return Ok(mine);
        }
        if at % 2 == me {
            side.apply(&mut turn, at)
                .map_err(|e| format!("step {at} (process {me}): {e}"))?;
            if at % 16 == 0 {
                side.check_segment(&turn)
                    .map_err(|e| format!("after step {at} (process {me}): {e}"))?;
            }
            let mut l = turn.list_mut(ctl).map_err(|e| format!("list_mut: {e}"))?;
            *l.int_mut(0).map_err(|e| format!("step counter: {e}"))? += 1;
            applied += 1;
            mine += 1;
            progress = Instant::now();
        } else {
            drop(turn);
            alive()?;
            if progress.elapsed() > STALL {
                return Err(format!(
                    "process {me}: no step for {STALL:?} (counter {at} of {total})"
                ));
            }
            std::thread::yield_now();
        }
    }
}

/// The value `strategy` draws from a ChaCha generator seeded with `seed`:
/// the same in every process that runs the same binary (how the two sides
/// of a split run agree on their case without sending it).
pub fn seeded<S: proptest::strategy::Strategy>(strategy: S, seed: u64) -> Result<S::Value, String> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(seed ^ (i as u64) << 56).to_le_bytes());
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let tree = strategy
        .new_tree(&mut runner)
        .map_err(|e| format!("generating seed {seed}: {e}"))?;
    Ok(tree.current())
}

/// FNV-1a of a value's `Debug` text: two processes compare it to check they
/// run the same case.
pub fn digest(v: &impl std::fmt::Debug) -> u64 {
    format!("{v:?}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The environment that names a segment to a peer (see [`env`]).
pub fn name_env(name: &str) -> (&'static str, String) {
    ("SHMHEAP_NAME", name.to_owned())
}

/// The environment that hands a peer a handle ([`env_handle`] reads it).
pub fn handle_env(h: shmheap::Handle) -> [(&'static str, String); 2] {
    [
        ("SHMHEAP_H_OFF", h.offset().to_string()),
        ("SHMHEAP_H_GEN", h.generation().to_string()),
    ]
}

/// The handle [`handle_env`] passed to this peer.
pub fn env_handle() -> shmheap::Handle {
    shmheap::Handle::from_raw(env_u64("SHMHEAP_H_OFF"), env_u64("SHMHEAP_H_GEN"))
}
