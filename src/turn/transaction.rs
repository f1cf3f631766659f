//! Transactional turns: a turn whose every change is undone unless it
//! commits (FORMAT.md §9.2).
//!
//! The segment's undo journal already makes each operation all or nothing;
//! a transaction keeps the records of every operation of the turn (an
//! operation's commit only moves a mark), journals the writes a lone
//! operation makes with one atomic store (`push`'s `len`, `int_mut`, ...),
//! and defers every free to the end. Committing is one store (the journal
//! emptied); rolling back is the recovery of a dead holder's turn, run by
//! the living holder: the records written back, newest first, and what the
//! transaction allocated reclaimed.

use std::time::Duration;

use crate::segment::Segment;
use crate::{Error, Turn};

impl Segment {
    /// Waits for the turn (as [`Segment::turn`]) and makes it a
    /// transaction: every change made in it is undone unless
    /// [`Turn::commit`] is called. Dropping the turn without a commit (an
    /// early `?` return, a panic) rolls it back, and so does the death of
    /// this process at any point (the next holder recovers the segment to
    /// the state before the turn).
    pub fn transaction(&self) -> Result<Turn<'_>, Error> {
        let mut t = self.turn()?;
        t.begin_transaction()?;
        Ok(t)
    }

    /// [`Segment::transaction`] waiting at most `timeout` for the turn
    /// ([`Error::Timeout`] if it did not come).
    pub fn transaction_timeout(&self, timeout: Duration) -> Result<Turn<'_>, Error> {
        let mut t = self.turn_timeout(timeout)?;
        t.begin_transaction()?;
        Ok(t)
    }

    /// [`Segment::transaction`] awaited without blocking the thread (see
    /// [`Segment::turn_async`]; any executor). Dropping the future before
    /// it resolves is exactly as safe as dropping `turn_async`'s: the turn
    /// becomes a transaction with no await point after it is entered.
    pub async fn transaction_async(&self) -> Result<Turn<'_>, Error> {
        let mut t = self.turn_async().await?;
        t.begin_transaction()?;
        Ok(t)
    }

    /// [`Segment::transaction_async`] resolving to [`Error::Timeout`] if
    /// the turn did not come within `timeout`.
    pub async fn transaction_async_timeout(&self, timeout: Duration) -> Result<Turn<'_>, Error> {
        let mut t = self.turn_async_timeout(timeout).await?;
        t.begin_transaction()?;
        Ok(t)
    }

    /// [`Segment::transaction`] only if the turn is free now (as
    /// [`Segment::try_turn`]); never blocks.
    pub fn try_transaction(&self) -> Result<Option<Turn<'_>>, Error> {
        match self.try_turn()? {
            Some(mut t) => {
                t.begin_transaction()?;
                Ok(Some(t))
            }
            None => Ok(None),
        }
    }
}

impl Turn<'_> {
    /// Makes this turn a transaction from here on (what
    /// [`Segment::transaction`] and its variants call on the turn they
    /// acquired; for code that acquires its turns in its own way, such as
    /// the Python binding). What the turn did before stays done. A turn
    /// that is a transaction already stays one, unchanged.
    pub fn begin_transaction(&mut self) -> Result<(), Error> {
        let heap = self.heap();
        if heap.in_transaction() {
            return Ok(());
        }
        heap.commit()?;
        heap.begin_transaction()
    }

    /// Whether this turn is a transaction (see [`Segment::transaction`]).
    pub fn is_transaction(&self) -> bool {
        self.heap().in_transaction()
    }

    /// Commits the transaction (every change of the turn becomes durable at
    /// once; the frees it deferred run now) and hands the turn on. On a
    /// turn that is not a transaction, only hands it on.
    pub fn commit(mut self) -> Result<(), Error> {
        self.commit_transaction()
    }

    /// Commits the transaction as [`Turn::commit`] does, but keeps the
    /// turn, which is a plain turn from here on (until
    /// [`Turn::begin_transaction`]). On a turn that is not a transaction,
    /// does nothing.
    ///
    /// A transaction that ran out of memory for the record of a free (its
    /// operation returned [`Error::OutOfMemory`] after its change, which
    /// would leave the freed block allocated and unreachable) cannot
    /// commit: this rolls it back and returns [`Error::OutOfMemory`].
    pub fn commit_transaction(&mut self) -> Result<(), Error> {
        let heap = self.heap();
        if heap.transaction_doomed() {
            self.undo_transaction()?;
            return Err(Error::OutOfMemory {
                requested: 16,
                free: self.stats().free,
            });
        }
        if heap.in_transaction() {
            heap.commit_transaction()?;
        }
        Ok(())
    }

    /// Undoes every change of the transaction so far and keeps the turn,
    /// which stays a transaction (with nothing in it yet). What the
    /// transaction allocated is freed and what it freed is valid again.
    /// Costs a walk of the heap (the recovery of a dead holder's turn,
    /// which also validates the segment). On a turn that is not a
    /// transaction, does nothing.
    pub fn rollback(&mut self) -> Result<(), Error> {
        if !self.heap().in_transaction() {
            return Ok(());
        }
        self.undo_transaction()?;
        self.heap().begin_transaction()
    }

    /// Rolls the open transaction back (the records written back, the
    /// allocator rebuilt keeping what the roots reach) and closes it.
    pub(crate) fn undo_transaction(&self) -> Result<(), Error> {
        self.recover_data()?;
        self.heap().shrink_journal()
    }
}
