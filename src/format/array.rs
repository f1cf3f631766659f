//! The numeric array block (kind 20): a fixed-size, C-order array of one
//! element type, its header and its data in one block, the data 64-byte
//! aligned in the segment. Arrays never resize, so the data never moves
//! while the array lives.
//!
//! Payload (offsets from the block start `b`): `+16 dtype: u32`, `+20
//! ndim: u32`, `+24 len: u64` (elements), `+32 data: u64` (offset of the
//! first element from `b`; `b + data` is a multiple of 64), `+40 reserved
//! = 0`, `+48 shape[ndim]: u64`, zero padding, then `len · itemsize` bytes
//! of little-endian elements at `b + data`.

use super::{T_ARRAY, payload};
use crate::Error;
use crate::alloc::{HDR, Heap};
use crate::segment::Offset;

/// Most dimensions an array may have (numpy's limit is 32 too, since 2.0
/// 64; 32 keeps the header small and is what numpy 1.x accepts).
pub const MAX_NDIM: usize = 32;

/// Alignment of an array's data in the segment (a cache line: SIMD loads
/// and numpy's preferred alignment).
pub const DATA_ALIGN: u64 = 64;

/// Offset of the shape inside the block.
const SHAPE_AT: u64 = HDR + 32;

/// The element type of a numeric array, as stored in its header (the
/// `dtype` code of `FORMAT.md` §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dtype {
    /// `bool` (one byte, 0 or 1).
    Bool,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32` (IEEE-754 binary32).
    F32,
    /// `f64` (IEEE-754 binary64).
    F64,
}

impl Dtype {
    /// Every element type, in code order.
    pub const ALL: [Dtype; 11] = [
        Dtype::Bool,
        Dtype::I8,
        Dtype::I16,
        Dtype::I32,
        Dtype::I64,
        Dtype::U8,
        Dtype::U16,
        Dtype::U32,
        Dtype::U64,
        Dtype::F32,
        Dtype::F64,
    ];

    /// The code stored in the segment (1..=11; 0 is invalid).
    pub fn code(self) -> u32 {
        match self {
            Dtype::Bool => 1,
            Dtype::I8 => 2,
            Dtype::I16 => 3,
            Dtype::I32 => 4,
            Dtype::I64 => 5,
            Dtype::U8 => 6,
            Dtype::U16 => 7,
            Dtype::U32 => 8,
            Dtype::U64 => 9,
            Dtype::F32 => 10,
            Dtype::F64 => 11,
        }
    }

    /// The element type of a stored code, if it is one.
    pub fn from_code(code: u32) -> Option<Dtype> {
        Dtype::ALL.get((code as usize).wrapping_sub(1)).copied()
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            Dtype::Bool | Dtype::I8 | Dtype::U8 => 1,
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 => 8,
        }
    }

    /// numpy's name of the type (`"float64"`, `"bool"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "bool",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::U8 => "uint8",
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
            Dtype::U64 => "uint64",
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }

    /// Whether elements are floats (compared as IEEE numbers, not bytes).
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64)
    }
}

/// The element count of `shape` and its byte length for `dtype`, or why
/// they do not fit (more than [`MAX_NDIM`] dimensions, an overflowing
/// product).
pub(crate) fn extent(dtype: Dtype, shape: &[usize]) -> Result<(u64, u64), String> {
    if shape.len() > MAX_NDIM {
        return Err(format!("{} dimensions (at most {MAX_NDIM})", shape.len()));
    }
    let overflow = || format!("shape {shape:?} overflows");
    let len = shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(overflow)?;
    let bytes = len
        .checked_mul(dtype.itemsize() as u64)
        .filter(|&b| b <= isize::MAX as u64)
        .ok_or_else(overflow)?;
    Ok((len, bytes))
}

/// An array block's header as read from the segment, its numbers checked
/// against each other and against the block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArrayLayout {
    pub(crate) b: Offset,
    pub(crate) dtype: Dtype,
    pub(crate) ndim: u32,
    pub(crate) len: u64,
    /// Offset of the data from the segment base (64-aligned).
    pub(crate) data: Offset,
}

impl ArrayLayout {
    /// Bytes of data.
    pub(crate) fn nbytes(&self) -> u64 {
        self.len * self.dtype.itemsize() as u64
    }

    /// Offset of the shape (`ndim` u64s, 8-aligned).
    pub(crate) fn shape_at(&self) -> Offset {
        self.b.add(SHAPE_AT)
    }

    /// Writes a new array of `dtype` and `shape` holding `bytes` (C order,
    /// native = little-endian elements), where nothing reaches it yet. The
    /// caller checked that a bool array's bytes are 0 or 1.
    pub(crate) fn create(
        heap: &Heap,
        dtype: Dtype,
        shape: &[usize],
        bytes: &[u8],
    ) -> Result<Offset, Error> {
        let (len, nbytes) = extent(dtype, shape).map_err(|what| Error::InvalidArray { what })?;
        if nbytes != bytes.len() as u64 {
            return Err(Error::InvalidArray {
                what: format!(
                    "shape {shape:?} holds {len} elements, the data {} bytes of {}",
                    bytes.len(),
                    dtype.name()
                ),
            });
        }
        let head = 32 + 8 * shape.len() as u64;
        // Room for the worst padding: the shape ends 8-aligned, so the data
        // starts at most 56 bytes past it.
        let b = heap.alloc(head + (DATA_ALIGN - 8) + nbytes, T_ARRAY)?;
        let m = heap.mem;
        let shape_end = payload(b).get() + head;
        let data = shape_end.next_multiple_of(DATA_ALIGN);
        let p = payload(b);
        m.set_u64(p, dtype.code() as u64 | (shape.len() as u64) << 32)?;
        m.set_u64(p.add(8), len)?;
        m.set_u64(p.add(16), data - b.get())?;
        m.set_u64(p.add(24), 0)?;
        for (i, &d) in shape.iter().enumerate() {
            m.set_u64(b.add(SHAPE_AT + 8 * i as u64), d as u64)?;
        }
        m.zero(Offset::new(shape_end), data - shape_end)?;
        m.write_bytes(Offset::new(data), bytes)?;
        Ok(b)
    }

    /// Reads the header of the array block at `b` and checks it: a known
    /// dtype, `ndim <= 32`, the reserved word zero, the shape's product
    /// (without overflow) equal to `len`, the data 64-aligned, after the
    /// shape and inside the block.
    pub(crate) fn read(heap: &Heap, b: Offset) -> Result<ArrayLayout, Error> {
        let m = heap.mem;
        let size = heap.header(b)?.0;
        let bad = |what: &str| Error::corrupt(b.get(), format!("array {what}"));
        if size < SHAPE_AT {
            return Err(bad("header longer than its block"));
        }
        let p = payload(b);
        let w = m.u64(p)?;
        let (code, ndim) = (w as u32, (w >> 32) as u32);
        let dtype = Dtype::from_code(code).ok_or_else(|| bad("element type code unknown"))?;
        if ndim as usize > MAX_NDIM {
            return Err(bad("has more than 32 dimensions"));
        }
        if m.u64(p.add(24))? != 0 {
            return Err(bad("reserved word is not zero"));
        }
        let len = m.u64(p.add(8))?;
        let data = m.u64(p.add(16))?;
        let shape_end = SHAPE_AT + 8 * ndim as u64;
        if shape_end > size {
            return Err(bad("shape longer than its block"));
        }
        let mut n = 1u64;
        for i in 0..ndim as u64 {
            n = n
                .checked_mul(m.u64(b.add(SHAPE_AT + 8 * i))?)
                .ok_or_else(|| bad("shape's product overflows"))?;
        }
        if n != len {
            return Err(bad("shape's product differs from its length"));
        }
        let nbytes = len
            .checked_mul(dtype.itemsize() as u64)
            .filter(|&x| x <= isize::MAX as u64)
            .ok_or_else(|| bad("byte length overflows"))?;
        if data < shape_end
            || !(b.get().wrapping_add(data)).is_multiple_of(DATA_ALIGN)
            || data.checked_add(nbytes).is_none_or(|end| end > size)
        {
            return Err(bad(
                "data misplaced (before the shape, unaligned or past the block)",
            ));
        }
        Ok(ArrayLayout {
            b,
            dtype,
            ndim,
            len,
            data: b.add(data),
        })
    }

    /// The shape, in place.
    ///
    /// # Safety
    /// Nothing may write the header while the slice lives (`'a` is a
    /// borrow of the turn; nothing writes an array's header after it was
    /// created).
    pub(crate) unsafe fn shape<'a>(&self, heap: &Heap) -> Result<&'a [usize], Error> {
        // SAFETY: forwarded contract.
        let bytes = unsafe { heap.mem.bytes(self.shape_at(), 8 * self.ndim as u64)? };
        // `read` checked the shape inside the block; it is 8-aligned (16 +
        // 32 past a 16-aligned block), and `usize` is `u64` on the only
        // targets the crate builds for.
        bytemuck::try_cast_slice(bytes)
            .map_err(|e| Error::corrupt(self.b.get(), format!("array shape: {e}")))
    }

    /// A raw pointer to the data (valid while the array lives: it never
    /// moves), after a bounds check.
    pub(crate) fn data_ptr(&self, heap: &Heap) -> Result<*mut u8, Error> {
        heap.mem.ptr(self.data, self.nbytes(), DATA_ALIGN)
    }

    /// The data's bytes.
    ///
    /// # Safety
    /// Nothing may write them while the slice lives.
    pub(crate) unsafe fn bytes<'a>(&self, heap: &Heap) -> Result<&'a [u8], Error> {
        // SAFETY: forwarded contract.
        unsafe { heap.mem.bytes(self.data, self.nbytes()) }
    }

    /// The data's bytes, mutably.
    ///
    /// # Safety
    /// Nothing else may access them while the slice lives.
    pub(crate) unsafe fn bytes_mut<'a>(&self, heap: &Heap) -> Result<&'a mut [u8], Error> {
        // SAFETY: forwarded contract.
        unsafe { heap.mem.bytes_mut(self.data, self.nbytes()) }
    }

    /// Validation of the block at `b`: the header (as [`ArrayLayout::read`])
    /// and, for a bool array, every byte 0 or 1.
    pub(crate) fn validate(heap: &Heap, b: Offset) -> Result<(), Error> {
        let l = ArrayLayout::read(heap, b)?;
        if l.dtype == Dtype::Bool {
            // SAFETY: the validator runs inside a turn; nothing writes.
            let bytes = unsafe { l.bytes(heap)? };
            if let Some(i) = bytes.iter().position(|&x| x > 1) {
                return Err(Error::corrupt(
                    l.data.get() + i as u64,
                    "bool array element is neither 0 nor 1",
                ));
            }
        }
        Ok(())
    }
}
