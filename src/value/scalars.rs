//! Bulk paths for lists of inline scalars: typed iteration
//! ([`ListRef::ints`], [`ListRef::floats`], [`ListRef::scalars`]), copies
//! out ([`ListRef::copy_to_slice`], [`ListRef::to_vec_of`]) and in
//! ([`ListMut::extend_from_slice`], [`Turn::put_message_from_slice`]).
//!
//! An int, float or bool item is a 16-byte slot (tag, payload) in a chunk
//! of the list; these paths walk a chunk's run of slots at a time, with one
//! bounds check per run and one tag check per item, and write a run of
//! slots without building a [`crate::Value`] for each.

use super::{ListIter, ListMut, ListRef};
use crate::alloc::Heap;
use crate::format::list::{ListLayout, Table};
use crate::format::slot::vectorized;
use crate::format::{Slot, T_BOOL, T_FLOAT, T_INT, T_NONE, free_object, type_name};
use crate::{Error, Handle, Turn};

mod sealed {
    pub trait Sealed {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
    impl Sealed for bool {}
}

/// A Rust type that a list item stored inline converts to and from: `i64`
/// (an int item, or a bool as 0 or 1, like [`crate::ValueRef::as_int`]),
/// `f64` (a float item, or an int, like [`crate::ValueRef::as_float`]) and
/// `bool` (a bool item).
pub trait ScalarItem: sealed::Sealed + Copy + 'static {
    /// The Python name of the type, for errors.
    const NAME: &'static str;
    /// The item a slot holds, if it converts.
    #[doc(hidden)]
    #[inline(always)]
    fn from_slot(tag: u8, payload: u64) -> Option<Self> {
        let (v, ok) = Self::convert(tag, payload);
        ok.then_some(v)
    }
    /// The item a slot holds and whether it converts, without a branch
    /// (so that a run of slots converts in vector registers).
    #[doc(hidden)]
    fn convert(tag: u8, payload: u64) -> (Self, bool);
    /// The tag and payload of the slot that stores the value.
    #[doc(hidden)]
    fn to_slot(self) -> (u8, u64);
}

impl ScalarItem for i64 {
    const NAME: &'static str = "int";
    #[inline(always)]
    fn convert(tag: u8, payload: u64) -> (i64, bool) {
        // A bool's payload is 0 or 1 (validated), its value as an int.
        (payload as i64, (tag == T_INT) | (tag == T_BOOL))
    }
    #[inline(always)]
    fn to_slot(self) -> (u8, u64) {
        (T_INT, self as u64)
    }
}

impl ScalarItem for f64 {
    const NAME: &'static str = "float";
    #[inline(always)]
    fn convert(tag: u8, payload: u64) -> (f64, bool) {
        let f = if tag == T_FLOAT {
            f64::from_bits(payload)
        } else {
            payload as i64 as f64
        };
        (f, (tag == T_FLOAT) | (tag == T_INT))
    }
    #[inline(always)]
    fn to_slot(self) -> (u8, u64) {
        (T_FLOAT, self.to_bits())
    }
}

impl ScalarItem for bool {
    const NAME: &'static str = "bool";
    #[inline(always)]
    fn convert(tag: u8, payload: u64) -> (bool, bool) {
        (payload != 0, tag == T_BOOL)
    }
    #[inline(always)]
    fn to_slot(self) -> (u8, u64) {
        (T_BOOL, self as u64)
    }
}

#[cold]
#[inline(never)]
fn not_a<T: ScalarItem>(tag: u8) -> Error {
    Error::TypeMismatch {
        expected: T::NAME,
        found: type_name(tag),
    }
}

/// Iterator over a list's items as `T` ([`ListRef::scalars`]): an item
/// that is not a `T` gives [`Error::TypeMismatch`] and ends the iteration.
pub struct Scalars<'t, T> {
    slots: ListIter<'t>,
    _t: std::marker::PhantomData<T>,
}

impl<T> std::fmt::Debug for Scalars<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scalars({:?})", self.slots)
    }
}

impl<T: ScalarItem> Iterator for Scalars<'_, T> {
    type Item = Result<T, Error>;

    #[inline]
    fn next(&mut self) -> Option<Result<T, Error>> {
        let s = match self.slots.next_slot()? {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        match T::from_slot(s.tag, s.payload) {
            Some(v) => Some(Ok(v)),
            None => {
                self.slots.finish();
                Some(Err(not_a::<T>(s.tag)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.slots.size_hint().1)
    }
}

impl<'t> ListRef<'t> {
    /// The items as `T` (`i64`, `f64` or `bool`), in order: an item that
    /// is not one gives [`Error::TypeMismatch`] and ends the iteration.
    pub fn scalars<T: ScalarItem>(&self) -> Scalars<'t, T> {
        Scalars {
            slots: self.iter(),
            _t: std::marker::PhantomData,
        }
    }

    /// The items as ints (bools count as 0 and 1): `list.ints().sum()`.
    pub fn ints(&self) -> Scalars<'t, i64> {
        self.scalars()
    }

    /// The items as floats (ints convert).
    pub fn floats(&self) -> Scalars<'t, f64> {
        self.scalars()
    }

    /// Copies items `start..start + out.len()` into `out`, converted as
    /// [`ListRef::scalars`] does: [`Error::IndexOutOfRange`] if the list is
    /// shorter (then `out` is untouched), [`Error::TypeMismatch`] at the
    /// first item that is not a `T` (then what `out` holds is unspecified).
    pub fn copy_to_slice<T: ScalarItem>(&self, start: usize, out: &mut [T]) -> Result<(), Error> {
        let len = self.l.len;
        let n = out.len() as u64;
        match (start as u64).checked_add(n) {
            Some(end) if end <= len => {}
            _ => {
                return Err(Error::IndexOutOfRange {
                    index: start.saturating_add(out.len()).saturating_sub(1),
                    len: len as usize,
                });
            }
        }
        let each = |at: u64, slots: &[Slot]| {
            let out = &mut out[at as usize..at as usize + slots.len()];
            // Convert the whole run without a branch, then look for the
            // item that did not convert only if there was one.
            if vectorized(|| convert_run(out, slots)) {
                return Ok(());
            }
            let bad = slots.iter().find(|s| !T::convert(s.tag, s.payload).1);
            Err(not_a::<T>(bad.map_or(T_NONE, |s| s.tag)))
        };
        // SAFETY: nothing writes while the view (a borrow of the turn)
        // lives.
        unsafe { self.table.slots(&self.heap.mem, start as u64, n, each) }
    }

    /// The items as a `Vec<T>` (see [`ListRef::copy_to_slice`]).
    pub fn to_vec_of<T: ScalarItem + Default>(&self) -> Result<Vec<T>, Error> {
        let mut v = vec![T::default(); self.len()];
        self.copy_to_slice(0, &mut v)?;
        Ok(v)
    }
}

/// Converts `slots` into `out` (of the same length) without a branch per
/// item; whether every slot converted.
#[inline(always)]
fn convert_run<T: ScalarItem>(out: &mut [T], slots: &[Slot]) -> bool {
    let mut all = true;
    for (o, s) in out.iter_mut().zip(slots) {
        let (v, ok) = T::convert(s.tag, s.payload);
        *o = v;
        all &= ok;
    }
    all
}

/// Appends `items` to the list `l` (its capacity already reserved): the
/// slots are written past the length, where nothing reaches them, a
/// chunk's run at a time; the caller publishes the new length.
fn fill<T: ScalarItem>(heap: &Heap, l: &mut ListLayout, items: &[T]) -> Result<(), Error> {
    let table: Table = l.table(heap)?;
    let n = items.len() as u64;
    // SAFETY: the slots are beyond the list's length (unreachable until it
    // is published), and we hold the turn mutably.
    unsafe {
        table.slots_mut(&heap.mem, l.len, n, |at, slots| {
            vectorized(|| {
                for (s, &v) in slots.iter_mut().zip(&items[at as usize..]) {
                    let (tag, payload) = v.to_slot();
                    s.set(tag, payload);
                }
            });
            Ok(())
        })?;
    }
    l.len += n;
    Ok(())
}

impl ListMut<'_> {
    /// Appends the scalars of `items` (`i64`, `f64` or `bool`), as fast as
    /// copying their slots: no [`crate::Value`] is built, the chunks are
    /// added first (out of memory changes nothing) and one store of the
    /// length publishes them all.
    pub fn extend_from_slice<T: ScalarItem>(&mut self, items: &[T]) -> Result<(), Error> {
        if items.is_empty() {
            return Ok(());
        }
        self.reserve(items.len())?;
        let heap = self.heap;
        let mut l = ListLayout::read(&heap, self.b)?;
        if heap.txn_hint() {
            // In a transaction the slots past `len` may be committed (the
            // transaction shrank the list), and `len` must come back.
            l.save_slots(&heap, l.len, l.len + items.len() as u64)?;
            heap.save_ptr(self.len_word as *const u8, 8)?;
        }
        fill(&heap, &mut l, items)?;
        // SAFETY: `len_word` points into the live header block; the slots
        // it now covers were written above.
        unsafe { self.len_word.write(l.len) };
        self.forget_cursor();
        Ok(())
    }
}

impl Turn<'_> {
    /// Puts a list of the scalars of `items` (`i64`, `f64` or `bool`) in
    /// the queue, like `put_message(&Value::List(...))` but with no
    /// [`crate::Value`] built: a run of slots written per chunk.
    pub fn put_message_from_slice<T: ScalarItem>(&mut self, items: &[T]) -> Result<Handle, Error> {
        let heap = self.heap();
        let b = ListLayout::create(&heap)?;
        let written = (|| -> Result<(), Error> {
            let mut l = ListLayout::read(&heap, b)?;
            l.reserve(&heap, items.len() as u64)?;
            fill(&heap, &mut l, items)?;
            l.store(&heap)
        })();
        if let Err(e) = written {
            free_object(&heap, b)?;
            return Err(e);
        }
        self.publish_message(b)
    }
}
