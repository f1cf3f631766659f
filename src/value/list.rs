//! `ListMut`: a shared list, mutated in place.

use std::marker::PhantomData;

use super::{ListRef, Value, ValueRef, free_slot, write_slot};
use crate::Error;
use crate::alloc::Heap;
use crate::format::list::ListLayout;
use crate::format::{Slot, T_FLOAT, T_INT, type_name};
use crate::segment::Offset;

/// A mutable view of a shared list, borrowing the turn mutably.
///
/// Items live in chunks that never move, so the `&mut i64` that
/// [`ListMut::int_mut`] gives points straight at the item in the segment.
pub struct ListMut<'t> {
    heap: Heap,
    b: Offset,
    _t: PhantomData<&'t mut ()>,
}

impl std::fmt::Debug for ListMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListMut({:?}, len {})", self.b, self.len())
    }
}

impl<'t> ListMut<'t> {
    /// # Safety
    /// `b` must be a live list block, and `'t` a mutable borrow of the turn.
    pub(crate) unsafe fn new(heap: Heap, b: Offset) -> ListMut<'t> {
        ListMut {
            heap,
            b,
            _t: PhantomData,
        }
    }

    #[inline]
    fn layout(&self) -> Result<ListLayout, Error> {
        ListLayout::read(&self.heap, self.b)
    }

    fn check(&self, l: &ListLayout, i: usize) -> Result<(), Error> {
        if i as u64 >= l.len {
            return Err(Error::IndexOutOfRange {
                index: i,
                len: l.len as usize,
            });
        }
        Ok(())
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.layout().map_or(0, |l| l.len as usize)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A read-only view (borrowing this `ListMut`).
    pub fn as_ref(&self) -> Result<ListRef<'_>, Error> {
        Ok(ListRef {
            heap: self.heap,
            l: self.layout()?,
            _t: PhantomData,
        })
    }

    /// Item `i`.
    pub fn get(&self, i: usize) -> Result<ValueRef<'_>, Error> {
        self.as_ref()?.get(i)
    }

    /// Copies the whole list out.
    pub fn to_value(&self) -> Result<Value, Error> {
        self.as_ref()?.to_value()
    }

    /// Replaces item `i` (freeing what the old item owned).
    pub fn set(&mut self, i: usize, v: impl Into<Value>) -> Result<(), Error> {
        let l = self.layout()?;
        self.check(&l, i)?;
        let at = l.slot(&self.heap, i as u64)?;
        let new = write_slot(&self.heap, &v.into())?;
        let old = Slot::read(&self.heap.mem, at)?;
        new.write(&self.heap.mem, at)?;
        free_slot(&self.heap, old)
    }

    /// Appends `v`. Amortised O(1); no item moves.
    pub fn push(&mut self, v: impl Into<Value>) -> Result<(), Error> {
        let mut l = self.layout()?;
        l.reserve(&self.heap, 1)?;
        let s = write_slot(&self.heap, &v.into())?;
        s.write(&self.heap.mem, l.slot(&self.heap, l.len)?)?;
        l.len += 1;
        l.store(&self.heap)
    }

    /// Removes and returns the last item.
    pub fn pop(&mut self) -> Result<Option<Value>, Error> {
        let mut l = self.layout()?;
        if l.len == 0 {
            return Ok(None);
        }
        let at = l.slot(&self.heap, l.len - 1)?;
        let s = Slot::read(&self.heap.mem, at)?;
        // SAFETY: read while we hold the turn mutably; the view dies here.
        let v = unsafe { ValueRef::from_slot(self.heap, s)? }.to_value()?;
        l.len -= 1;
        l.store(&self.heap)?;
        free_slot(&self.heap, s)?;
        l.trim(&self.heap)?;
        Ok(Some(v))
    }

    fn scalar_mut(&mut self, i: usize, tag: u8) -> Result<*mut u64, Error> {
        let l = self.layout()?;
        self.check(&l, i)?;
        let at = l.slot(&self.heap, i as u64)?;
        let s = Slot::read(&self.heap.mem, at)?;
        if s.tag != tag {
            return Err(Error::TypeMismatch {
                expected: type_name(tag),
                found: type_name(s.tag),
            });
        }
        Ok(self.heap.mem.ptr(at.add(8), 8, 8)? as *mut u64)
    }

    /// `&mut` to the int item `i`, in the segment: `*list.int_mut(1)? += 1`.
    pub fn int_mut(&mut self, i: usize) -> Result<&mut i64, Error> {
        let p = self.scalar_mut(i, T_INT)?;
        // SAFETY: `p` is the 8-aligned, in-bounds payload of an int slot;
        // the slot does not move while the list lives, and `&mut self`
        // (borrowing the turn) makes the reference exclusive.
        Ok(unsafe { &mut *(p as *mut i64) })
    }

    /// `&mut` to the float item `i`, in the segment.
    pub fn float_mut(&mut self, i: usize) -> Result<&mut f64, Error> {
        let p = self.scalar_mut(i, T_FLOAT)?;
        // SAFETY: as in `int_mut`; any bits are a valid f64.
        Ok(unsafe { &mut *(p as *mut f64) })
    }
}
