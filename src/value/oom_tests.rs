//! A driver for out-of-memory tests: an operation tried at every amount of
//! free space, from none up to enough.

use crate::{Error, Turn, Value};

/// Fills the heap, then gives the space back a block at a time (smallest
/// first) and tries `attempt` after each: every `OutOfMemory` must leave the
/// space in use exactly as it was and the segment valid. Stops at the first
/// success; returns how many attempts ran out of memory.
pub(crate) fn at_every_free_size(
    turn: &mut Turn<'_>,
    mut attempt: impl FnMut(&mut Turn<'_>) -> Result<(), Error>,
) -> usize {
    // The journal's block exists (a list push and pop made it: a pop
    // journals the header), and the queue's ring is grown in advance: only
    // the attempt allocates below.
    let scratch = turn.put_message(&Value::List(vec![])).unwrap();
    turn.list_mut(scratch).unwrap().push(0).unwrap();
    turn.list_mut(scratch).unwrap().pop().unwrap();
    for _ in 0..64 {
        turn.put_message(&Value::None).unwrap();
    }
    while let Some(h) = turn.take_message().unwrap() {
        turn.free(h).unwrap();
    }
    // Fill the heap with blobs of halving sizes until nothing fits.
    let mut fillers = Vec::new();
    let mut size = 32 << 10;
    while size >= 8 {
        match turn.put_message(&Value::Bytes(vec![0; size])) {
            Ok(_) => fillers.push(turn.take_message().unwrap().unwrap()),
            Err(Error::OutOfMemory { .. }) => size /= 2,
            Err(e) => panic!("{e}"),
        }
    }
    let mut ooms = 0;
    for h in fillers.into_iter().rev() {
        turn.free(h).unwrap();
        let before = turn.stats();
        match attempt(turn) {
            Err(Error::OutOfMemory { .. }) => {
                ooms += 1;
                let after = turn.stats();
                assert_eq!(
                    (after.used, after.blocks, after.free),
                    (before.used, before.blocks, before.free),
                    "out of memory changed the space in use (attempt {ooms})"
                );
                assert_eq!(turn.validate().unwrap().orphans, 0);
            }
            r => {
                r.unwrap();
                return ooms;
            }
        }
    }
    ooms
}
