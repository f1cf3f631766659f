//! The segment header: the first bytes of every segment.
//!
//! All of its fields are fixed-width and little-endian; `FORMAT.md` gives the
//! byte offsets. The turn words sit on cache lines of their own.

use std::sync::atomic::{AtomicU32, AtomicU64};

use bytecheck::CheckBytes;

/// `b"SHMHEAP\0"`.
pub(crate) const MAGIC: [u8; 8] = *b"SHMHEAP\0";
/// The format version this build reads and writes.
pub(crate) const VERSION: u32 = 6;
/// Capacity of the process table (and of the waiter ring).
pub(crate) const MAX_PROCS: usize = 256;
/// Number of small-block bins: exact sizes 32, 48, ... 1024 use bins 0 to
/// 62; bin 63 is never used (kept so the bitmap is one word).
pub(crate) const NSMALL: usize = 64;
/// Number of large-block bins (one per power of two above 1024).
pub(crate) const NLARGE: usize = 64;
/// Smallest segment accepted.
pub(crate) const MIN_SIZE: u64 = 64 << 10;
/// Largest segment accepted (1 TiB).
pub(crate) const MAX_SIZE: u64 = 1 << 40;

/// One 128-byte line (two x86 cache lines: the adjacent-line prefetcher
/// pairs them) holding a hot word, so that writers of different words do not
/// invalidate each other's lines.
#[derive(CheckBytes)]
#[repr(C, align(128))]
pub(crate) struct Line<T> {
    pub(crate) v: T,
}

/// Words of the turn protocol (see `turn`).
#[derive(CheckBytes)]
#[repr(C)]
pub(crate) struct TurnWords {
    /// Next ticket to hand out.
    pub(crate) next_ticket: Line<AtomicU32>,
    /// The ticket whose owner holds (or may take) the turn, in the high
    /// half; the low half is the futex word (see `turn::serving`).
    pub(crate) now_serving: Line<AtomicU64>,
    /// Number of waiters asleep on `now_serving`.
    pub(crate) sleepers: Line<AtomicU32>,
    /// Per ticket slot (`ticket % MAX_PROCS`): `ticket + 1` once the waiter
    /// holding that ticket gave up (timeout), else anything else.
    pub(crate) abandoned: [AtomicU64; MAX_PROCS],
}

/// Ticket state in a process record: no ticket.
pub(crate) const IDLE: u64 = 0;
/// Ticket state: waiting for the turn with the ticket in the low 32 bits.
pub(crate) const WAITING: u64 = 1;
/// Ticket state: inside the turn.
pub(crate) const ENTERED: u64 = 2;
/// Ticket state: gave the ticket up (timeout); the `abandoned` mark decides.
pub(crate) const ABANDONED: u64 = 3;

/// One attachment's record, on a 64-byte line of its own: only its process
/// writes it on the fast path, so taking and releasing the turn moves no
/// line but `next_ticket` and `now_serving`.
#[derive(CheckBytes)]
#[repr(C, align(64))]
pub(crate) struct ProcRecord {
    /// Pid of the attached process (0 = free record).
    pub(crate) pid: AtomicU32,
    /// Zero.
    pub(crate) reserved: u32,
    /// `state << 32 | ticket` (`IDLE`, `WAITING`, `ENTERED`, `ABANDONED`).
    pub(crate) ticket: AtomicU64,
}

/// The allocator's state (see `alloc`). Changed only inside a turn; the
/// words are atomics only so that Rust references to them stay sound (the
/// turn's acquire/release orders them; accesses are `Relaxed`).
#[derive(CheckBytes)]
#[repr(C)]
pub(crate) struct AllocState {
    /// End of the carved part of the heap; above it is untouched memory.
    pub(crate) top: AtomicU64,
    /// 1 if the block just below `top` is allocated (or there is none).
    pub(crate) top_prev_alloc: AtomicU64,
    /// Bytes in allocated blocks, headers included.
    pub(crate) used: AtomicU64,
    /// Number of allocated blocks.
    pub(crate) blocks: AtomicU64,
    /// Generation given to the next allocated block.
    pub(crate) next_gen: AtomicU64,
    /// Bit `i` set when small bin `i` is non-empty.
    pub(crate) small_map: AtomicU64,
    /// Bit `i` set when large bin `i` is non-empty.
    pub(crate) large_map: AtomicU64,
    /// Bytes in free blocks in the bins.
    pub(crate) free_in_bins: AtomicU64,
    /// Heads of the small bins' free lists.
    pub(crate) small: [AtomicU64; NSMALL],
    /// Heads of the large bins' free lists.
    pub(crate) large: [AtomicU64; NLARGE],
    /// Bit `i` set when fast bin `i` is non-empty.
    pub(crate) fast_map: AtomicU64,
    /// Bytes parked in the fast bins.
    pub(crate) fast_bytes: AtomicU64,
    /// Heads of the fast bins: freed small blocks of one exact size each,
    /// singly linked, not coalesced until memory runs short.
    pub(crate) fast: [AtomicU64; NSMALL],
}

/// The message queue: a ring of handles in one block (see `queue`).
#[derive(CheckBytes)]
#[repr(C)]
pub(crate) struct QueueState {
    /// Offset of the ring block, or 0.
    pub(crate) ring: AtomicU64,
    /// Capacity of the ring in entries.
    pub(crate) cap: AtomicU64,
    /// Messages ever taken (wrapping): the oldest entry's counter.
    pub(crate) head: AtomicU64,
    /// Messages ever put (wrapping): live entries are `head..tail`, entry
    /// `c` at ring index `c % cap`.
    pub(crate) tail: AtomicU64,
}

/// The undo journal of the operation in progress (see `alloc::journal`):
/// records of the bytes an operation is about to overwrite, and the blocks it
/// frees once it is complete. Empty (`len == 0`) between operations.
#[derive(CheckBytes)]
#[repr(C)]
pub(crate) struct JournalState {
    /// Offset of the journal block, or 0.
    pub(crate) block: AtomicU64,
    /// Record bytes the block can hold.
    pub(crate) cap: AtomicU64,
    /// Record bytes written by the operation in progress (0: none).
    pub(crate) len: AtomicU64,
    /// Deferred frees among the records (0: a commit only empties).
    pub(crate) frees: AtomicU64,
    /// `alloc.next_gen` when the operation wrote its first record: blocks
    /// of this generation or later were born in the operation.
    pub(crate) born: AtomicU64,
    /// 1 while a transactional turn is open (§9.2 of FORMAT.md): the
    /// operations' commits keep the records, a rollback undoes them all.
    pub(crate) txn: AtomicU64,
    /// In a transaction: where the records of the operation in progress
    /// begin (what an operation-level rollback undoes).
    pub(crate) op_mark: AtomicU64,
    /// In a transaction: `alloc.next_gen` when the operation in progress
    /// began.
    pub(crate) op_born: AtomicU64,
    /// In a transaction: 1 + the position of the newest byte record (0:
    /// none), so that a store repeated at the same place is saved once.
    pub(crate) last: AtomicU64,
}

/// The segment header, at offset 0.
#[derive(CheckBytes)]
#[repr(C)]
pub(crate) struct Header {
    /// [`MAGIC`].
    pub(crate) magic: [u8; 8],
    /// [`VERSION`].
    pub(crate) version: u32,
    /// `size_of::<Header>()`.
    pub(crate) header_size: u32,
    /// Total segment size in bytes.
    pub(crate) size: u64,
    /// Offset of the first heap block (page-aligned, after the header).
    pub(crate) heap_start: u64,
    /// Pid of the creating process.
    pub(crate) creator_pid: u32,
    /// Process-table slots this segment allows (<= [`MAX_PROCS`]).
    pub(crate) max_procs: u32,
    /// 1 once the creator finished initialising the header.
    pub(crate) ready: AtomicU32,
    /// Reserved, zero.
    pub(crate) reserved: [u32; 21],
    /// The turn protocol's words.
    pub(crate) turn: TurnWords,
    /// The allocator.
    pub(crate) alloc: AllocState,
    /// The message queue.
    pub(crate) queue: QueueState,
    /// Block offset of the root namespace (a `ROOT`-flagged dict the header
    /// owns), or 0 while no process has asked for it (see `queue::root`).
    pub(crate) root: AtomicU64,
    /// The attachments (free records have pid 0).
    pub(crate) procs: [ProcRecord; MAX_PROCS],
    /// The undo journal.
    pub(crate) journal: JournalState,
}

/// Where the heap starts: the header rounded up to a page.
pub(crate) const HEAP_START: u64 = (std::mem::size_of::<Header>() as u64).next_multiple_of(4096);

const _: () = assert!(std::mem::size_of::<Header>().is_multiple_of(16));
const _: () = assert!(std::mem::offset_of!(Header, turn) == 128);

#[cfg(test)]
mod tests {
    //! The numbers in `FORMAT.md` (section "Header"): if one of these fails,
    //! the layout changed and the document (and `VERSION`) must change too.

    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn header_layout_matches_format_md() {
        // (offset, size) of every field, as FORMAT.md gives them.
        let fields: &[(&str, usize, usize, usize, usize)] = &[
            (
                "magic",
                offset_of!(Header, magic),
                0,
                size_of::<[u8; 8]>(),
                8,
            ),
            (
                "version",
                offset_of!(Header, version),
                8,
                size_of::<u32>(),
                4,
            ),
            (
                "header_size",
                offset_of!(Header, header_size),
                12,
                size_of::<u32>(),
                4,
            ),
            ("size", offset_of!(Header, size), 16, size_of::<u64>(), 8),
            (
                "heap_start",
                offset_of!(Header, heap_start),
                24,
                size_of::<u64>(),
                8,
            ),
            (
                "creator_pid",
                offset_of!(Header, creator_pid),
                32,
                size_of::<u32>(),
                4,
            ),
            (
                "max_procs",
                offset_of!(Header, max_procs),
                36,
                size_of::<u32>(),
                4,
            ),
            (
                "ready",
                offset_of!(Header, ready),
                40,
                size_of::<AtomicU32>(),
                4,
            ),
            (
                "reserved",
                offset_of!(Header, reserved),
                44,
                size_of::<[u32; 21]>(),
                84,
            ),
            (
                "turn",
                offset_of!(Header, turn),
                128,
                size_of::<TurnWords>(),
                2432,
            ),
            (
                "turn.next_ticket",
                offset_of!(Header, turn.next_ticket),
                128,
                128,
                128,
            ),
            (
                "turn.now_serving",
                offset_of!(Header, turn.now_serving),
                256,
                128,
                128,
            ),
            (
                "turn.sleepers",
                offset_of!(Header, turn.sleepers),
                384,
                128,
                128,
            ),
            (
                "turn.abandoned",
                offset_of!(Header, turn.abandoned),
                512,
                size_of::<[u64; MAX_PROCS]>(),
                2048,
            ),
            (
                "alloc",
                offset_of!(Header, alloc),
                2560,
                size_of::<AllocState>(),
                1616,
            ),
            ("alloc.top", offset_of!(Header, alloc.top), 2560, 8, 8),
            (
                "alloc.top_prev_alloc",
                offset_of!(Header, alloc.top_prev_alloc),
                2568,
                8,
                8,
            ),
            ("alloc.used", offset_of!(Header, alloc.used), 2576, 8, 8),
            ("alloc.blocks", offset_of!(Header, alloc.blocks), 2584, 8, 8),
            (
                "alloc.next_gen",
                offset_of!(Header, alloc.next_gen),
                2592,
                8,
                8,
            ),
            (
                "alloc.small_map",
                offset_of!(Header, alloc.small_map),
                2600,
                8,
                8,
            ),
            (
                "alloc.large_map",
                offset_of!(Header, alloc.large_map),
                2608,
                8,
                8,
            ),
            (
                "alloc.free_in_bins",
                offset_of!(Header, alloc.free_in_bins),
                2616,
                8,
                8,
            ),
            (
                "alloc.small",
                offset_of!(Header, alloc.small),
                2624,
                size_of::<[u64; NSMALL]>(),
                512,
            ),
            (
                "alloc.large",
                offset_of!(Header, alloc.large),
                3136,
                size_of::<[u64; NLARGE]>(),
                512,
            ),
            (
                "alloc.fast_map",
                offset_of!(Header, alloc.fast_map),
                3648,
                8,
                8,
            ),
            (
                "alloc.fast_bytes",
                offset_of!(Header, alloc.fast_bytes),
                3656,
                8,
                8,
            ),
            (
                "alloc.fast",
                offset_of!(Header, alloc.fast),
                3664,
                size_of::<[u64; NSMALL]>(),
                512,
            ),
            (
                "queue",
                offset_of!(Header, queue),
                4176,
                size_of::<QueueState>(),
                32,
            ),
            ("queue.ring", offset_of!(Header, queue.ring), 4176, 8, 8),
            ("queue.cap", offset_of!(Header, queue.cap), 4184, 8, 8),
            ("queue.head", offset_of!(Header, queue.head), 4192, 8, 8),
            ("queue.tail", offset_of!(Header, queue.tail), 4200, 8, 8),
            (
                "root",
                offset_of!(Header, root),
                4208,
                size_of::<AtomicU64>(),
                8,
            ),
            (
                "procs",
                offset_of!(Header, procs),
                4224,
                size_of::<[ProcRecord; MAX_PROCS]>(),
                16384,
            ),
            (
                "procs[0].pid",
                offset_of!(Header, procs) + offset_of!(ProcRecord, pid),
                4224,
                4,
                4,
            ),
            (
                "procs[0].ticket",
                offset_of!(Header, procs) + offset_of!(ProcRecord, ticket),
                4232,
                8,
                8,
            ),
            (
                "procs[1]",
                offset_of!(Header, procs) + size_of::<ProcRecord>(),
                4288,
                64,
                64,
            ),
            (
                "journal",
                offset_of!(Header, journal),
                20608,
                size_of::<JournalState>(),
                72,
            ),
            (
                "journal.block",
                offset_of!(Header, journal.block),
                20608,
                8,
                8,
            ),
            ("journal.cap", offset_of!(Header, journal.cap), 20616, 8, 8),
            ("journal.len", offset_of!(Header, journal.len), 20624, 8, 8),
            (
                "journal.frees",
                offset_of!(Header, journal.frees),
                20632,
                8,
                8,
            ),
            (
                "journal.born",
                offset_of!(Header, journal.born),
                20640,
                8,
                8,
            ),
            ("journal.txn", offset_of!(Header, journal.txn), 20648, 8, 8),
            (
                "journal.op_mark",
                offset_of!(Header, journal.op_mark),
                20656,
                8,
                8,
            ),
            (
                "journal.op_born",
                offset_of!(Header, journal.op_born),
                20664,
                8,
                8,
            ),
            (
                "journal.last",
                offset_of!(Header, journal.last),
                20672,
                8,
                8,
            ),
        ];
        for &(name, off, want_off, size, want_size) in fields {
            assert_eq!(off, want_off, "offset of {name}");
            assert_eq!(size, want_size, "size of {name}");
        }
        // Each turn word is alone on its 128-byte line.
        assert_eq!(size_of::<Line<AtomicU32>>(), 128);
        assert_eq!(size_of::<Line<AtomicU64>>(), 128);
        assert_eq!(std::mem::align_of::<Header>(), 128);
        // 20680 bytes of fields, padded to the 128-byte alignment.
        assert_eq!(size_of::<Header>(), 20736);
        assert_eq!(HEAP_START, 24576);
        assert_eq!(MAGIC, *b"SHMHEAP\0");
        assert_eq!(VERSION, 6);
        assert_eq!((MAX_PROCS, NSMALL, NLARGE), (256, 64, 64));
        assert_eq!((MIN_SIZE, MAX_SIZE), (64 << 10, 1 << 40));
    }
}
