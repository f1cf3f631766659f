//! What a segment's header says about it — size, use, the process table,
//! the turn — read without a turn, and snapshot copies of a whole segment:
//! what inspecting tools (the `shmheap` command) look at without
//! disturbing the processes that use the segment.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

use super::header::{ABANDONED, ENTERED, Header, MAGIC, VERSION, WAITING};
use super::{Offset, Segment};
use crate::Error;
use crate::os;

/// A segment's state as its header tells it: from [`Segment::status`] (the
/// live header of an attached segment) or [`Status::read`] /
/// [`Status::read_file`] (a copy of the header, read without attaching:
/// no process record is taken and nothing is written).
///
/// The words that change while processes run (use, the turn, the process
/// table) are read one by one, without the turn: each is a value it had,
/// not all of them at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The format version (this build reads [`Status::FORMAT_VERSION`]).
    pub version: u32,
    /// Segment size in bytes.
    pub size: u64,
    /// Bytes in allocated blocks, headers included (the undo journal's
    /// block is bookkeeping and not counted, as in [`crate::Stats`]).
    pub used: u64,
    /// The high-water mark: bytes from the segment start to the heap's top.
    pub high_water: u64,
    /// Pid of the process that created the segment.
    pub creator_pid: u32,
    /// How many processes may be attached at once.
    pub max_processes: u32,
    /// Messages in the queue.
    pub messages: u64,
    /// Whether the root namespace exists.
    pub has_root: bool,
    /// Whether an operation's undo journal is open: the last operation was
    /// cut off (its process died, or this is a copy taken mid-operation)
    /// or one is in progress right now.
    pub in_operation: bool,
    /// The attached processes (records of the process table in use).
    pub processes: Vec<ProcessInfo>,
    /// The turn.
    pub turn: TurnStatus,
}

/// One record of the process table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The process id.
    pub pid: u32,
    /// Whether the process exists (a dead one left its record behind: it
    /// crashed, or was killed, while attached).
    pub alive: bool,
    /// What it is doing with the turn.
    pub state: TurnState,
}

/// What an attached process is doing with the turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TurnState {
    /// Not waiting for the turn.
    Idle,
    /// Waiting, with this ticket.
    Waiting(u32),
    /// Holding the turn (its ticket).
    Holding(u32),
    /// Gave a ticket up (a timeout) that the turn has not passed yet.
    Abandoned(u32),
}

/// The turn's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnStatus {
    /// The ticket being served: how many turns were taken so far
    /// (wrapping), so its change over time is the turn rate.
    pub now_serving: u32,
    /// The next ticket to hand out.
    pub next_ticket: u32,
    /// Waiters asleep on the futex.
    pub sleepers: u32,
    /// The process holding the turn, if one does.
    pub holder: Option<u32>,
    /// Whether that process is alive (`false`: it died holding the turn,
    /// and the segment needs [`Segment::recover`]).
    pub holder_alive: bool,
    /// Tickets waiting behind the holder (including any being given up).
    pub waiting: u32,
    /// Whether the holder parked the turn (see
    /// [`crate::SegmentOptions::batch`]): it holds no work in progress.
    pub parked: bool,
}

impl Status {
    /// The format version this build reads and writes.
    pub const FORMAT_VERSION: u32 = VERSION;

    /// Reads the header of the named shared-memory segment without
    /// attaching (read-only access suffices). [`Error::NotFound`],
    /// [`Error::BadMagic`] for an object that is not a shmheap segment,
    /// [`Error::UnsupportedVersion`], [`Error::Truncated`], or
    /// [`Error::Io`] (e.g. permission denied).
    pub fn read(name: &str) -> Result<Status, Error> {
        super::check_name(name)?;
        Status::from_file(os::open_shm_readonly(name)?)
    }

    /// As [`Status::read`], for a file-backed segment.
    pub fn read_file(path: &Path) -> Result<Status, Error> {
        Status::from_file(os::open_file_readonly(path)?)
    }

    fn from_file(mut file: std::fs::File) -> Result<Status, Error> {
        let mut h = Box::<Header>::new_zeroed();
        // SAFETY: the box holds `size_of::<Header>()` bytes, zero-filled,
        // and we are their only user; reading bytes into them is writing
        // integers and atomics, for which every bit pattern is valid.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(h.as_mut_ptr() as *mut u8, std::mem::size_of::<Header>())
        };
        let mut n = 0;
        while n < bytes.len() {
            match file.read(&mut bytes[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => return Err(Error::Io { op: "read", source }),
            }
        }
        if n >= 8 && bytes[..8] != MAGIC {
            return Err(Error::BadMagic);
        }
        if n < bytes.len() {
            return Err(Error::Truncated {
                claimed: bytes.len() as u64,
                actual: n as u64,
            });
        }
        // SAFETY: zero-filled and then written with bytes: every field is
        // an integer or an atomic, valid for any bits.
        let h = unsafe { h.assume_init() };
        if h.version != VERSION {
            return Err(Error::UnsupportedVersion {
                found: h.version,
                expected: VERSION,
            });
        }
        let journal = match h.journal.block.load(Relaxed) {
            0 => 0,
            b => {
                let mut w = [0u8; 8];
                read_at(&file, b, &mut w)?;
                u64::from_le_bytes(w) & !15
            }
        };
        Ok(Status::of(&h, journal))
    }

    /// The status in a header; `journal` is the size of the undo
    /// journal's block (not counted as used).
    fn of(h: &Header, journal: u64) -> Status {
        let alloc = &h.alloc;
        let word = h.turn.now_serving.v.load(Relaxed);
        let serving = crate::turn::serving_ticket(word);
        let next = h.turn.next_ticket.v.load(Relaxed);
        let mut turn = TurnStatus {
            now_serving: serving,
            next_ticket: next,
            sleepers: h.turn.sleepers.v.load(Relaxed),
            holder: None,
            holder_alive: false,
            waiting: 0,
            parked: crate::turn::is_parked(word),
        };
        let mut processes = Vec::new();
        for rec in h.procs.iter().take(h.max_procs as usize) {
            let pid = rec.pid.load(Relaxed);
            if pid == 0 {
                continue;
            }
            let v = rec.ticket.load(Relaxed);
            let t = v as u32;
            let state = match v >> 32 {
                WAITING => TurnState::Waiting(t),
                ENTERED => TurnState::Holding(t),
                ABANDONED => TurnState::Abandoned(t),
                _ => TurnState::Idle,
            };
            let alive = os::pid_alive(pid);
            if state == TurnState::Holding(serving) {
                turn.holder = Some(pid);
                turn.holder_alive = alive;
            }
            processes.push(ProcessInfo { pid, alive, state });
        }
        turn.waiting = next
            .wrapping_sub(serving)
            .saturating_sub(turn.holder.is_some() as u32);
        Status {
            version: h.version,
            size: h.size,
            used: alloc.used.load(Relaxed).saturating_sub(journal),
            high_water: alloc.top.load(Relaxed),
            creator_pid: h.creator_pid,
            max_processes: h.max_procs,
            messages: h
                .queue
                .tail
                .load(Relaxed)
                .wrapping_sub(h.queue.head.load(Relaxed)),
            has_root: h.root.load(Relaxed) != 0,
            in_operation: h.journal.len.load(Relaxed) != 0,
            processes,
            turn,
        }
    }

    /// The attached processes that are alive.
    pub fn live_processes(&self) -> impl Iterator<Item = u32> + '_ {
        self.processes.iter().filter(|p| p.alive).map(|p| p.pid)
    }
}

/// Reads `buf.len()` bytes at `offset` of `file`.
fn read_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
        .map_err(|source| Error::Io { op: "read", source })
}

impl Segment {
    /// What this segment's header says now (see [`Status`]), read without
    /// the turn.
    pub fn status(&self) -> Status {
        let h = self.header();
        let journal = match h.journal.block.load(Relaxed) {
            0 => 0,
            b => self.mem.u64(Offset::new(b)).map_or(0, |w| w & !15),
        };
        Status::of(h, journal)
    }

    /// A process-local copy of the named segment, read now without taking
    /// its turn (for a segment whose turn is stuck): nothing of the segment
    /// is written and no process record is taken. The copy is not taken
    /// at one instant, so if a process is writing meanwhile it may be
    /// inconsistent (reading it then gives [`Error::Corrupt`] or stale
    /// values, never undefined behaviour). The copy's turn and process
    /// table start empty, so this process can take its turn at once; what
    /// it changes in the copy stays in the copy. Reads the whole segment
    /// into memory.
    pub fn snapshot(name: &str) -> Result<Segment, Error> {
        super::check_name(name)?;
        Segment::snapshot_of(os::open_shm_readonly(name)?)
    }

    /// As [`Segment::snapshot`], for a file-backed segment.
    pub fn snapshot_file(path: &Path) -> Result<Segment, Error> {
        Segment::snapshot_of(os::open_file_readonly(path)?)
    }

    fn snapshot_of(mut file: std::fs::File) -> Result<Segment, Error> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| Error::Io { op: "read", source })?;
        Segment::from_image(&bytes)
    }
}
