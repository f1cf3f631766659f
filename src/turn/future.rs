//! [`Segment::turn_async`]: the turn as a future, for any executor.
//!
//! The future goes through the same two stages as a blocking wait: the
//! process-local FIFO lock (`local.rs`; a queued task leaves its `Waker`
//! there), then a ticket of the segment's turn. While the ticket waits, the
//! segment's waiter thread (`waiter.rs`) sleeps on the turn futex for it and
//! wakes the task when the turn moves or a liveness check or the deadline
//! is due; each poll then does what a blocking waiter does between two
//! sleeps (enter if the turn is ours, check that its holder lives, time
//! out). Dropping the future gives the ticket up with the abandon protocol
//! of `turn_timeout` and withdraws every registration.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::local::LocalGuard;
use super::waiter::Targets;
use super::{LIVENESS_PERIOD, Turn};
use crate::segment::{Local, Segment};
use crate::{Error, Recovery};

/// The future of [`Segment::turn_async`] and
/// [`Segment::turn_async_timeout`]: resolves to this process's [`Turn`].
///
/// It is `Send` and `Unpin`, needs no particular runtime (tokio, smol,
/// `futures::executor::block_on`, ...), and burns no CPU while it waits.
/// Dropping it before it resolves never enters the turn and never blocks
/// the other waiters (its ticket, if it drew one, is given up as by a
/// timeout). Polling it again after it resolved panics.
#[must_use = "futures do nothing unless awaited"]
pub struct TurnFuture<'seg> {
    seg: &'seg Segment,
    deadline: Option<Instant>,
    recover: bool,
    /// Our entry in the local lock's queue.
    queued: Option<u64>,
    /// The local lock and our ticket, once drawn.
    ticket: Option<(LocalGuard<'seg, Local>, u32)>,
    /// Our registration with the waiter thread.
    reg: Option<u64>,
    last_check: Instant,
    done: bool,
}

impl std::fmt::Debug for TurnFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnFuture")
            .field("deadline", &self.deadline)
            .field("ticket", &self.ticket.as_ref().map(|t| t.1))
            .field("queued", &self.queued.is_some())
            .finish()
    }
}

const _: () = {
    const fn send_unpin<T: Send + Unpin>() {}
    send_unpin::<TurnFuture<'static>>();
    send_unpin::<Turn<'static>>();
};

impl Segment {
    /// Waits for this process's turn without blocking the thread: a future
    /// of `Result<Turn>` for any executor.
    ///
    /// The waits of a process's threads and tasks ([`Segment::turn`] and
    /// this) are served in the order they began; among processes the turn
    /// goes round in ticket order, as for blocking waits. While it waits,
    /// the future uses no CPU: one thread per `Segment` (started by the
    /// first async wait) sleeps on the turn futex and wakes it. A dead
    /// holder gives [`Error::PeerDied`] (or, with
    /// [`crate::SegmentOptions::auto_recover`], a recovery, made inline
    /// during the poll). Dropping the future at any point before it
    /// resolves never enters the turn, never blocks the queue of turns and
    /// leaves no registration behind.
    ///
    /// The [`Turn`] it gives is `Send`: it may be held across `.await`s in a
    /// multi-threaded runtime. A task that awaits a second turn of the same
    /// segment while it holds one waits for itself, for ever (use
    /// [`Segment::turn_async_timeout`] where that can happen); other tasks
    /// of the process simply queue.
    ///
    /// ```
    /// # fn main() -> Result<(), shmheap::Error> {
    /// let seg = shmheap::Segment::options().size(1 << 20).create_in_memory()?;
    /// // Any executor: here `futures::executor::block_on`.
    /// futures::executor::block_on(async {
    ///     let mut turn = seg.turn_async().await?;
    ///     turn.put_message(&shmheap::value!("hello"))?;
    ///     Ok::<_, shmheap::Error>(())
    /// })?;
    /// assert!(seg.try_turn()?.expect("handed on").has_messages()?);
    /// # Ok(()) }
    /// ```
    pub fn turn_async(&self) -> TurnFuture<'_> {
        self.turn_future(None)
    }

    /// As [`Segment::turn_async`], resolving to [`Error::Timeout`] if the
    /// turn did not come within `timeout` (the turn is then not entered,
    /// and the queue goes on). The deadline is kept by the waiter thread,
    /// within about a liveness period (20 ms) when the future was queued
    /// behind another wait of this process.
    pub fn turn_async_timeout(&self, timeout: Duration) -> TurnFuture<'_> {
        self.turn_future(Some(Instant::now() + timeout))
    }

    fn turn_future(&self, deadline: Option<Instant>) -> TurnFuture<'_> {
        TurnFuture {
            seg: self,
            deadline,
            recover: self.auto_recover,
            queued: None,
            ticket: None,
            reg: None,
            last_check: Instant::now(),
            done: false,
        }
    }
}

impl<'seg> TurnFuture<'seg> {
    /// Registers a wake-up with the segment's waiter thread.
    fn register(
        &mut self,
        seen: Option<u64>,
        at: Option<Instant>,
        cx: &Context<'_>,
    ) -> Result<(), Error> {
        let w = self.seg.turn_words();
        self.seg.waiter.register(
            Targets {
                mapping: &self.seg.region,
                now_serving: &w.now_serving.v,
                futex: self.seg.serving_futex(),
                sleepers: &w.sleepers.v,
                records: self.seg.proc_table(),
            },
            &mut self.reg,
            seen,
            at,
            cx.waker(),
        )
    }

    fn deregister(&mut self) {
        if let Some(id) = self.reg.take() {
            self.seg.waiter.deregister(id);
        }
    }

    /// Gives our ticket up (as a timed-out blocking wait does).
    fn give_up(&mut self) {
        if let Some((mut guard, t)) = self.ticket.take() {
            self.seg.give_up(t, &mut guard);
        }
    }

    /// A recovery after `PeerDied` made with our own hold of the local lock
    /// (a blocking `recover()` here would queue behind ourselves).
    fn recover_now(&mut self) -> Result<Option<Recovery>, Error> {
        let Some((mut guard, t)) = self.ticket.take() else {
            return Ok(None);
        };
        self.seg.give_up(t, &mut guard);
        self.seg.recover_locked(guard)
    }

    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Turn<'seg>, Error>> {
        loop {
            if self.ticket.is_none() {
                match self.seg.local.poll_lock(&mut self.queued, cx.waker()) {
                    Poll::Ready(mut guard) => {
                        if let Some(t) = self.seg.resume(&mut guard) {
                            return Poll::Ready(Ok(self.seg.resumed(t, guard)));
                        }
                        let t = self.seg.draw_ticket(&mut guard);
                        self.ticket = Some((guard, t));
                        self.last_check = Instant::now();
                    }
                    Poll::Pending => {
                        if let Some(d) = self.deadline {
                            if Instant::now() >= d {
                                if let Some(id) = self.queued.take() {
                                    self.seg.local.cancel(id);
                                }
                                return Poll::Ready(Err(Error::Timeout));
                            }
                            if let Err(e) = self.register(None, Some(d), cx) {
                                if let Some(id) = self.queued.take() {
                                    self.seg.local.cancel(id);
                                }
                                return Poll::Ready(Err(e));
                            }
                        }
                        return Poll::Pending;
                    }
                }
            }
            let Some((_, t)) = self.ticket else {
                unreachable!("a ticket was drawn above")
            };
            let word = self.seg.serving_word();
            let s = super::serving_ticket(word);
            if self.seg.reached(word, t) {
                let Some((guard, t)) = self.ticket.take() else {
                    unreachable!("checked above")
                };
                return Poll::Ready(Ok(self.seg.enter(t, guard)));
            }
            let now = Instant::now();
            if self.deadline.is_some_and(|d| now >= d) {
                self.give_up();
                return Poll::Ready(Err(Error::Timeout));
            }
            // The waiter thread wakes us for a check only after a full
            // period without a living claimant.
            if now.duration_since(self.last_check) >= LIVENESS_PERIOD {
                self.last_check = now;
                match self.seg.check_owner(s) {
                    Ok(()) => {}
                    Err(Error::PeerDied { .. }) if self.recover => {
                        // Whoever wins the take-over recovers; then wait
                        // again (the ticket given up is taken back).
                        if let Err(e) = self.recover_now() {
                            return Poll::Ready(Err(e));
                        }
                        continue;
                    }
                    Err(e) => {
                        self.give_up();
                        return Poll::Ready(Err(e));
                    }
                }
                // The check may have passed a dead waiter's ticket on.
                if self.seg.serving_word() != word {
                    continue;
                }
            }
            // The waiter thread checks liveness every period from now on,
            // and wakes us only if the check finds something to do.
            self.last_check = Instant::now();
            if let Err(e) = self.register(Some(word), self.deadline, cx) {
                self.give_up();
                return Poll::Ready(Err(e));
            }
            // The turn may have come while registering: the thread would
            // see it too, but looking again saves its wake-up.
            if self.seg.reached(self.seg.serving_word(), t) {
                // (`continue` enters: the turn stays ours.)
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl<'seg> Future for TurnFuture<'seg> {
    type Output = Result<Turn<'seg>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "TurnFuture polled after it resolved");
        let r = this.step(cx);
        if r.is_ready() {
            this.done = true;
            this.deregister();
        }
        r
    }
}

impl Drop for TurnFuture<'_> {
    fn drop(&mut self) {
        self.deregister();
        if let Some(id) = self.queued.take() {
            self.seg.local.cancel(id);
        }
        self.give_up();
    }
}
