//! Blocks by size class: what `shmheap stats` shows of the heap's shape.

use super::{ALLOC, Heap, K_FAST};
use crate::Error;
use crate::segment::{HEAP_START, Offset};

/// Blocks of one size class (sizes in `(previous class's max_size,
/// max_size]`, block headers included), from [`crate::Turn::block_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SizeClass {
    /// The largest block size in the class (a power of two, from 32).
    pub max_size: u64,
    /// Allocated blocks (values and their parts, and the undo journal's
    /// block).
    pub allocated: u64,
    /// Their bytes.
    pub allocated_bytes: u64,
    /// Free blocks (in the bins, or parked in a fast bin).
    pub free: u64,
    /// Their bytes.
    pub free_bytes: u64,
}

/// The heap's blocks by size class, and how fragmented its free space is:
/// from [`crate::Turn::block_stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Classes by size (powers of two from 32 bytes), only those holding
    /// a block.
    pub classes: Vec<SizeClass>,
    /// The largest free block below the high-water mark (0 if none).
    pub largest_free_block: u64,
    /// The untouched space above the high-water mark (one free extent).
    pub untouched: u64,
    /// Free bytes in total: free blocks and the untouched space.
    pub free_bytes: u64,
}

impl BlockStats {
    /// The largest allocation that fits without growing anything: the
    /// larger of the largest free block and the untouched space.
    pub fn largest_free(&self) -> u64 {
        self.largest_free_block.max(self.untouched)
    }

    /// External fragmentation, 0.0 to 1.0: the share of the free bytes
    /// that is not in the largest free extent (0 when all free space is one
    /// extent or there is none).
    pub fn fragmentation(&self) -> f64 {
        if self.free_bytes == 0 {
            return 0.0;
        }
        1.0 - self.largest_free() as f64 / self.free_bytes as f64
    }
}

impl Heap {
    /// Counts every block from the heap start to `top` by size class. A
    /// block header that does not hold together is [`Error::Corrupt`]
    /// (validation checks the rest).
    pub(crate) fn block_stats(&self) -> Result<BlockStats, Error> {
        let top = self.checked_top()?;
        let mut classes = [SizeClass::default(); 64];
        let mut s = BlockStats::default();
        let mut o = HEAP_START;
        while o < top {
            let b = Offset::new(o);
            let (size, flags) = self.header(b)?;
            let free = flags & ALLOC == 0 || self.mem.u64(b.add(8))? == K_FAST as u64;
            // Class k holds sizes in (2^(k-1), 2^k]; 32 is the smallest block.
            let k = (64 - (size - 1).leading_zeros() as usize).clamp(5, 63);
            let c = &mut classes[k];
            c.max_size = 1 << k;
            if free {
                c.free += 1;
                c.free_bytes += size;
                s.free_bytes += size;
                s.largest_free_block = s.largest_free_block.max(size);
            } else {
                c.allocated += 1;
                c.allocated_bytes += size;
            }
            o += size;
        }
        s.untouched = self.mem.len() - top;
        s.free_bytes += s.untouched;
        s.classes = classes.into_iter().filter(|c| c.max_size != 0).collect();
        Ok(s)
    }
}
