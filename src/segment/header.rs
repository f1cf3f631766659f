//! The segment header: the first bytes of every segment.
//!
//! All of its fields are fixed-width and little-endian; `FORMAT.md` gives the
//! byte offsets. The turn words sit on cache lines of their own.

use std::sync::atomic::{AtomicU32, AtomicU64};

use bytecheck::CheckBytes;

/// `b"SHMHEAP\0"`.
pub(crate) const MAGIC: [u8; 8] = *b"SHMHEAP\0";
/// The format version this build reads and writes.
pub(crate) const VERSION: u32 = 1;
/// Capacity of the process table (and of the waiter ring).
pub(crate) const MAX_PROCS: usize = 256;
/// Number of small-block bins (exact sizes 32, 48, ... 1024).
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
    /// The ticket whose owner holds (or may take) the turn; futex word.
    pub(crate) now_serving: Line<AtomicU32>,
    /// `pid << 32 | ticket` of the process inside the turn, or 0.
    pub(crate) holder: Line<AtomicU64>,
    /// Number of waiters asleep on `now_serving`.
    pub(crate) sleepers: Line<AtomicU32>,
    /// Per ticket slot (`ticket % MAX_PROCS`): `ticket + 1` once the waiter
    /// holding that ticket gave up (timeout), else anything else.
    pub(crate) abandoned: [AtomicU64; MAX_PROCS],
    /// Per ticket slot: `pid << 32 | ticket` of the waiter holding it.
    pub(crate) waiters: [AtomicU64; MAX_PROCS],
}

/// The allocator's state (see `alloc`). Changed only inside a turn.
#[derive(CheckBytes)]
#[repr(C)]
pub(crate) struct AllocState {
    /// End of the carved part of the heap; above it is untouched memory.
    pub(crate) top: u64,
    /// 1 if the block just below `top` is allocated (or there is none).
    pub(crate) top_prev_alloc: u64,
    /// Bytes in allocated blocks, headers included.
    pub(crate) used: u64,
    /// Number of allocated blocks.
    pub(crate) blocks: u64,
    /// Generation given to the next allocated block.
    pub(crate) next_gen: u64,
    /// Bit `i` set when small bin `i` is non-empty.
    pub(crate) small_map: u64,
    /// Bit `i` set when large bin `i` is non-empty.
    pub(crate) large_map: u64,
    /// Bytes in free blocks in the bins.
    pub(crate) free_in_bins: u64,
    /// Heads of the small bins' free lists.
    pub(crate) small: [u64; NSMALL],
    /// Heads of the large bins' free lists.
    pub(crate) large: [u64; NLARGE],
}

/// The message queue: a ring of handles in one block (see `queue`).
#[derive(CheckBytes)]
#[repr(C)]
pub(crate) struct QueueState {
    /// Offset of the ring block, or 0.
    pub(crate) ring: u64,
    /// Capacity of the ring in entries.
    pub(crate) cap: u64,
    /// Index of the oldest entry.
    pub(crate) head: u64,
    /// Number of entries.
    pub(crate) len: u64,
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
    /// Pids of attached processes (0 = free slot).
    pub(crate) procs: [AtomicU32; MAX_PROCS],
}

/// Where the heap starts: the header rounded up to a page.
pub(crate) const HEAP_START: u64 = (std::mem::size_of::<Header>() as u64).next_multiple_of(4096);

const _: () = assert!(std::mem::size_of::<Header>().is_multiple_of(16));
const _: () = assert!(std::mem::offset_of!(Header, turn) == 128);
