//! Entry points that compose the layers: attach (map, check, then validate
//! inside a turn).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::format::recover::{Recovery, recover_data};
use crate::segment::{Segment, SegmentOptions};
use crate::{Error, Turn};

impl Segment {
    /// Sets how many turns in a row this process may take while the next in
    /// line is not running (see [`SegmentOptions::batch`]; 1 is strict
    /// FIFO, 0 counts as 1). Takes effect from the next turn's end.
    pub fn set_batch(&self, turns: u32) {
        self.batch
            .store(turns.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// How many turns in a row this process may take (see
    /// [`Segment::set_batch`]).
    pub fn batch(&self) -> u32 {
        self.batch.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Attaches to the named segment. The header and every reachable object
    /// are validated (inside a turn, so the segment is consistent); a
    /// damaged segment gives [`Error::Corrupt`] or a more specific error.
    pub fn attach(name: &str) -> Result<Segment, Error> {
        SegmentOptions::default().attach(name)
    }

    fn validated(mut self, opts: &SegmentOptions) -> Result<Segment, Error> {
        self.auto_recover = opts.auto_recover;
        self.set_batch(opts.batch);
        {
            // Attaching needs a sound segment: if the process holding the
            // turn died, recover it (whatever `auto_recover` says for later
            // turns).
            let turn = self.turn_until(None, true)?;
            if turn.heap().in_operation() || turn.heap().in_transaction() {
                // A segment whose last operation was cut off (an image
                // copied mid-operation): roll it back before anything else.
                turn.recover_data()?;
            } else if opts.validate {
                turn.validate()?;
            }
        }
        Ok(self)
    }
}

impl SegmentOptions {
    /// Attaches to the named segment (validating it unless turned off).
    pub fn attach(&self, name: &str) -> Result<Segment, Error> {
        Segment::open_shm(name)?.validated(self)
    }

    /// Attaches to a file-backed segment.
    pub fn attach_file(&self, path: &Path) -> Result<Segment, Error> {
        Segment::open_file(path)?.validated(self)
    }

    /// Attaches to the named segment for inspection, changing nothing:
    /// maps it and checks its header, and takes a record in the process
    /// table (which every process that takes turns needs, and which is
    /// given back when the `Segment` is dropped), but takes no turn,
    /// validates nothing and never recovers: where [`Segment::attach`]
    /// recovers a segment whose turn holder died, the turns of an
    /// inspecting `Segment` give [`Error::PeerDied`] (whatever
    /// [`SegmentOptions::auto_recover`] says), and its caller decides. For
    /// tools such as the `shmheap` command, which validate (or not) inside
    /// a turn of their own.
    pub fn inspect(&self, name: &str) -> Result<Segment, Error> {
        Segment::open_shm(name)
    }

    /// As [`SegmentOptions::inspect`], for a file-backed segment.
    pub fn inspect_file(&self, path: &Path) -> Result<Segment, Error> {
        Segment::open_file(path)
    }
}

impl Segment {
    /// Waits (as long as it takes) for this process's turn.
    ///
    /// If the process holding the turn dies, this returns
    /// [`Error::PeerDied`] within about the liveness period
    /// (20 ms) plus a wake-up; call [`Segment::recover`] and wait again (or
    /// set [`SegmentOptions::auto_recover`] and this recovers by itself).
    pub fn turn(&self) -> Result<Turn<'_>, Error> {
        self.turn_until(None, self.auto_recover)
    }

    /// Waits at most `timeout` for the turn; [`Error::Timeout`] if it did not
    /// come (the turn is then not entered, and the queue of waiters goes on).
    pub fn turn_timeout(&self, timeout: Duration) -> Result<Turn<'_>, Error> {
        self.turn_until(Some(Instant::now() + timeout), self.auto_recover)
    }

    fn turn_until(&self, deadline: Option<Instant>, recover: bool) -> Result<Turn<'_>, Error> {
        loop {
            match self.acquire(deadline) {
                Err(Error::PeerDied { .. }) if recover => {
                    // Whoever wins the take-over recovers; the others find a
                    // live holder and wait again (keeping their tickets).
                    self.recover()?;
                }
                r => return r,
            }
        }
    }

    /// Recovers from the death of the process holding the turn (after
    /// [`Error::PeerDied`]): takes the turn over, rolls back the operation
    /// the dead process was in the middle of (restoring every byte it had
    /// overwritten), rebuilds the allocator from the block headers, frees
    /// every block no root reaches (what the dead process had allocated but
    /// not published, or was freeing), validates the whole segment, and
    /// hands the turn on. Values committed by completed operations are
    /// intact, including the completed operations of the dead process's
    /// last turn (the unit of atomicity is one operation, such as one
    /// `push` or one `insert`; see FORMAT.md, "Crash consistency").
    ///
    /// Returns `None` when there is nothing to recover: the turn's holder is
    /// alive (another survivor may be recovering right now; wait for the
    /// turn as usual). Several survivors may call this at once: one wins.
    /// A recovery interrupted by its own death is redone by the next.
    ///
    /// It waits for this process's other turns (the local queue) first:
    /// on the thread that holds this process's turn it gives
    /// [`Error::TurnHeld`].
    pub fn recover(&self) -> Result<Option<Recovery>, Error> {
        let guard = self.local.lock(None)?;
        self.recover_locked(guard)
    }

    /// [`Segment::recover`] by the holder of the local lock.
    pub(crate) fn recover_locked(
        &self,
        guard: crate::turn::local::LocalGuard<'_, crate::segment::Local>,
    ) -> Result<Option<Recovery>, Error> {
        let Some((turn, pid)) = self.take_over(guard) else {
            return Ok(None);
        };
        let mut r = turn.recover_data()?;
        drop(turn);
        r.dead_pid = pid;
        *self.last_recovery.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        Ok(Some(r))
    }

    /// What the last recovery made by this process (by
    /// [`Segment::recover`] or automatically) did.
    pub fn last_recovery(&self) -> Option<Recovery> {
        *self.last_recovery.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Turn<'_> {
    /// Rolls back an interrupted operation and reclaims unreachable blocks
    /// (see [`Segment::recover`]).
    pub(crate) fn recover_data(&self) -> Result<Recovery, Error> {
        recover_data(&self.heap(), self.queue_state(), self.root_word())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Hand the turn on whatever happens below (even a panic).
        struct Release<'a, 'b>(&'a mut Turn<'b>);
        impl Drop for Release<'_, '_> {
            fn drop(&mut self) {
                self.0.release();
            }
        }
        let turn = Release(self);
        let heap = turn.0.heap();
        if std::thread::panicking() {
            // A panic may have cut an operation off (with journal records,
            // or with blocks allocated and not published): recover as a
            // survivor would (nothing to report from a drop; a failure here
            // leaves the journal for the next recovery).
            let _ = turn.0.recover_data();
        } else if heap.in_transaction() {
            // A transaction dropped without a commit (an early return, an
            // error): it leaves nothing behind.
            let _ = turn.0.undo_transaction();
        } else if heap.in_operation() {
            // An operation that returned an error leaves a consistent
            // structure; its deferred frees run now.
            let _ = heap.commit();
        }
    }
}
