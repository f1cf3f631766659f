//! The turn: a fair (FIFO ticket) hand-off of the segment among N processes.
//!
//! A process takes a ticket (`next_ticket += 1`) and owns the turn when
//! `now_serving` equals its ticket; releasing stores `now_serving + 1`. A
//! waiter next in line spins for a bounded time reading `now_serving` (no
//! system call); one further back yields its core instead (with more
//! processes than cores, spinning there would keep the holder and the next
//! in line from running); then, after about a millisecond, it sleeps on
//! `now_serving` with a futex; the releaser calls `FUTEX_WAKE` only when
//! `sleepers` is non-zero, and with a bit set that wakes only the sleepers
//! near the front of the queue (the waiter raises `sleepers` before its last check,
//! the releaser stores before it reads `sleepers`, both `SeqCst`, so a wake
//! cannot be lost).
//!
//! A waiter that times out marks its ticket abandoned (`abandoned[t % N] =
//! t + 1`); whoever finds the turn at an abandoned ticket (the releaser, or
//! the waiter itself if the turn reached it during the give-up) claims the
//! mark with one compare-exchange and passes the turn on, so a timed-out
//! waiter never enters and never blocks the queue. Each attachment also
//! writes its ticket and state (waiting, entered, abandoned) into its own
//! record in the process table, a cache line nobody else writes: while
//! sleeping, a waiter checks every [`LIVENESS_PERIOD`] that the process the
//! current ticket belongs to is alive; a dead holder gives
//! [`Error::PeerDied`], a dead waiter's ticket is given up on its behalf.

use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use std::time::{Duration, Instant};

use crate::Error;
use crate::os;
use crate::segment::{
    ABANDONED, AllocState, ENTERED, IDLE, Local, MAX_PROCS, Mem, ProcRecord, QueueState, Segment,
    TurnWords, WAITING,
};

mod future;
pub(crate) mod local;
pub(crate) mod waiter;

pub use future::TurnFuture;
use local::LocalGuard;
pub use waiter::ASYNC_LIVENESS_PERIOD;

/// How often a sleeping waiter checks that the turn's owner is alive: a
/// peer's death is reported within about this time.
pub const LIVENESS_PERIOD: Duration = Duration::from_millis(20);

/// Spins reading `now_serving`, while next in line, before yielding.
const SPINS: u32 = 2_000;
/// How near the turn (next in line is 1) a release wakes sleepers: they
/// are runnable, spinning or yielding, by the time the turn reaches them.
const FRONT: u32 = 3;
/// `sched_yield`s before sleeping on the futex, at least.
const YIELDS: u32 = 50;
/// How long a waiter keeps yielding before it sleeps on the futex: longer
/// than a queue of processes with short turns takes to go by (16 turns of
/// a few µs), short enough that a waiter behind a long turn soon stops
/// using the CPU.
const YIELD_TIME: Duration = Duration::from_millis(1);

/// The right to touch a segment's shared data, held by one process at a time.
///
/// Obtained from [`Segment::turn`] (and friends); dropping it hands the turn
/// to the next waiting process. Every view of shared data borrows the
/// `Turn`, so the compiler rejects any use of shared data after the turn is
/// handed on.
///
/// A `Turn` is `Send` (it may be held across `.await`s of a multi-threaded
/// runtime and dropped on another thread) but not `Sync`. A process holds
/// at most one turn of a segment at a time: its other threads and tasks
/// queue (FIFO) until this one is dropped, and a blocking wait on the
/// thread that took it gives [`Error::TurnHeld`].
pub struct Turn<'seg> {
    pub(crate) seg: &'seg Segment,
    ticket: u32,
    /// The dead holder's record, when this turn was taken over from it.
    takeover: Option<&'seg ProcRecord>,
    _local: LocalGuard<'seg, Local>,
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("ticket", &self.ticket)
            .finish()
    }
}

fn slot(t: u32) -> usize {
    t as usize % MAX_PROCS
}

/// The futex wake-up bit of ticket `t`'s waiter: a release wakes only the
/// sleepers of the new holder's ticket and the [`FRONT`] behind it (tickets
/// 32 apart share a bit, which costs a spurious wake-up, never a lost one).
fn ticket_bits(t: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(1 << (t % 32)).unwrap_or(std::num::NonZeroU32::MIN)
}

fn pack(state: u64, t: u32) -> u64 {
    state << 32 | t as u64
}

/// The `now_serving` word of ticket `t`: the ticket in the high half; in
/// the low half, the futex word, `t << 1 | parked`, which changes with
/// every hand-off and every park, so that a futex wait on it misses
/// neither.
pub(crate) fn serving(t: u32, parked: bool) -> u64 {
    (t as u64) << 32 | (t.wrapping_shl(1) | parked as u32) as u64
}

/// The ticket a `now_serving` word names.
pub(crate) fn serving_ticket(w: u64) -> u32 {
    (w >> 32) as u32
}

/// Whether the holder parked the turn (see [`crate::SegmentOptions::batch`]):
/// it may resume it, or the next in line may take it.
pub(crate) fn is_parked(w: u64) -> bool {
    w & 1 != 0
}

/// Whether a live process claims ticket `s` (the first question of
/// `check_owner`, asked without changing anything): `false` means that
/// `check_owner` has something to report or to clean up.
pub(crate) fn claimed_by_the_living(records: &[ProcRecord], s: u32) -> bool {
    records.iter().any(|rec| {
        let v = rec.ticket.load(SeqCst);
        v as u32 == s && matches!(v >> 32, WAITING | ENTERED) && {
            let pid = rec.pid.load(SeqCst);
            pid == 0 || os::pid_alive(pid)
        }
    })
}

impl Segment {
    fn words(&self) -> &TurnWords {
        self.turn_words()
    }

    /// This attachment's record (its own line: written on the fast path
    /// without moving anyone else's cache lines).
    fn record(&self) -> &ProcRecord {
        self.proc_record(self.proc_slot)
    }

    /// Takes the turn only if it is free and nobody waits; never blocks.
    pub fn try_turn(&self) -> Result<Option<Turn<'_>>, Error> {
        let Some(mut guard) = self.local.try_lock() else {
            return Ok(None);
        };
        if let Some(t) = self.resume(&mut guard) {
            return Ok(Some(self.resumed(t, guard)));
        }
        let w = self.words();
        let word = w.now_serving.v.load(SeqCst);
        let s = serving_ticket(word);
        // Free: nobody holds the turn and nobody waits, or its holder parked
        // it and nobody waits.
        let t = if is_parked(word) {
            s.wrapping_add(1)
        } else {
            s
        };
        if w.next_ticket.v.load(SeqCst) != t {
            return Ok(None);
        }
        // Claim the ticket in our record before taking it (see `take_ticket`).
        self.record().ticket.store(pack(WAITING, t), SeqCst);
        if w.next_ticket
            .v
            .compare_exchange(t, t.wrapping_add(1), SeqCst, SeqCst)
            .is_err()
        {
            self.record().ticket.store(pack(IDLE, t), SeqCst);
            return Ok(None);
        }
        if t != s && !self.unpark(s) {
            // The holder resumed its parked turn first: our ticket waits
            // behind it; give it up (as a timeout does).
            self.give_up(t, &mut guard);
            return Ok(None);
        }
        Ok(Some(self.enter(t, guard)))
    }

    /// Resumes the turn this process parked, unless the next in line took
    /// it meanwhile: its ticket, or `None`.
    pub(crate) fn resume(&self, guard: &mut LocalGuard<'_, Local>) -> Option<u32> {
        let t = guard.parked.take()?;
        self.words()
            .now_serving
            .v
            .compare_exchange(serving(t, true), serving(t, false), SeqCst, SeqCst)
            .ok()?;
        guard.run += 1;
        Some(t)
    }

    /// Hands on the turn this process parked, if it still can (the next in
    /// line may have taken it).
    pub(crate) fn hand_on_parked(&self, guard: &mut LocalGuard<'_, Local>) {
        if let Some(t) = self.resume(guard) {
            self.hand_on(t);
        }
    }

    /// Hands the turn of ticket `t` (ours) on and marks our record idle.
    fn hand_on(&self, t: u32) {
        // Pass on first: a process that dies between the two leaves a record
        // naming an old ticket, which no waiter looks for.
        self.pass_on(t);
        // No order needed: until it is seen, the record names a ticket the
        // turn has passed, which nobody looks for (a plain store on x86,
        // not an `xchg`).
        self.record().ticket.store(pack(IDLE, t), Release);
    }

    /// Whether ticket `t` (ours, waiting) holds the turn now, given the
    /// `now_serving` word `word`: the turn is at `t`, or its holder parked
    /// it just ahead of `t` and we took it.
    pub(crate) fn reached(&self, word: u64, t: u32) -> bool {
        let s = serving_ticket(word);
        s == t || (t.wrapping_sub(s) == 1 && is_parked(word) && self.unpark(s))
    }

    /// The turn of ticket `t`, resumed (our record still names it entered).
    pub(crate) fn resumed<'a>(&'a self, t: u32, guard: LocalGuard<'a, Local>) -> Turn<'a> {
        Turn {
            seg: self,
            ticket: t,
            takeover: None,
            _local: guard,
        }
    }

    /// Takes a turn that its holder (ticket `s`) parked and hands it to
    /// ticket `s + 1` (the caller's own, when next in line), with the one
    /// compare-exchange that a resume races against. Whether it did.
    pub(crate) fn unpark(&self, s: u32) -> bool {
        let n = s.wrapping_add(1);
        if self
            .words()
            .now_serving
            .v
            .compare_exchange(serving(s, true), serving(n, false), SeqCst, SeqCst)
            .is_err()
        {
            return false;
        }
        if self.served(n) {
            self.pass_on(n);
        }
        true
    }

    pub(crate) fn enter<'a>(&'a self, t: u32, mut guard: LocalGuard<'a, Local>) -> Turn<'a> {
        self.record().ticket.store(pack(ENTERED, t), SeqCst);
        guard.run = 0;
        Turn {
            seg: self,
            ticket: t,
            takeover: None,
            _local: guard,
        }
    }

    /// Takes a ticket. Our record names the ticket *before* the
    /// compare-exchange that takes it, so whoever finds the turn at a ticket
    /// always finds its taker among the records naming it (a process that
    /// dies right after taking a ticket cannot leave it unclaimed).
    ///
    /// The record store needs no order of its own: it is sequenced before
    /// the `SeqCst` compare-exchange that takes the ticket, and whoever
    /// looks for the ticket's taker holds a later ticket, taken by a
    /// compare-exchange on the same word that reads from ours, so it
    /// synchronises with it (a plain store on x86, not an `xchg`).
    fn take_ticket(&self) -> u32 {
        let w = self.words();
        let rec = &self.record().ticket;
        let mut t = w.next_ticket.v.load(SeqCst);
        loop {
            rec.store(pack(WAITING, t), Relaxed);
            match w
                .next_ticket
                .v
                .compare_exchange_weak(t, t.wrapping_add(1), SeqCst, SeqCst)
            {
                Ok(_) => return t,
                Err(cur) => t = cur,
            }
        }
    }

    /// The `now_serving` word (see [`serving`]).
    pub(crate) fn serving_word(&self) -> u64 {
        self.words().now_serving.v.load(SeqCst)
    }

    /// Draws this process's ticket (the caller holds the local lock).
    pub(crate) fn draw_ticket(&self, guard: &mut LocalGuard<'_, Local>) -> u32 {
        let w = self.words();
        // Take back a ticket we gave up, if the turn has not passed it yet
        // (claiming the mark is what decides that, against `pass_on`).
        match guard.abandoned.take() {
            Some(t) => {
                // Claim it in the record first, as `take_ticket` does.
                self.record().ticket.store(pack(WAITING, t), SeqCst);
                if w.abandoned[slot(t)]
                    .compare_exchange(t as u64 + 1, 0, SeqCst, SeqCst)
                    .is_ok()
                {
                    t
                } else {
                    self.take_ticket()
                }
            }
            None => self.take_ticket(),
        }
    }

    /// Gives ticket `t` up after a failed wait (timeout, dead peer, a
    /// dropped future); a ticket still pending is kept in the local state
    /// for the next wait to take back.
    pub(crate) fn give_up(&self, t: u32, guard: &mut LocalGuard<'_, Local>) {
        let pending = self.abandon(t);
        self.record()
            .ticket
            .store(pack(if pending { ABANDONED } else { IDLE }, t), SeqCst);
        if pending {
            guard.abandoned = Some(t);
        }
    }

    pub(crate) fn acquire(&self, deadline: Option<Instant>) -> Result<Turn<'_>, Error> {
        let mut guard = self.local.lock(deadline)?;
        if let Some(t) = self.resume(&mut guard) {
            return Ok(self.resumed(t, guard));
        }
        let t = self.draw_ticket(&mut guard);
        match self.wait_for(t, deadline) {
            Ok(()) => Ok(self.enter(t, guard)),
            Err(e) => {
                self.give_up(t, &mut guard);
                Err(e)
            }
        }
    }

    /// Waits until the turn reaches ticket `t` (ours): spinning while next
    /// in line (the turn comes with the holder's release), yielding the
    /// core while further back (so that with more processes than cores the
    /// holder and the next in line get to run), then, after about a
    /// millisecond, asleep on the futex. A sleeper is woken only by the
    /// releases that bring its ticket within [`FRONT`] of the turn (see
    /// [`ticket_bits`]), and then spins or yields afresh: a long turn ends
    /// with a few wake-ups, not one for every sleeper.
    fn wait_for(&self, t: u32, deadline: Option<Instant>) -> Result<(), Error> {
        let w = self.words();
        let mut spins = 0;
        let mut yields = 0;
        let mut yield_until = None;
        let mut last_check = None;
        loop {
            let word = w.now_serving.v.load(SeqCst);
            if self.reached(word, t) {
                return Ok(());
            }
            let s = serving_ticket(word);
            if t.wrapping_sub(s) == 1 && spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            let mut slice = LIVENESS_PERIOD;
            if let Some(d) = deadline {
                if now >= d {
                    return Err(Error::Timeout);
                }
                slice = slice.min(d - now);
            }
            let until = *yield_until.get_or_insert(now + YIELD_TIME);
            if yields < YIELDS || now < until {
                yields += 1;
                std::thread::yield_now();
                continue;
            }
            // Asleep: check now and then that the turn's owner lives.
            let checked = *last_check.get_or_insert(now);
            if now.duration_since(checked) >= LIVENESS_PERIOD {
                last_check = Some(now);
                self.check_owner(s)?;
            }
            w.sleepers.v.fetch_add(1, SeqCst);
            os::futex_wait_bits(self.serving_futex(), word as u32, slice, ticket_bits(t));
            w.sleepers.v.fetch_sub(1, SeqCst);
            if w.now_serving.v.load(SeqCst) != word {
                // The turn moved: spin and yield afresh when near the front.
                spins = 0;
                yields = 0;
                yield_until = None;
            }
        }
    }

    /// Checks that whoever the turn belongs to (ticket `s`) is alive.
    ///
    /// Every record naming `s` in a waiting or entered state is a claimant;
    /// the ticket's taker is always among them (see `take_ticket`), others
    /// are processes that lost the race for `s` and have not rewritten their
    /// record yet. While any claimant lives, the turn is in good hands. If
    /// all are dead, a dead entered one held the turn ([`Error::PeerDied`]);
    /// otherwise the taker died waiting, and its ticket is given up on its
    /// behalf.
    pub(crate) fn check_owner(&self, s: u32) -> Result<(), Error> {
        // A parked turn has no work in progress, whoever parked it (alive
        // or not): hand it on.
        if self.serving_word() == serving(s, true) {
            self.unpark(s);
            return Ok(());
        }
        let mut holder = None;
        let mut dead_waiters = false;
        for rec in self.proc_records() {
            let v = rec.ticket.load(SeqCst);
            if v as u32 != s || !matches!(v >> 32, WAITING | ENTERED) {
                continue;
            }
            let pid = rec.pid.load(SeqCst);
            if pid == 0 || os::pid_alive(pid) {
                return Ok(());
            }
            if v >> 32 == ENTERED {
                holder = Some(pid);
            } else {
                dead_waiters = true;
            }
        }
        if let Some(pid) = holder {
            return Err(Error::PeerDied { pid });
        }
        if dead_waiters {
            for rec in self.proc_records() {
                let v = rec.ticket.load(SeqCst);
                if v == pack(WAITING, s) && !os::pid_alive(rec.pid.load(SeqCst)) {
                    let _ = rec
                        .ticket
                        .compare_exchange(v, pack(ABANDONED, s), SeqCst, SeqCst);
                }
            }
            // The same protocol as a timeout, so exactly one party passes
            // the turn on.
            self.abandon(s);
        }
        Ok(())
    }

    /// Takes the turn over from a holder that died (the record naming the
    /// current ticket as entered, with a dead pid): the record's pid becomes
    /// ours with one compare-exchange, so of several survivors exactly one
    /// wins. Returns the turn (to recover the data with) and the dead pid,
    /// or `None` if the turn's holder is not a dead process.
    pub(crate) fn take_over<'a>(&'a self, guard: LocalGuard<'a, Local>) -> Option<(Turn<'a>, u32)> {
        let word = self.serving_word();
        let s = serving_ticket(word);
        if is_parked(word) {
            // Nothing to recover: the parker finished its turn.
            self.unpark(s);
            return None;
        }
        for rec in self.proc_records() {
            if rec.ticket.load(SeqCst) != pack(ENTERED, s) {
                continue;
            }
            let pid = rec.pid.load(SeqCst);
            if pid == 0 || os::pid_alive(pid) {
                return None;
            }
            if rec
                .pid
                .compare_exchange(pid, self.pid, SeqCst, SeqCst)
                .is_err()
            {
                return None;
            }
            // The record is ours now: nobody else changes a record naming
            // an entered ticket, and the turn cannot move while it is held.
            return Some((
                Turn {
                    seg: self,
                    ticket: s,
                    takeover: Some(rec),
                    _local: guard,
                },
                pid,
            ));
        }
        None
    }

    /// Gives up ticket `t` without entering. Returns whether the ticket is
    /// still pending (marked, the turn not yet past it).
    fn abandon(&self, t: u32) -> bool {
        let w = self.words();
        let mark = t as u64 + 1;
        w.abandoned[slot(t)].store(mark, SeqCst);
        if w.now_serving.v.load(SeqCst) == serving(t, false)
            && w.abandoned[slot(t)]
                .compare_exchange(mark, 0, SeqCst, SeqCst)
                .is_ok()
        {
            // The turn reached us while giving up: we own it; pass it on.
            self.pass_on(t);
            return false;
        }
        true
    }

    /// Hands the turn from ticket `t` (owned by the caller) to the next live
    /// ticket, skipping abandoned ones.
    fn pass_on(&self, mut t: u32) {
        loop {
            let n = t.wrapping_add(1);
            self.words().now_serving.v.store(serving(n, false), SeqCst);
            if !self.served(n) {
                break;
            }
            t = n;
        }
    }

    /// What follows a store that gives the turn to ticket `n`: wakes the
    /// sleepers near the front, then claims `n`'s abandoned mark if it has
    /// one (whether it did: the caller then owns `n` and passes it on).
    fn served(&self, n: u32) -> bool {
        let w = self.words();
        if w.sleepers.v.load(SeqCst) > 0 {
            // The new holder and the `FRONT` tickets behind it.
            let bits = (1..=FRONT).fold(ticket_bits(n), |b, k| b | ticket_bits(n.wrapping_add(k)));
            os::futex_wake_bits(self.serving_futex(), bits);
        }
        // Load first: the marks' lines stay shared (unmoved) in the common
        // case of no abandoned ticket.
        let mark = &w.abandoned[slot(n)];
        mark.load(SeqCst) == n as u64 + 1
            && mark
                .compare_exchange(n as u64 + 1, 0, SeqCst, SeqCst)
                .is_ok()
    }

    /// Parks the turn of ticket `t` (ours) instead of passing it on: we may
    /// resume it, the next in line may take it (see `unpark`).
    fn park(&self, t: u32) {
        let w = self.words();
        w.now_serving.v.store(serving(t, true), SeqCst);
        if w.sleepers.v.load(SeqCst) > 0 {
            os::futex_wake_bits(self.serving_futex(), ticket_bits(t.wrapping_add(1)));
        }
    }

    /// The futex word: the low half of `now_serving` (see [`serving`]).
    pub(crate) fn serving_futex(&self) -> &std::sync::atomic::AtomicU32 {
        let p = &self.words().now_serving.v as *const std::sync::atomic::AtomicU64;
        // SAFETY: the low half of an 8-aligned u64 (little-endian: its first
        // four bytes) is a 4-aligned u32 inside the mapping, alive as long
        // as `self`. Rust code never accesses it through this reference: it
        // is only handed to the futex system calls, whose reads are the
        // kernel's, not Rust atomics mixed in size with ours.
        unsafe { &*(p as *const std::sync::atomic::AtomicU32) }
    }
}

impl Turn<'_> {
    /// Hands the turn on (the end of `Drop`, after the operation in
    /// progress is committed).
    pub(crate) fn release(&mut self) {
        if self.takeover.is_none() && self._local.run + 1 < self.seg.batch() {
            // Batched: park; our record goes on naming the ticket entered
            // (a parked turn is handed on whoever looks, dead or alive).
            self._local.parked = Some(self.ticket);
            self.seg.park(self.ticket);
            return;
        }
        match self.takeover {
            Some(rec) => {
                // Pass on first (as `hand_on`), then the taken-over record
                // goes back to the table, free.
                self.seg.pass_on(self.ticket);
                rec.ticket.store(pack(IDLE, self.ticket), SeqCst);
                rec.pid.store(0, SeqCst);
            }
            None => self.seg.hand_on(self.ticket),
        }
    }
}

impl<'seg> Turn<'seg> {
    /// The segment this turn belongs to.
    pub fn segment(&self) -> &'seg Segment {
        self.seg
    }

    /// How many other tickets are waiting for the turn right now (processes
    /// queued behind this one, including any that are giving up).
    pub fn waiters(&self) -> u32 {
        let w = self.seg.words();
        w.next_ticket
            .v
            .load(SeqCst)
            .wrapping_sub(self.ticket)
            .wrapping_sub(1)
    }

    /// The segment's memory.
    #[inline]
    pub(crate) fn mem(&self) -> Mem {
        self.seg.mem
    }

    /// The allocator state. Only a turn holder may change it.
    #[inline]
    pub(crate) fn alloc_state(&self) -> &'seg AllocState {
        self.seg.alloc_state()
    }

    /// The queue state. Only a turn holder may change it.
    #[inline]
    pub(crate) fn queue_state(&self) -> &'seg QueueState {
        self.seg.queue_state()
    }

    /// The header's root-namespace word (see `queue::root`). Only a turn
    /// holder may change it.
    #[inline]
    pub(crate) fn root_word(&self) -> &'seg std::sync::atomic::AtomicU64 {
        self.seg.root_word()
    }
}

#[cfg(test)]
mod tests;

mod transaction;
