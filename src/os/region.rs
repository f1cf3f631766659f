//! A region of memory a segment lives in: a shared mapping of a file or
//! shared-memory object, or a zeroed heap buffer.

use std::alloc::Layout;
use std::fs::File;

use crate::Error;

/// Alignment of heap regions (a page, like a mapping).
const HEAP_ALIGN: usize = 4096;

/// Backing memory of a segment. Its bytes never move while it lives.
pub(crate) enum Region {
    /// A `MAP_SHARED` mapping.
    Mapped(memmap2::MmapRaw),
    /// A process-local, zero-initialised heap buffer.
    Heap {
        /// Start of the allocation.
        ptr: std::ptr::NonNull<u8>,
        /// Its length.
        len: usize,
    },
}

// SAFETY: the region is plain memory; all access to its contents is
// synchronised by the turn protocol above this layer.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// Maps the whole of `file` shared, read-write.
    pub(crate) fn map(file: &File) -> Result<Region, Error> {
        let len = file
            .metadata()
            .map_err(|e| Error::Io {
                op: "fstat",
                source: e,
            })?
            .len();
        let len = usize::try_from(len).map_err(|_| Error::InvalidSize {
            size: len,
            reason: "larger than the address space",
        })?;
        if len == 0 {
            return Err(Error::Truncated {
                claimed: 0,
                actual: 0,
            });
        }
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_raw(file)
            .map_err(|e| Error::Io {
                op: "mmap",
                source: e,
            })?;
        Ok(Region::Mapped(map))
    }

    /// A zeroed heap buffer of `len` bytes.
    pub(crate) fn heap(len: usize) -> Result<Region, Error> {
        let layout =
            Layout::from_size_align(len.max(1), HEAP_ALIGN).map_err(|_| Error::InvalidSize {
                size: len as u64,
                reason: "too large for a heap region",
            })?;
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = std::ptr::NonNull::new(ptr).ok_or(Error::OutOfMemory {
            requested: len as u64,
            free: 0,
        })?;
        Ok(Region::Heap { ptr, len })
    }

    /// Start of the region.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        match self {
            Region::Mapped(m) => m.as_mut_ptr(),
            Region::Heap { ptr, .. } => ptr.as_ptr(),
        }
    }

    /// Writes the mapping's dirty pages back to the file it maps and waits
    /// for the writes to complete (`msync(MS_SYNC)` over the whole mapping).
    /// A heap region has nothing to write back.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        match self {
            Region::Mapped(m) => m.flush().map_err(|e| Error::Io {
                op: "msync",
                source: e,
            }),
            Region::Heap { .. } => Ok(()),
        }
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Region::Mapped(m) => m.len(),
            Region::Heap { len, .. } => *len,
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Region::Heap { ptr, len } = self {
            let layout = Layout::from_size_align((*len).max(1), HEAP_ALIGN)
                .expect("layout was valid at allocation");
            // SAFETY: allocated in `heap` with this very layout.
            unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
        }
    }
}
