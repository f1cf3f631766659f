//! Recovery of the data after a process died inside its turn: roll the
//! interrupted operation back, rebuild the allocator, reclaim what nothing
//! reaches, and validate.

use super::validate::{Report, validate, validate_marking};
use crate::Error;
use crate::alloc::Heap;
use crate::segment::QueueState;

/// What [`crate::Segment::recover`] found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Pid of the process that died holding the turn (0 when recovery ran
    /// for another reason, e.g. a segment image with an interrupted
    /// operation).
    pub dead_pid: u32,
    /// Journal records written back: the committed bytes the interrupted
    /// operation had overwritten (0 if it died between operations).
    pub records_undone: u64,
    /// Allocated blocks nothing reached (written by the interrupted
    /// operation, or being freed by it), now free again.
    pub blocks_reclaimed: u64,
    /// Their bytes.
    pub bytes_reclaimed: u64,
    /// The validation of the recovered segment.
    pub report: Report,
}

/// Rolls back the journal, rebuilds the allocator from the block headers,
/// frees every allocated block no root reaches, and validates the result.
/// Idempotent: a death half-way through leaves work the next run redoes.
pub(crate) fn recover_data(heap: &Heap, queue: &QueueState) -> Result<Recovery, Error> {
    let records_undone = heap.rollback()?;
    heap.drop_journal();
    // Normalise the allocator (bins, footers, counters) keeping every
    // allocated block, so that the validator can walk it...
    heap.rebuild(|_| true)?;
    // ...find what the roots reach...
    let (_, reached) = validate_marking(heap, queue)?;
    // ...and give back everything else.
    let rebuilt = heap.rebuild(|b| reached.get(b))?;
    let report = validate(heap, queue)?;
    Ok(Recovery {
        dead_pid: 0,
        records_undone,
        blocks_reclaimed: rebuilt.blocks,
        bytes_reclaimed: rebuilt.bytes,
        report,
    })
}
