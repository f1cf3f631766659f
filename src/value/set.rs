//! Shared sets: [`SetRef`] to read a set or a frozen set, [`SetMut`] to
//! change a set in place, with Python's set algebra against another shared
//! set or local values ([`Members`]).
//!
//! Members compare like dict keys (`1 == 1.0 == True`, NaN equal to
//! nothing) and hash with the stable hash. A set is the dict layout without
//! value slots; iteration is in insertion order (Python leaves set order
//! unspecified; here it is that). A frozen set is immutable and flat (its
//! lookups are linear).
//!
//! ```
//! use shmheap::{Segment, Value};
//! # fn main() -> Result<(), shmheap::Error> {
//! let seg = Segment::options().size(1 << 20).create_in_memory()?;
//! let mut turn = seg.turn()?;
//! let a = turn.put_message(&Value::Set(vec![1.into(), 2.into(), 3.into()]))?;
//! let b = turn.put_message(&Value::Set(vec![3.into(), 4.into()]))?;
//! let mut s = turn.set_mut(a)?;
//! assert!(!s.insert(1.0)?); // 1.0 is 1: already there
//! assert_eq!(s.intersection(b)?, Value::Set(vec![3.into()])); // another shared set
//! s.difference_update(vec![Value::Int(1), Value::Int(2)])?; // local values
//! assert!(s.is_subset(b)?);
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;

use super::eq::{Py, eq, hash};
use super::hashed::{Order, Put, copy_out, find_py, find_value, put, put_all, take, view};
use super::view::TupleRef;
use super::{Value, ValueRef, free_slot, hash_value, into_slot, write_slot};
use crate::Error;
use crate::alloc::Heap;
use crate::format::hashed::{HashLayout, Probe};
use crate::format::{T_DICT, T_FROZENSET, T_LIST, T_SET, T_TUPLE, type_name};
use crate::segment::{Handle, Offset};

#[derive(Clone, Copy)]
enum Repr<'t> {
    /// A frozen set: a flat array of slots.
    Flat(TupleRef<'t>),
    /// A set: the hashed layout.
    Hashed(HashLayout),
}

/// A set or frozen set in a segment, read-only (see [`SetMut`] to change a
/// set).
///
/// The view is small (it is a variant of [`ValueRef`]): it reads the set's
/// header on each call.
#[derive(Clone, Copy)]
pub struct SetRef<'t> {
    heap: Heap,
    b: Offset,
    len: u64,
    frozen: bool,
    _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for SetRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_frozen() { "frozenset" } else { "set" };
        write!(f, "SetRef({kind} {:?}, len {})", self.block().1, self.len())
    }
}

impl<'t> SetRef<'t> {
    /// The frozen set whose slots `t` covers.
    pub(crate) fn frozen(heap: Heap, t: TupleRef<'t>) -> SetRef<'t> {
        SetRef {
            heap,
            b: t.b,
            len: t.len() as u64,
            frozen: true,
            _t: PhantomData,
        }
    }

    /// The set at `b` (a live set block).
    pub(crate) fn hashed(heap: Heap, b: Offset) -> Result<SetRef<'t>, Error> {
        let l = HashLayout::read(&heap, b, T_SET)?;
        Ok(SetRef {
            heap,
            b,
            len: l.len,
            frozen: false,
            _t: PhantomData,
        })
    }

    #[inline]
    fn repr(&self) -> Result<Repr<'t>, Error> {
        Ok(if self.frozen {
            Repr::Flat(TupleRef::new(self.heap, self.b, self.len))
        } else {
            Repr::Hashed(HashLayout::read(&self.heap, self.b, T_SET)?)
        })
    }

    /// The block behind the view.
    pub(crate) fn block(&self) -> (Heap, Offset) {
        (self.heap, self.b)
    }

    /// Whether this is a frozen set (immutable) rather than a set.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Whether lookups are hashed (a set, not a frozen set).
    pub(crate) fn is_hashed(&self) -> bool {
        !self.is_frozen()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The set's handle (keep it across turns; reopen a set with
    /// [`crate::Turn::set_mut`]).
    pub fn handle(&self) -> Option<Handle> {
        let (heap, b) = self.block();
        heap.handle(b).ok()
    }

    /// Whether `v` is a member (Python equality). An unhashable `v` is
    /// [`Error::Unhashable`].
    pub fn contains(&self, v: &Value) -> Result<bool, Error> {
        let h = hash_value(v)?;
        match self.repr()? {
            Repr::Flat(t) => {
                for m in t.iter() {
                    if eq(m?, v, 0)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Repr::Hashed(l) => Ok(matches!(
                find_value(&self.heap, &l, v, h)?,
                Probe::Found { .. }
            )),
        }
    }

    /// The member equal to `k` (any value; unhashable ones are absent).
    pub(crate) fn find_py<K: Py>(&self, k: K, depth: u32) -> Result<Option<ValueRef<'t>>, Error> {
        match self.repr()? {
            Repr::Flat(t) => {
                for m in t.iter() {
                    let m = m?;
                    if eq(m, k, depth)? {
                        return Ok(Some(m));
                    }
                }
                Ok(None)
            }
            Repr::Hashed(l) => match find_py(&self.heap, &l, k, depth)? {
                // SAFETY: `'t` is the turn borrow this view was made under.
                Some(entry) => Ok(Some(unsafe { view(self.heap, entry.key()) }?)),
                None => Ok(None),
            },
        }
    }

    /// Member `i` in stored order (a set walks its order list: O(i);
    /// prefer [`SetRef::iter`]).
    pub fn member(&self, i: usize) -> Result<ValueRef<'t>, Error> {
        match self.iter().nth(i) {
            Some(m) => m,
            None => Err(Error::IndexOutOfRange {
                index: i,
                len: self.len(),
            }),
        }
    }

    /// The members in stored (insertion) order.
    pub fn iter(&self) -> SetIter<'t> {
        SetIter(if self.frozen {
            It::Flat(TupleRef::new(self.heap, self.b, self.len), 0)
        } else {
            let l = HashLayout::read(&self.heap, self.b, T_SET);
            It::Hashed(self.heap, Order::new(self.heap, l))
        })
    }

    /// Copies the set out (a [`Value::Set`], or [`Value::FrozenSet`]).
    pub fn to_value(&self) -> Result<Value, Error> {
        ValueRef::Set(*self).to_value()
    }

    fn members(&self) -> Result<Vec<ValueRef<'t>>, Error> {
        self.iter().collect()
    }

    /// The union with `other`, as a new (local) set: these members in
    /// order, then the other's that are not among them.
    pub fn union<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        let o = Other::new(self.heap, other.into())?;
        let mut out = Vec::with_capacity(self.len() + o.items.len());
        for m in self.members()? {
            out.push(m.to_value()?);
        }
        for v in &o.items {
            if !self.has(v)? {
                out.push(v.clone());
            }
        }
        Ok(Value::Set(out))
    }

    /// The members also in `other`, as a new set.
    pub fn intersection<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        let o = Other::new(self.heap, other.into())?;
        self.select(|m| o.contains(m))
    }

    /// The members not in `other`, as a new set.
    pub fn difference<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        let o = Other::new(self.heap, other.into())?;
        self.select(|m| Ok(!o.contains(m)?))
    }

    /// The members in exactly one of the two, as a new set.
    pub fn symmetric_difference<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        let o = Other::new(self.heap, other.into())?;
        let Value::Set(mut out) = self.select(|m| Ok(!o.contains(m)?))? else {
            unreachable!("select gives a set");
        };
        for v in &o.items {
            if !self.has(v)? {
                out.push(v.clone());
            }
        }
        Ok(Value::Set(out))
    }

    /// Whether every member is in `other` (`self <= other`).
    pub fn is_subset<'a>(&self, other: impl Into<Members<'a>>) -> Result<bool, Error> {
        let o = Other::new(self.heap, other.into())?;
        if self.len() > o.items.len() {
            return Ok(false);
        }
        for m in self.iter() {
            if !o.contains(m?)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether every member of `other` is in this set (`self >= other`).
    pub fn is_superset<'a>(&self, other: impl Into<Members<'a>>) -> Result<bool, Error> {
        let o = Other::new(self.heap, other.into())?;
        for v in &o.items {
            if !self.has(v)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the two have no member in common.
    pub fn is_disjoint<'a>(&self, other: impl Into<Members<'a>>) -> Result<bool, Error> {
        let o = Other::new(self.heap, other.into())?;
        for v in &o.items {
            if self.has(v)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn has(&self, v: &Value) -> Result<bool, Error> {
        Ok(self.find_py(v, 0)?.is_some())
    }

    fn select(
        &self,
        mut keep: impl FnMut(ValueRef<'t>) -> Result<bool, Error>,
    ) -> Result<Value, Error> {
        let mut out = Vec::new();
        for m in self.iter() {
            let m = m?;
            if keep(m)? {
                out.push(m.to_value()?);
            }
        }
        Ok(Value::Set(out))
    }
}

enum It<'t> {
    Flat(TupleRef<'t>, usize),
    Hashed(Heap, Order<'t, 32>),
}

/// Iterator over a shared set's members in stored order.
pub struct SetIter<'t>(It<'t>);

impl std::fmt::Debug for SetIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SetIter({} left)", self.size_hint().0)
    }
}

impl<'t> Iterator for SetIter<'t> {
    type Item = Result<ValueRef<'t>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            It::Flat(t, i) => {
                if *i >= t.len() {
                    return None;
                }
                *i += 1;
                Some(t.get(*i - 1))
            }
            It::Hashed(heap, order) => {
                let entry = order.next_entry()?;
                // SAFETY: `'t` is the turn borrow the iterator was made
                // under.
                Some(entry.and_then(|e| unsafe { view(*heap, e.key()) }))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            It::Flat(t, i) => t.len() - *i,
            It::Hashed(_, order) => order.left(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for SetIter<'_> {}

/// The other operand of a set operation: a shared set, frozen set, dict
/// (its keys), list or tuple by handle, or local values. Converts from a
/// [`Handle`], a `Vec<Value>` and a `&[Value]`.
#[derive(Clone, Debug)]
pub enum Members<'a> {
    /// The object behind a handle (it may be the set operated on).
    Shared(Handle),
    /// Local values (repeats count once).
    Local(Cow<'a, [Value]>),
}

impl From<Handle> for Members<'static> {
    fn from(h: Handle) -> Self {
        Members::Shared(h)
    }
}

impl From<Vec<Value>> for Members<'static> {
    fn from(v: Vec<Value>) -> Self {
        Members::Local(Cow::Owned(v))
    }
}

impl<'a> From<&'a [Value]> for Members<'a> {
    fn from(v: &'a [Value]) -> Self {
        Members::Local(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a Vec<Value>> for Members<'a> {
    fn from(v: &'a Vec<Value>) -> Self {
        Members::Local(Cow::Borrowed(v))
    }
}

impl<'a, const N: usize> From<&'a [Value; N]> for Members<'a> {
    fn from(v: &'a [Value; N]) -> Self {
        Members::Local(Cow::Borrowed(v))
    }
}

/// The other operand, copied out and deduplicated, with a local hash index
/// for membership tests under Python's equality.
struct Other {
    items: Vec<Value>,
    by_hash: HashMap<u64, Vec<usize>>,
}

impl Other {
    fn new(heap: Heap, m: Members<'_>) -> Result<Other, Error> {
        let all: Cow<'_, [Value]> = match m {
            Members::Local(v) => v,
            Members::Shared(h) => Cow::Owned(shared_members(heap, h)?),
        };
        let mut o = Other {
            items: Vec::with_capacity(all.len()),
            by_hash: HashMap::with_capacity(all.len()),
        };
        for v in all.iter() {
            let h = hash_value(v)?;
            if !o.lookup(v, h)? {
                o.by_hash.entry(h).or_default().push(o.items.len());
                o.items.push(v.clone());
            }
        }
        Ok(o)
    }

    fn lookup<K: Py>(&self, k: K, h: u64) -> Result<bool, Error> {
        if let Some(bucket) = self.by_hash.get(&h) {
            for &i in bucket {
                if eq(&self.items[i], k, 0)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Whether `k` (a member of a set: hashable) is in the operand.
    fn contains<K: Py>(&self, k: K) -> Result<bool, Error> {
        match hash(k, 0) {
            Ok(h) => self.lookup(k, h),
            Err(Error::Unhashable { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The members (keys, items) of the shared object behind `h`, copied out.
fn shared_members(heap: Heap, h: Handle) -> Result<Vec<Value>, Error> {
    let (_, _, kind) = heap.check_handle(h)?;
    // SAFETY: read while the caller holds the turn; the view dies here.
    let v = unsafe { ValueRef::from_object(heap, h.offset, kind)? };
    let items: Vec<ValueRef<'_>> = match (kind, v) {
        (T_SET | T_FROZENSET, ValueRef::Set(s)) => s.iter().collect::<Result<_, _>>()?,
        (T_DICT, ValueRef::Dict(d)) => d.keys().collect::<Result<_, _>>()?,
        (T_LIST, ValueRef::List(l)) => l.iter().collect::<Result<_, _>>()?,
        (T_TUPLE, ValueRef::Tuple(t)) => t.iter().collect::<Result<_, _>>()?,
        _ => {
            return Err(Error::TypeMismatch {
                expected: "set, frozenset, dict, list or tuple",
                found: type_name(kind),
            });
        }
    };
    items.into_iter().map(|m| m.to_value()).collect()
}

/// A mutable view of a shared set, borrowing the turn mutably.
pub struct SetMut<'t> {
    heap: Heap,
    b: Offset,
    _t: PhantomData<&'t mut ()>,
}

impl std::fmt::Debug for SetMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SetMut({:?}, len {})", self.b, self.len())
    }
}

impl<'t> SetMut<'t> {
    /// # Safety
    /// `b` must be a live set block, and `'t` a mutable borrow of the turn.
    pub(crate) unsafe fn new(heap: Heap, b: Offset) -> SetMut<'t> {
        SetMut {
            heap,
            b,
            _t: PhantomData,
        }
    }

    fn layout(&self) -> Result<HashLayout, Error> {
        HashLayout::read(&self.heap, self.b, T_SET)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.layout().map_or(0, |l| l.len as usize)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The set's handle (keep it across turns).
    pub fn handle(&self) -> Result<Handle, Error> {
        self.heap.handle(self.b)
    }

    /// A read-only view (borrowing this `SetMut`): the non-mutating set
    /// algebra (`union`, `is_subset`, ...) is there.
    pub fn as_ref(&self) -> Result<SetRef<'_>, Error> {
        SetRef::hashed(self.heap, self.b)
    }

    /// Whether `v` is a member.
    pub fn contains(&self, v: &Value) -> Result<bool, Error> {
        self.as_ref()?.contains(v)
    }

    /// The members in insertion order.
    pub fn iter(&self) -> Result<SetIter<'_>, Error> {
        Ok(self.as_ref()?.iter())
    }

    /// Copies the whole set out.
    pub fn to_value(&self) -> Result<Value, Error> {
        self.as_ref()?.to_value()
    }

    /// Adds `v`; returns whether it was new.
    #[inline]
    pub fn insert(&mut self, v: impl Into<Value>) -> Result<bool, Error> {
        let mut l = self.layout()?;
        let heap = self.heap;
        let r = put(&heap, &mut l, v.into(), Value::None, false, |v| {
            into_slot(&heap, v)
        })?;
        Ok(matches!(r, Put::Added(_)))
    }

    /// Removes `v` (Python's `discard`); returns whether it was there.
    pub fn remove(&mut self, v: &Value) -> Result<bool, Error> {
        let h = hash_value(v)?;
        let mut l = self.layout()?;
        let Probe::Found { pos, e, .. } = find_value(&self.heap, &l, v, h)? else {
            return Ok(false);
        };
        let (k, _) = take(&self.heap, &mut l, e, pos)?;
        free_slot(&self.heap, k)?;
        Ok(true)
    }

    /// Removes and returns the last inserted member (None if empty).
    pub fn pop(&mut self) -> Result<Option<Value>, Error> {
        let mut l = self.layout()?;
        if l.len == 0 {
            return Ok(None);
        }
        let e = l.tail - 1;
        let entry = l.entry(&self.heap, e)?;
        let pos = l.position_of(&self.heap, e, entry.hash())?;
        let out = copy_out(self.heap, entry.key())?;
        let (k, _) = take(&self.heap, &mut l, e, pos)?;
        free_slot(&self.heap, k)?;
        Ok(Some(out))
    }

    /// Removes every member (freeing what they owned) and the set's storage.
    pub fn clear(&mut self) -> Result<(), Error> {
        let mut l = self.layout()?;
        super::hashed::clear(&self.heap, &mut l)
    }

    /// Adds every value, all or nothing.
    pub fn extend<I>(&mut self, values: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Into<Value>,
    {
        let vs: Vec<Value> = values.into_iter().map(Into::into).collect();
        self.add_all(&vs)
    }

    fn add_all(&mut self, vs: &[Value]) -> Result<(), Error> {
        let items: Vec<(&Value, Option<&Value>)> = vs.iter().map(|v| (v, None)).collect();
        let mut l = self.layout()?;
        let heap = self.heap;
        put_all(&heap, &mut l, &items, &|v| write_slot(&heap, v))?;
        Ok(())
    }

    fn remove_all(&mut self, vs: &[Value]) -> Result<(), Error> {
        for v in vs {
            self.remove(v)?;
        }
        Ok(())
    }

    /// Adds the members of `other` (Python's `|=`), all or nothing.
    pub fn union_update<'a>(&mut self, other: impl Into<Members<'a>>) -> Result<(), Error> {
        let o = Other::new(self.heap, other.into())?;
        self.add_all(&o.items)
    }

    /// Keeps only the members also in `other` (`&=`).
    pub fn intersection_update<'a>(&mut self, other: impl Into<Members<'a>>) -> Result<(), Error> {
        let o = Other::new(self.heap, other.into())?;
        self.retain(|m| o.contains(m))
    }

    /// Keeps the members for which `keep` says yes (removing the others by
    /// entry, so that even a NaN member goes).
    fn retain(
        &mut self,
        mut keep: impl FnMut(ValueRef<'_>) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let heap = self.heap;
        let mut l = self.layout()?;
        let mut gone = Vec::new();
        l.walk(&heap, |e, entry| {
            // SAFETY: the view dies in this closure; we hold the turn.
            let m = unsafe { view(heap, entry.key()) }?;
            if !keep(m)? {
                gone.push((e, entry.hash()));
            }
            Ok(())
        })?;
        heap.journal_room(l.remove_journal(gone.len() as u64))?;
        for (e, h) in gone {
            let pos = l.position_of(&heap, e, h)?;
            let (k, _) = l.remove_entry(&heap, e, pos)?;
            free_slot(&heap, k)?;
        }
        l.settle(&heap)?;
        heap.commit()
    }

    /// Removes the members of `other` (`-=`).
    pub fn difference_update<'a>(&mut self, other: impl Into<Members<'a>>) -> Result<(), Error> {
        let o = Other::new(self.heap, other.into())?;
        self.remove_all(&o.items)
    }

    /// Keeps the members in exactly one of the two (`^=`): adds those of
    /// `other` not here (all or nothing), then removes those that were.
    pub fn symmetric_difference_update<'a>(
        &mut self,
        other: impl Into<Members<'a>>,
    ) -> Result<(), Error> {
        let o = Other::new(self.heap, other.into())?;
        let (mut add, mut gone) = (Vec::new(), Vec::new());
        {
            let me = self.as_ref()?;
            for v in o.items {
                if me.has(&v)? {
                    gone.push(v);
                } else {
                    add.push(v);
                }
            }
        }
        self.add_all(&add)?;
        self.remove_all(&gone)
    }

    /// The union with `other`, as a new set (see [`SetRef::union`]).
    pub fn union<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        self.as_ref()?.union(other)
    }

    /// The intersection with `other`, as a new set.
    pub fn intersection<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        self.as_ref()?.intersection(other)
    }

    /// The members not in `other`, as a new set.
    pub fn difference<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        self.as_ref()?.difference(other)
    }

    /// The members in exactly one of the two, as a new set.
    pub fn symmetric_difference<'a>(&self, other: impl Into<Members<'a>>) -> Result<Value, Error> {
        self.as_ref()?.symmetric_difference(other)
    }

    /// Whether every member is in `other`.
    pub fn is_subset<'a>(&self, other: impl Into<Members<'a>>) -> Result<bool, Error> {
        self.as_ref()?.is_subset(other)
    }

    /// Whether every member of `other` is here.
    pub fn is_superset<'a>(&self, other: impl Into<Members<'a>>) -> Result<bool, Error> {
        self.as_ref()?.is_superset(other)
    }

    /// Whether the two have no member in common.
    pub fn is_disjoint<'a>(&self, other: impl Into<Members<'a>>) -> Result<bool, Error> {
        self.as_ref()?.is_disjoint(other)
    }
}
