//! Numeric arrays: the [`Element`] types, the owned [`Array`], and the
//! views [`ArrayRef`] (`&[T]`), [`ArrayMut`] (`&mut [T]`) and
//! [`AnyArrayRef`] (element type known at run time).
//!
//! The casts between the segment's bytes and `&[T]` go through bytemuck
//! (size, alignment and, for `bool`, the bit-pattern check), never a
//! hand-written transmute.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::Error;
use crate::alloc::Heap;
use crate::format::array::{ArrayLayout, Dtype, extent};
use crate::segment::{Handle, Offset};

mod sealed {
    /// Only the crate's element types implement [`super::Element`].
    pub trait Sealed {}
}

/// An element type of a shared numeric array: `bool`, `i8`..`i64`,
/// `u8`..`u64`, `f32`, `f64` (sealed: the segment stores one of these
/// codes, see [`Dtype`]).
pub trait Element:
    sealed::Sealed + Copy + PartialEq + std::fmt::Debug + bytemuck::NoUninit + 'static
{
    /// The type's code in the segment.
    const DTYPE: Dtype;

    /// The bytes as elements: an error if their length or alignment does
    /// not fit, or (for `bool`) a byte is neither 0 nor 1.
    #[doc(hidden)]
    fn cast(bytes: &[u8]) -> Result<&[Self], String>;

    /// As [`Element::cast`], mutably.
    #[doc(hidden)]
    fn cast_mut(bytes: &mut [u8]) -> Result<&mut [Self], String>;
}

macro_rules! pod_element {
    ($($t:ty => $d:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: Dtype = Dtype::$d;
            fn cast(bytes: &[u8]) -> Result<&[$t], String> {
                bytemuck::try_cast_slice(bytes).map_err(|e| e.to_string())
            }
            fn cast_mut(bytes: &mut [u8]) -> Result<&mut [$t], String> {
                bytemuck::try_cast_slice_mut(bytes).map_err(|e| e.to_string())
            }
        }
    )*};
}
pod_element!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16,
    u32 => U32, u64 => U64, f32 => F32, f64 => F64);

impl sealed::Sealed for bool {}
/// `bool` is not `Pod`: a byte other than 0 or 1 is not a `bool`. The
/// validator checks a bool array's bytes on attach, but a peer could store
/// a 2 there afterwards (numpy's `a.view(np.uint8)[0] = 2` does), so every
/// `&[bool]` / `&mut [bool]` is made by bytemuck's checked cast, which
/// looks at each byte when the view is made (O(n), for bool arrays only).
/// While the view lives it borrows the turn, so no other process writes
/// the bytes, and a `&mut bool` can only store 0 or 1: the check made at
/// creation holds for the view's whole life.
impl Element for bool {
    const DTYPE: Dtype = Dtype::Bool;
    fn cast(bytes: &[u8]) -> Result<&[bool], String> {
        bytemuck::checked::try_cast_slice(bytes).map_err(|e| e.to_string())
    }
    fn cast_mut(bytes: &mut [u8]) -> Result<&mut [bool], String> {
        bytemuck::checked::try_cast_slice_mut(bytes).map_err(|e| e.to_string())
    }
}

/// Whether two arrays' data of element type `dtype` hold equal elements:
/// floats as IEEE numbers (`NaN != NaN`, `-0.0 == 0.0`), the rest by bytes.
pub(crate) fn elements_eq(dtype: Dtype, a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match dtype {
        Dtype::F32 => a.chunks_exact(4).zip(b.chunks_exact(4)).all(|(x, y)| {
            f32::from_le_bytes(x.try_into().unwrap_or_default())
                == f32::from_le_bytes(y.try_into().unwrap_or_default())
        }),
        Dtype::F64 => a.chunks_exact(8).zip(b.chunks_exact(8)).all(|(x, y)| {
            f64::from_le_bytes(x.try_into().unwrap_or_default())
                == f64::from_le_bytes(y.try_into().unwrap_or_default())
        }),
        _ => a == b,
    }
}

/// An owned numeric array: element type, shape (C order) and data. Make
/// one with [`Value::array`](crate::Value::array) or [`Array::new`].
///
/// Equality: the same element type, the same shape and equal elements
/// (floats as numbers: an array holding `NaN` is unequal to itself). Arrays
/// are not hashable (not a dict key nor a set member).
#[derive(Clone, Debug)]
pub struct Array {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: rkyv::util::AlignedVec<16>,
}

impl PartialEq for Array {
    fn eq(&self, other: &Array) -> bool {
        self.dtype == other.dtype
            && self.shape == other.shape
            && elements_eq(self.dtype, &self.data, &other.data)
    }
}

impl Array {
    /// An array of `shape` (C order) holding `data`;
    /// [`Error::InvalidArray`] if the shape's product is not `data.len()`
    /// or it has more than 32 dimensions.
    pub fn new<T: Element>(shape: &[usize], data: &[T]) -> Result<Array, Error> {
        Array::from_bytes(T::DTYPE, shape, bytemuck::cast_slice(data))
    }

    /// An array of `dtype` and `shape` from its little-endian bytes (C
    /// order); [`Error::InvalidArray`] if the shape does not fit the bytes
    /// or a bool byte is neither 0 nor 1.
    pub fn from_bytes(dtype: Dtype, shape: &[usize], bytes: &[u8]) -> Result<Array, Error> {
        let (len, nbytes) = extent(dtype, shape).map_err(|what| Error::InvalidArray { what })?;
        if nbytes != bytes.len() as u64 {
            return Err(Error::InvalidArray {
                what: format!(
                    "shape {shape:?} holds {len} elements of {}, the data {} bytes",
                    dtype.name(),
                    bytes.len()
                ),
            });
        }
        check_bools(dtype, bytes)?;
        let mut data = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        data.extend_from_slice(bytes);
        Ok(Array {
            dtype,
            shape: shape.to_vec(),
            data,
        })
    }

    /// An array of `dtype` and `shape` whose elements are all zero (fill
    /// it through [`Array::as_bytes_mut`]); [`Error::InvalidArray`] for a
    /// shape of more than 32 dimensions or an overflowing product.
    pub fn zeroed(dtype: Dtype, shape: &[usize]) -> Result<Array, Error> {
        let (_, nbytes) = extent(dtype, shape).map_err(|what| Error::InvalidArray { what })?;
        let mut data = rkyv::util::AlignedVec::<16>::with_capacity(nbytes as usize);
        data.resize(nbytes as usize, 0);
        Ok(Array {
            dtype,
            shape: shape.to_vec(),
            data,
        })
    }

    /// The data's bytes, mutably (little-endian elements, C order). A
    /// bool array's bytes must stay 0 or 1: writing the array into a
    /// segment checks them ([`Error::InvalidArray`]).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The shape (C order; empty for a 0-d array, which holds one element).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements (the shape's product).
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.itemsize()
    }

    /// Whether it holds no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The data's bytes (little-endian elements, C order).
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The elements as `&[T]`; [`Error::TypeMismatch`] if `T` is not the
    /// element type.
    pub fn as_slice<T: Element>(&self) -> Result<&[T], Error> {
        check_dtype::<T>(self.dtype)?;
        T::cast(&self.data).map_err(|what| Error::InvalidArray { what })
    }
}

/// [`Error::InvalidArray`] if `dtype` is bool and a byte is neither 0 nor 1.
pub(crate) fn check_bools(dtype: Dtype, bytes: &[u8]) -> Result<(), Error> {
    if dtype == Dtype::Bool && bytes.iter().any(|&x| x > 1) {
        return Err(Error::InvalidArray {
            what: "a bool element is neither 0 nor 1".into(),
        });
    }
    Ok(())
}

fn check_dtype<T: Element>(found: Dtype) -> Result<(), Error> {
    if found != T::DTYPE {
        return Err(Error::TypeMismatch {
            expected: T::DTYPE.name(),
            found: found.name(),
        });
    }
    Ok(())
}

fn bad_cast(l: &ArrayLayout, what: String) -> Error {
    Error::corrupt(l.data.get(), format!("array of {}: {what}", l.dtype.name()))
}

/// A numeric array in a segment whose element type is known at run time,
/// borrowed for the turn `'t` (what [`ValueRef::Array`](crate::ValueRef)
/// holds). [`AnyArrayRef::typed`] gives the `&[T]` view.
#[derive(Clone, Copy)]
pub struct AnyArrayRef<'t> {
    pub(crate) heap: Heap,
    shape: &'t [usize],
    pub(crate) b: Offset,
    /// Offset of the data from `b` (kept small: a `ValueRef` holds this).
    data: u32,
    dtype: Dtype,
}

impl std::fmt::Debug for AnyArrayRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AnyArrayRef({:?}, {}, shape {:?})",
            self.b,
            self.dtype.name(),
            self.shape
        )
    }
}

impl<'t> AnyArrayRef<'t> {
    /// A view of the array block at `b` (its header checked).
    ///
    /// # Safety
    /// `'t` must not outlive the caller's borrow of the turn.
    pub(crate) unsafe fn new(heap: Heap, b: Offset) -> Result<AnyArrayRef<'t>, Error> {
        let l = ArrayLayout::read(&heap, b)?;
        // SAFETY: forwarded contract; nothing writes an array's header
        // after it was created.
        let shape = unsafe { l.shape(&heap)? };
        Ok(AnyArrayRef {
            heap,
            shape,
            b,
            data: (l.data.get() - b.get()) as u32,
            dtype: l.dtype,
        })
    }

    /// The header, as checked when the view was made.
    fn layout(&self) -> ArrayLayout {
        ArrayLayout {
            b: self.b,
            dtype: self.dtype,
            ndim: self.shape.len() as u32,
            len: self.len() as u64,
            data: self.b.add(self.data as u64),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The shape (C order).
    pub fn shape(&self) -> &'t [usize] {
        self.shape
    }

    /// Number of elements (the shape's product, checked not to overflow
    /// when the view was made).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The data's bytes, in place (little-endian elements, C order).
    pub fn as_bytes(&self) -> Result<&'t [u8], Error> {
        // SAFETY: `'t` borrows the turn: nothing writes meanwhile.
        unsafe { self.layout().bytes(&self.heap) }
    }

    /// A raw pointer to the first element (64-byte aligned), for code that
    /// shares the data outside Rust's borrows (the Python package's numpy
    /// views). The data never moves while the array lives and the segment
    /// stays mapped; reading or writing through the pointer is unsafe:
    /// nothing synchronises it but the turn, and no write may happen
    /// while a Rust view of the array lives.
    pub fn as_mut_ptr(&self) -> Result<*mut u8, Error> {
        self.layout().data_ptr(&self.heap)
    }

    /// The array's handle (keep it across turns; reopen it with
    /// [`crate::Turn::array_mut`]).
    pub fn handle(&self) -> Option<Handle> {
        self.heap.handle(self.b).ok()
    }

    /// The elements as `&[T]` with the shape; [`Error::TypeMismatch`] if
    /// `T` is not the element type.
    pub fn typed<T: Element>(&self) -> Result<ArrayRef<'t, T>, Error> {
        check_dtype::<T>(self.dtype)?;
        let data = T::cast(self.as_bytes()?).map_err(|e| bad_cast(&self.layout(), e))?;
        Ok(ArrayRef {
            shape: self.shape,
            data,
        })
    }

    /// Copies the array out.
    pub fn to_array(&self) -> Result<Array, Error> {
        Array::from_bytes(self.dtype, self.shape, self.as_bytes()?)
    }
}

/// A shared numeric array of `T`, read in place: derefs to `&[T]` (C
/// order), with its [`shape`](ArrayRef::shape).
#[derive(Clone, Copy, Debug)]
pub struct ArrayRef<'t, T: Element> {
    shape: &'t [usize],
    data: &'t [T],
}

impl<'t, T: Element> ArrayRef<'t, T> {
    /// The shape (C order).
    pub fn shape(&self) -> &'t [usize] {
        self.shape
    }

    /// The elements, for the turn's lifetime.
    pub fn as_slice(&self) -> &'t [T] {
        self.data
    }

    /// An ndarray view of the right shape.
    #[cfg(feature = "ndarray")]
    pub fn view(&self) -> ndarray::ArrayViewD<'t, T> {
        ndarray::ArrayViewD::from_shape(ndarray::IxDyn(self.shape), self.data)
            .expect("checked when the view was made: the shape's product is the length")
    }
}

impl<T: Element> Deref for ArrayRef<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.data
    }
}

/// A shared numeric array of `T`, mutated in place: derefs to `&mut [T]`
/// (C order), with its [`shape`](ArrayMut::shape). Arrays are fixed-size;
/// each element write is one aligned store into the segment (no journal,
/// as `BytesMut::as_mut_slice`; in a transaction the whole data is
/// journaled when the view is made).
#[derive(Debug)]
pub struct ArrayMut<'t, T: Element> {
    shape: &'t [usize],
    data: &'t mut [T],
    handle: Option<Handle>,
    _t: PhantomData<&'t mut ()>,
}

impl<'t, T: Element> ArrayMut<'t, T> {
    /// A mutable view of the array block at `b` (any kind is refused but
    /// an array of `T`).
    ///
    /// # Safety
    /// `b` must be a live block, and `'t` a mutable borrow of the turn.
    pub(crate) unsafe fn new(heap: Heap, b: Offset) -> Result<ArrayMut<'t, T>, Error> {
        let l = ArrayLayout::read(&heap, b)?;
        check_dtype::<T>(l.dtype)?;
        // SAFETY: forwarded contract: `'t` borrows the turn mutably, so
        // nothing else accesses the array's header or data meanwhile.
        let (shape, bytes) = unsafe { (l.shape(&heap)?, l.bytes_mut(&heap)?) };
        // In a transaction, what the view hands out is journaled now.
        heap.save_ptr_in_txn(bytes.as_ptr(), bytes.len() as u64)?;
        let data = T::cast_mut(bytes).map_err(|e| bad_cast(&l, e))?;
        Ok(ArrayMut {
            shape,
            data,
            handle: heap.handle(b).ok(),
            _t: PhantomData,
        })
    }

    /// The shape (C order).
    pub fn shape(&self) -> &[usize] {
        self.shape
    }

    /// The array's handle.
    pub fn handle(&self) -> Option<Handle> {
        self.handle
    }

    /// An ndarray view of the right shape.
    #[cfg(feature = "ndarray")]
    pub fn view(&self) -> ndarray::ArrayViewD<'_, T> {
        ndarray::ArrayViewD::from_shape(ndarray::IxDyn(self.shape), self.data)
            .expect("checked when the view was made: the shape's product is the length")
    }

    /// A mutable ndarray view of the right shape.
    #[cfg(feature = "ndarray")]
    pub fn view_mut(&mut self) -> ndarray::ArrayViewMutD<'_, T> {
        ndarray::ArrayViewMutD::from_shape(ndarray::IxDyn(self.shape), self.data)
            .expect("checked when the view was made: the shape's product is the length")
    }
}

impl<T: Element> Deref for ArrayMut<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.data
    }
}

impl<T: Element> DerefMut for ArrayMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.data
    }
}
