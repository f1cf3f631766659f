//! The segment: the mapping, the header, create/attach/detach and lifecycle.

mod header;
mod mem;
mod offset;
mod status;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

pub(crate) use header::{ABANDONED, ENTERED, IDLE, ProcRecord, WAITING};
pub(crate) use header::{
    AllocState, HEAP_START, Header, JournalState, MAX_PROCS, NLARGE, NSMALL, QueueState, TurnWords,
};
pub(crate) use mem::{Mem, copy_bytes, copy_slice};
pub(crate) use offset::Offset;
pub use status::{ProcessInfo, Status, TurnState, TurnStatus};

/// Plain reads and writes of a header word that only the turn holder
/// changes (the turn's acquire/release orders them).
pub(crate) trait Word {
    /// The value.
    fn get(&self) -> u64;
    /// Sets the value.
    fn set(&self, v: u64);
}

impl Word for std::sync::atomic::AtomicU64 {
    #[inline]
    fn get(&self) -> u64 {
        self.load(Ordering::Relaxed)
    }
    #[inline]
    fn set(&self, v: u64) {
        self.store(v, Ordering::Relaxed)
    }
}

use crate::Error;
use crate::os::{self, Region};
pub(crate) use header::VERSION;
use header::{MAGIC, MAX_SIZE, MIN_SIZE};

/// A reference to one field (or one array element) of the header, made
/// through the raw pointer, so that no `&Header` is ever made: under Miri's
/// borrow tracking, making a `&Header` re-tags every atomic in it (the
/// process table alone is 256 records), which cost every turn and every
/// heap operation seconds there. Natively it is the same address
/// arithmetic as `&header.field`.
macro_rules! header_field {
    ($seg:expr, $($place:tt)+) => {{
        let h = $seg.header_ptr();
        // SAFETY: open/init checked that a whole header is mapped for as
        // long as the segment lives; the fields reached this way are
        // atomics, or plain fields fixed before `ready` was set, so a
        // shared reference to one races with no write.
        unsafe { &*std::ptr::addr_of!((*h).$($place)+) }
    }};
}

/// A small `Copy` id of a shared object: its offset and generation.
///
/// A process may keep it across turns and reopen the object in a later turn;
/// if the object was freed meanwhile, opening it gives
/// [`Error::StaleHandle`], never garbage. Handles can be sent to other
/// processes as two integers ([`Handle::to_raw`] / [`Handle::from_raw`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Handle {
    pub(crate) offset: Offset,
    pub(crate) generation: u64,
}

impl Handle {
    /// The object's byte offset in the segment.
    pub fn offset(&self) -> u64 {
        self.offset.get()
    }

    /// The generation the object got when it was allocated.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The handle as two integers (offset, generation).
    pub fn to_raw(&self) -> (u64, u64) {
        (self.offset.get(), self.generation)
    }

    /// A handle from two integers; checked when it is used.
    pub fn from_raw(offset: u64, generation: u64) -> Handle {
        Handle {
            offset: Offset::new(offset),
            generation,
        }
    }
}

/// Builder for [`Segment`]s: size, process limit, permissions, backing.
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    pub(crate) size: u64,
    pub(crate) max_processes: u32,
    pub(crate) mode: u32,
    pub(crate) keep: bool,
    pub(crate) validate: bool,
    pub(crate) auto_recover: bool,
    pub(crate) batch: u32,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            size: 64 << 20,
            max_processes: 64,
            mode: 0o600,
            keep: false,
            validate: true,
            auto_recover: false,
            batch: 1,
        }
    }
}

impl SegmentOptions {
    /// Segment size in bytes (64 KiB to 1 TiB; default 64 MiB). Memory is
    /// used only as it is written.
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = bytes;
        self
    }

    /// How many processes may be attached at once (1 to 256; default 64).
    pub fn max_processes(mut self, n: u32) -> Self {
        self.max_processes = n;
        self
    }

    /// Permission bits of the shared-memory object or file (default `0o600`).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Keep the name after the creating `Segment` is dropped (default: the
    /// creator unlinks it).
    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Validate the whole segment when attaching (default `true`). Turning it
    /// off trusts the segment's bytes; every offset is still bounds-checked.
    pub fn validate_on_attach(mut self, validate: bool) -> Self {
        self.validate = validate;
        self
    }

    /// When the process holding the turn dies, let a waiter take the turn
    /// over and recover the segment itself (as [`Segment::recover`] does)
    /// and then go on waiting, instead of returning [`Error::PeerDied`]
    /// (default `false`). [`Segment::last_recovery`] tells what it did.
    pub fn auto_recover(mut self, on: bool) -> Self {
        self.auto_recover = on;
        self
    }

    /// Let this process take up to `turns` turns in a row while the process
    /// next in line is not running (default 1: strict FIFO; 0 counts as 1).
    ///
    /// Dropping a [`crate::Turn`] then *parks* it instead of handing it on:
    /// this process's next turn resumes it without waiting, unless the next
    /// in line took it meanwhile, which a waiter that is running does at
    /// once. With more processes than cores, where the next in line is
    /// usually not running when the turn comes to it, turns then go by in
    /// runs instead of each waiting for the scheduler (see the README's
    /// contention rows). The bound: the order of tickets stays FIFO, and a
    /// waiting process waits at most `turns` turns of each process ahead of
    /// it (instead of one). A parked turn holds no work in progress: if its
    /// process dies or detaches, the next waiter takes it, no recovery
    /// needed.
    pub fn batch(mut self, turns: u32) -> Self {
        self.batch = turns.max(1);
        self
    }
}

/// What backs a segment, and what to do with its name when dropped.
#[derive(Debug)]
enum Backing {
    Shm { name: String, unlink: bool },
    File { path: PathBuf, remove: bool },
    Memory,
}

/// One shared-memory segment, mapped into this process.
///
/// Create it with [`Segment::create`] or attach to an existing one with
/// [`Segment::attach`]; touch its data only through a [`crate::Turn`].
pub struct Segment {
    pub(crate) mem: Mem,
    /// The thread that sleeps on the turn futex for async waiters (it
    /// keeps a reference to `region`, so the mapping outlives it).
    pub(crate) waiter: crate::turn::waiter::Waiter,
    // Keeps the memory behind `mem` alive; dropped last.
    /// Shared with the async waiter thread, which may end a little after
    /// the `Segment` (it is never joined: its wakers may need a lock, such
    /// as Python's GIL, that the dropping thread holds).
    pub(crate) region: std::sync::Arc<Region>,
    backing: Backing,
    pub(crate) proc_slot: usize,
    pub(crate) pid: u32,
    /// Serialises the turns of this process's threads and tasks (FIFO): a
    /// process holds at most one ticket per `Segment`, so the ticket ring
    /// never overflows.
    pub(crate) local: crate::turn::local::LocalLock<Local>,
    /// Recover instead of returning `PeerDied` (see
    /// [`SegmentOptions::auto_recover`]).
    pub(crate) auto_recover: bool,
    /// Turns in a row this process may take (see [`SegmentOptions::batch`]).
    pub(crate) batch: std::sync::atomic::AtomicU32,
    /// The last recovery this process made.
    pub(crate) last_recovery: Mutex<Option<crate::Recovery>>,
    /// Typed snapshots (offset, generation) this process has validated.
    pub(crate) checked: Mutex<std::collections::HashSet<(u64, u64)>>,
}

/// Process-local turn state, behind [`Segment::local`].
#[derive(Default)]
pub(crate) struct Local {
    /// A ticket this process gave up (timeout) that the turn has not passed
    /// yet: the next wait takes it back instead of drawing a new one, so
    /// repeated timeouts never pile up tickets.
    pub(crate) abandoned: Option<u32>,
    /// The ticket whose turn this process parked (see
    /// [`SegmentOptions::batch`]).
    pub(crate) parked: Option<u32>,
    /// Turns taken with the current ticket, less one (resumes of a parked
    /// turn).
    pub(crate) run: u32,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("backing", &self.backing)
            .field("size", &self.region.len())
            .field("pid", &self.pid)
            .finish()
    }
}

/// Checks a segment name: 1 to 200 bytes, no `/`, no NUL, not `.` or `..`.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 200 {
        return bad("longer than 200 bytes");
    }
    if name.contains('/') {
        return bad("contains '/'");
    }
    if name.contains('\0') {
        return bad("contains NUL");
    }
    if name == "." || name == ".." || name.contains("..") {
        return bad("contains '..'");
    }
    Ok(())
}

impl SegmentOptions {
    fn check_create(&self) -> Result<(), Error> {
        if self.size < MIN_SIZE {
            return Err(Error::InvalidSize {
                size: self.size,
                reason: "smaller than 64 KiB",
            });
        }
        if self.size > MAX_SIZE {
            return Err(Error::InvalidSize {
                size: self.size,
                reason: "larger than 1 TiB",
            });
        }
        if self.max_processes == 0 || self.max_processes as usize > MAX_PROCS {
            return Err(Error::InvalidSize {
                size: self.max_processes as u64,
                reason: "max_processes must be 1 to 256",
            });
        }
        Ok(())
    }

    /// Creates the named POSIX shared-memory segment (`/dev/shm/NAME`),
    /// exclusively: [`Error::NameTaken`] if it exists.
    pub fn create(&self, name: &str) -> Result<Segment, Error> {
        check_name(name)?;
        self.check_create()?;
        let size = self.size.next_multiple_of(4096);
        let file = os::create_shm(name, size, self.mode)?;
        let backing = Backing::Shm {
            name: name.to_owned(),
            unlink: !self.keep,
        };
        // If mapping fails, the name must not stay behind.
        let region = match Region::map(&file) {
            Ok(r) => r,
            Err(e) => {
                let _ = os::unlink_shm(name);
                return Err(e);
            }
        };
        Segment::init(region, backing, self)
    }

    /// Creates a segment backed by a plain file at `path` (exclusively).
    pub fn create_file(&self, path: &Path) -> Result<Segment, Error> {
        self.check_create()?;
        let size = self.size.next_multiple_of(4096);
        let file = os::create_file(path, size, self.mode)?;
        let backing = Backing::File {
            path: path.to_owned(),
            remove: !self.keep,
        };
        let region = match Region::map(&file) {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        Segment::init(region, backing, self)
    }

    /// Creates a process-local segment on the heap: no name, no system
    /// calls. For tests (it runs under Miri) and single-process use.
    pub fn create_in_memory(&self) -> Result<Segment, Error> {
        self.check_create()?;
        let size = self.size.next_multiple_of(4096);
        let region = Region::heap(size as usize)?;
        Segment::init(region, Backing::Memory, self)
    }
}

impl Segment {
    /// Options for creating a segment.
    pub fn options() -> SegmentOptions {
        SegmentOptions::default()
    }

    /// Creates the named segment of `size` bytes (fails with
    /// [`Error::NameTaken`] if the name exists). The creator unlinks the
    /// name when dropped.
    pub fn create(name: &str, size: u64) -> Result<Segment, Error> {
        SegmentOptions::default().size(size).create(name)
    }

    fn new(region: Region, backing: Backing) -> Segment {
        // SAFETY: the region lives as long as the Segment, which owns it and
        // drops it after every `Mem` copy (they never outlive the Segment's
        // borrows); mappings and heap regions are page-aligned.
        let mem = unsafe { Mem::new(region.as_ptr(), region.len()) };
        Segment {
            mem,
            region: std::sync::Arc::new(region),
            backing,
            proc_slot: usize::MAX,
            pid: os::current_pid(),
            local: Default::default(),
            waiter: Default::default(),
            auto_recover: false,
            batch: std::sync::atomic::AtomicU32::new(1),
            last_recovery: Mutex::new(None),
            checked: Mutex::new(Default::default()),
        }
    }

    fn init(region: Region, backing: Backing, opts: &SegmentOptions) -> Result<Segment, Error> {
        let mut seg = Segment::new(region, backing);
        let size = seg.mem.len();
        let h = seg.header_ptr();
        // SAFETY: the region is at least MIN_SIZE > size_of::<Header>() bytes
        // and page-aligned; it is fresh (zero-filled) and no other process
        // looks at it before `ready` is set, so writing the plain fields
        // through the raw pointer races with nobody.
        unsafe {
            (*h).magic = MAGIC;
            (*h).version = VERSION;
            (*h).header_size = std::mem::size_of::<Header>() as u32;
            (*h).size = size;
            (*h).heap_start = HEAP_START;
            (*h).creator_pid = seg.pid;
            (*h).max_procs = opts.max_processes;
            (*h).alloc.top.set(HEAP_START);
            (*h).alloc.top_prev_alloc.set(1);
            (*h).alloc.next_gen.set(1);
            (*h).ready.store(1, Ordering::Release);
        }
        seg.auto_recover = opts.auto_recover;
        seg.set_batch(opts.batch);
        seg.register()?;
        Ok(seg)
    }

    /// Maps and checks the header of an existing segment and registers this
    /// process; the caller validates the contents.
    pub(crate) fn open_shm(name: &str) -> Result<Segment, Error> {
        check_name(name)?;
        let file = os::open_shm(name)?;
        let region = Region::map(&file)?;
        Segment::open(
            region,
            Backing::Shm {
                name: name.to_owned(),
                unlink: false,
            },
            true,
        )
    }

    pub(crate) fn open_file(path: &Path) -> Result<Segment, Error> {
        let file = os::open_file(path)?;
        let region = Region::map(&file)?;
        Segment::open(
            region,
            Backing::File {
                path: path.to_owned(),
                remove: false,
            },
            true,
        )
    }

    /// A process-local copy of a segment image (bytes of a segment, e.g.
    /// read from a file, made by [`Segment::image`] or by a fuzzer),
    /// checked as attaching checks a header but not validated (call
    /// [`crate::Turn::validate`]). Its turn words and process table are
    /// reset, since no process of the image's time is here.
    pub fn from_image(bytes: &[u8]) -> Result<Segment, Error> {
        let region = Region::heap(bytes.len().max(1))?;
        // SAFETY: the region is a fresh allocation of at least `bytes.len()`
        // bytes, not aliased by anything else yet.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), region.as_ptr(), bytes.len()) };
        if bytes.len() >= std::mem::size_of::<Header>() {
            let h = region.as_ptr() as *mut Header;
            // SAFETY: a whole header fits; zeroing the turn words and the
            // process table (integers and atomics) leaves valid values.
            unsafe {
                std::ptr::write_bytes(std::ptr::addr_of_mut!((*h).turn), 0, 1);
                std::ptr::write_bytes(std::ptr::addr_of_mut!((*h).procs), 0, 1);
            }
        }
        Segment::open(region, Backing::Memory, false)
    }

    /// A copy of this segment's bytes (for tests, fuzz corpora, debugging).
    /// Take it inside a turn to get a consistent image.
    pub fn image(&self, _turn: &crate::Turn<'_>) -> Vec<u8> {
        // SAFETY: the mapping is `len` readable bytes; holding the turn
        // means no process writes them meanwhile.
        unsafe { std::slice::from_raw_parts(self.mem.base(), self.mem.len() as usize) }.to_vec()
    }

    fn open(region: Region, backing: Backing, wait_ready: bool) -> Result<Segment, Error> {
        let actual = region.len() as u64;
        if actual < std::mem::size_of::<Header>() as u64 {
            // Too small for a header: tell a foreign file from a cut one.
            if actual >= 8 {
                // SAFETY: at least 8 bytes are mapped.
                let m = unsafe { std::slice::from_raw_parts(region.as_ptr(), 8) };
                if m != MAGIC {
                    return Err(Error::BadMagic);
                }
            }
            return Err(Error::Truncated {
                claimed: std::mem::size_of::<Header>() as u64,
                actual,
            });
        }
        let mut seg = Segment::new(region, backing);
        let h = seg.header_ptr();
        // SAFETY: the mapping holds a whole `Header`; every field of it is
        // plain integers/atomics, so `check_bytes` (trivially) accepts any
        // bytes, and reading the plain fields is reading integers.
        unsafe {
            bytecheck::check_bytes::<Header, bytecheck::rancor::Failure>(h)
                .map_err(|_| Error::corrupt(0, "header fails bytecheck"))?;
            if (*h).magic != MAGIC {
                return Err(Error::BadMagic);
            }
            if (*h).version != VERSION {
                return Err(Error::UnsupportedVersion {
                    found: (*h).version,
                    expected: VERSION,
                });
            }
            // The creator may still be writing the header.
            let mut spins = 0;
            while (*h).ready.load(Ordering::Acquire) != 1 {
                spins += 1;
                if spins > 1000 || !wait_ready {
                    return Err(Error::corrupt(
                        std::mem::offset_of!(Header, ready) as u64,
                        "header never became ready",
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if (*h).header_size as usize != std::mem::size_of::<Header>() {
                return Err(Error::corrupt(12, "header size does not match the version"));
            }
            let claimed = (*h).size;
            if !(MIN_SIZE..=MAX_SIZE).contains(&claimed) {
                return Err(Error::corrupt(
                    16,
                    format!("segment size {claimed} out of range"),
                ));
            }
            if claimed > actual {
                return Err(Error::Truncated { claimed, actual });
            }
            if claimed != actual {
                return Err(Error::corrupt(
                    16,
                    format!("header says {claimed} bytes but the object has {actual}"),
                ));
            }
            if (*h).heap_start != HEAP_START {
                return Err(Error::corrupt(
                    24,
                    "heap start is not where the format puts it",
                ));
            }
            if (*h).max_procs == 0 || (*h).max_procs as usize > MAX_PROCS {
                return Err(Error::corrupt(36, "max_procs out of range"));
            }
        }
        seg.register()?;
        Ok(seg)
    }

    /// Takes a slot in the process table (reusing slots of dead processes).
    fn register(&mut self) -> Result<(), Error> {
        let slot = self.proc_records().position(|rec| {
            let cur = rec.pid.load(Ordering::Relaxed);
            // A dead process's record is reused only once it holds no
            // ticket the turn still has to pass (see `turn`).
            let v = rec.ticket.load(Ordering::SeqCst);
            let serving =
                crate::turn::serving_ticket(self.turn_words().now_serving.v.load(Ordering::SeqCst));
            // (wrapping: tickets wrap around u32)
            let passed = (serving.wrapping_sub(v as u32) as i32) > 0;
            let free = cur == 0
                || ((matches!(v >> 32, header::IDLE | header::ABANDONED) || passed)
                    && !os::pid_alive(cur));
            let taken = free
                && rec
                    .pid
                    .compare_exchange(cur, self.pid, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok();
            if taken {
                rec.ticket.store(header::IDLE, Ordering::SeqCst);
            }
            taken
        });
        match slot {
            Some(i) => {
                self.proc_slot = i;
                Ok(())
            }
            None => Err(Error::TooManyProcesses {
                max: *header_field!(self, max_procs),
            }),
        }
    }

    /// Pointer to the header.
    pub(crate) fn header_ptr(&self) -> *mut Header {
        self.mem.base() as *mut Header
    }

    /// The whole header, shared, for the rare readers of many of its fields
    /// (`status`). Only its atomics and the fields fixed at creation may be
    /// read through it. Hot paths use the field accessors below instead:
    /// under Miri, making a `&Header` re-tags every atomic in it.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: checked at open/init that a whole header is mapped; the
        // fields read through `&Header` are atomics or never change after
        // `ready`.
        unsafe { &*self.header_ptr() }
    }

    /// The turn protocol's words.
    #[inline]
    pub(crate) fn turn_words(&self) -> &header::TurnWords {
        header_field!(self, turn)
    }

    /// Record `i` of the process table (`i < MAX_PROCS`).
    #[inline]
    pub(crate) fn proc_record(&self, i: usize) -> &header::ProcRecord {
        assert!(i < header::MAX_PROCS, "process record {i} out of range");
        header_field!(self, procs[i])
    }

    /// The process-table slots this segment allows, as one slice (for the
    /// async waiter thread; hot paths use `proc_record`).
    pub(crate) fn proc_table(&self) -> &[header::ProcRecord] {
        let max = (*header_field!(self, max_procs) as usize).min(header::MAX_PROCS);
        &header_field!(self, procs)[..max]
    }

    /// The records of the process-table slots this segment allows.
    pub(crate) fn proc_records(&self) -> impl Iterator<Item = &header::ProcRecord> {
        let max = (*header_field!(self, max_procs) as usize).min(header::MAX_PROCS);
        (0..max).map(|i| self.proc_record(i))
    }

    /// The allocator state. Only a turn holder may change it.
    #[inline]
    pub(crate) fn alloc_state(&self) -> &header::AllocState {
        header_field!(self, alloc)
    }

    /// The queue state. Only a turn holder may change it.
    #[inline]
    pub(crate) fn queue_state(&self) -> &header::QueueState {
        header_field!(self, queue)
    }

    /// The header's root-namespace word (see `queue::root`). Only a turn
    /// holder may change it.
    #[inline]
    pub(crate) fn root_word(&self) -> &std::sync::atomic::AtomicU64 {
        header_field!(self, root)
    }

    /// Segment size in bytes.
    pub fn size(&self) -> u64 {
        self.mem.len()
    }

    /// The address of the segment's first byte in this process (the
    /// mapping covers `size()` bytes from it; page-aligned). For
    /// diagnostics, and to check that a zero-copy view (such as the
    /// Python package's numpy arrays) points into the segment.
    pub fn base_address(&self) -> usize {
        self.mem.base() as usize
    }

    /// Makes a file-backed segment durable: when this returns `Ok`, every
    /// byte of the mapping as it was at the call is written to the file's
    /// storage (`msync` with `MS_SYNC` over the whole segment), so it
    /// survives a crash of the operating system or a power loss, not only
    /// the end of the processes (which the kernel's page cache already
    /// survives).
    ///
    /// For a consistent file, call it while this process holds a turn
    /// (`turn.segment().flush()`): then no operation is half-done in the
    /// bytes it writes. It is not atomic: a power loss during the flush can
    /// leave the file with some pages written and others as before.
    ///
    /// A shared-memory segment (`/dev/shm`, [`Segment::create`]) and an
    /// in-memory one have no file to make durable: this returns `Ok(())`
    /// and does nothing. An I/O failure of the write-back is
    /// [`Error::Io`].
    pub fn flush(&self) -> Result<(), Error> {
        match self.backing {
            Backing::File { .. } => self.region.flush(),
            Backing::Shm { .. } | Backing::Memory => Ok(()),
        }
    }

    /// Pids of the processes attached now.
    pub fn processes(&self) -> Vec<u32> {
        self.proc_records()
            .map(|p| p.pid.load(Ordering::Relaxed))
            .filter(|&p| p != 0)
            .collect()
    }

    /// The name (shared-memory object) or path this segment was opened by.
    pub fn name(&self) -> Option<String> {
        match &self.backing {
            Backing::Shm { name, .. } => Some(name.clone()),
            Backing::File { path, .. } => Some(path.display().to_string()),
            Backing::Memory => None,
        }
    }

    /// Removes the name `name` from the system (the segment lives on while
    /// processes have it mapped).
    pub fn unlink(name: &str) -> Result<(), Error> {
        check_name(name)?;
        os::unlink_shm(name)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // A turn this process parked goes on to the next in line (a waiter
        // would take it anyway; this saves it the wait).
        if let Some(mut guard) = self.local.try_lock() {
            self.hand_on_parked(&mut guard);
        }
        if self.proc_slot != usize::MAX {
            let _ = self.proc_record(self.proc_slot).pid.compare_exchange(
                self.pid,
                0,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        match &self.backing {
            Backing::Shm { name, unlink: true } => {
                let _ = os::unlink_shm(name);
            }
            Backing::File { path, remove: true } => {
                let _ = std::fs::remove_file(path);
            }
            _ => {}
        }
    }
}
