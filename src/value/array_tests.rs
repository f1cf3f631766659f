//! Unit tests of numeric arrays on heap-backed segments (they run under
//! Miri): roundtrips of every element type, shapes, type checks, in-place
//! mutation, alignment, equality, and the validator on damaged headers.

use crate::format::array::{ArrayLayout, DATA_ALIGN};
use crate::format::payload;
use crate::segment::Offset;
use crate::{Array, Dtype, Element, Error, Handle, Segment, Turn, Value};

fn seg() -> Segment {
    crate::test_segment(1 << 20)
}

fn own(turn: &mut Turn<'_>, v: &Value) -> Handle {
    turn.put_message(v).unwrap();
    turn.take_message().unwrap().unwrap()
}

fn roundtrip<T: Element>(data: &[T]) {
    let s = seg();
    let mut turn = s.turn().unwrap();
    for shape in [
        vec![data.len()],
        vec![1, data.len()],
        vec![data.len(), 1, 1],
    ] {
        let v = Value::array(&shape, data).unwrap();
        let h = own(&mut turn, &v);
        let r = turn.get(h).unwrap();
        let a = r.as_array::<T>().unwrap();
        assert_eq!(a.shape(), &shape[..]);
        assert_eq!(&*a, data);
        assert_eq!(
            a.as_ptr() as usize % DATA_ALIGN as usize,
            0,
            "data 64-aligned"
        );
        assert_eq!(r.to_value().unwrap(), v);
        assert!(r.py_eq(&v).unwrap());
        assert_eq!(r.type_name(), "array");
        assert_eq!(r.handle(), Some(h));
        turn.validate().unwrap();
        turn.free(h).unwrap();
    }
    assert_eq!(
        turn.validate().unwrap().blocks,
        1,
        "freeing frees the block: only the queue ring is left"
    );
}

#[test]
fn every_element_type_roundtrips() {
    roundtrip(&[true, false, true]);
    roundtrip(&[i8::MIN, -1, 0, i8::MAX]);
    roundtrip(&[i16::MIN, 7, i16::MAX]);
    roundtrip(&[i32::MIN, 7, i32::MAX]);
    roundtrip(&[i64::MIN, 7, i64::MAX]);
    roundtrip(&[0u8, 200, 255]);
    roundtrip(&[0u16, 60000]);
    roundtrip(&[0u32, u32::MAX]);
    roundtrip(&[0u64, u64::MAX, 12345]);
    roundtrip(&[1.5f32, -0.0, f32::INFINITY]);
    roundtrip(&[1.5f64, -2.25, 1e300, f64::MIN_POSITIVE]);
}

#[test]
fn zero_d_and_empty_arrays() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    // 0-d: no dimensions, one element.
    let h = own(&mut turn, &Value::array(&[], &[42i32]).unwrap());
    let a = turn.get(h).unwrap().as_array::<i32>().unwrap();
    assert_eq!((a.shape(), &*a), (&[][..], &[42][..]));
    // Empty, of several shapes.
    let mut h = h;
    for shape in [vec![0], vec![3, 0], vec![0, 5, 2]] {
        let v = Value::array::<f64>(&shape, &[]).unwrap();
        h = own(&mut turn, &v);
        let r = turn.get(h).unwrap();
        let a = r.as_array::<f64>().unwrap();
        assert_eq!(a.shape(), &shape[..]);
        assert!(a.is_empty());
        assert_eq!(r.to_value().unwrap(), v);
        turn.validate().unwrap();
    }
    let mut m = turn.array_mut::<f64>(h).unwrap();
    assert!(m.is_empty());
    m.iter_mut().for_each(|x| *x = 1.0);
}

#[test]
fn shape_mismatches_are_refused() {
    for (shape, n) in [(vec![2, 3], 5), (vec![], 0), (vec![4], 3), (vec![0], 1)] {
        let e = Value::array(&shape, &vec![0u8; n]).unwrap_err();
        assert!(
            matches!(e, Error::InvalidArray { .. }),
            "{shape:?} {n}: {e}"
        );
    }
    let e = Value::array(&[usize::MAX, 2], &[0u8; 0]).unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");
    let e = Value::array(&[1; 33], &[0u8]).unwrap_err();
    assert!(e.to_string().contains("33 dimensions"), "{e}");
    Value::array(&[1; 32], &[0u8]).unwrap();
    let e = Array::from_bytes(Dtype::Bool, &[2], &[1, 2]).unwrap_err();
    assert!(matches!(e, Error::InvalidArray { .. }), "{e}");
    let e = Array::from_bytes(Dtype::U16, &[2], &[1, 2, 3]).unwrap_err();
    assert!(matches!(e, Error::InvalidArray { .. }), "{e}");
}

#[test]
fn another_element_type_is_a_type_mismatch() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = own(&mut turn, &Value::array(&[2], &[1.0f64, 2.0]).unwrap());
    let r = turn.get(h).unwrap();
    let e = r.as_array::<f32>().unwrap_err();
    assert!(
        matches!(
            e,
            Error::TypeMismatch {
                expected: "float32",
                found: "float64"
            }
        ),
        "{e}"
    );
    assert!(matches!(
        r.as_array::<u64>(),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        turn.array_mut::<i64>(h),
        Err(Error::TypeMismatch { .. })
    ));
    // Not an array at all.
    let l = own(&mut turn, &value!([1, [2]]));
    assert!(matches!(
        turn.array_mut::<f64>(l),
        Err(Error::TypeMismatch {
            expected: "array",
            found: "list"
        })
    ));
    assert!(matches!(
        turn.get(l).unwrap().as_array::<f64>(),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        turn.list_mut(l).unwrap().array_mut::<f64>(0),
        Err(Error::TypeMismatch { .. })
    ));
    assert_eq!(
        Array::new(&[1], &[3u8]).unwrap().as_slice::<u8>().unwrap(),
        &[3]
    );
    assert!(Array::new(&[1], &[3u8]).unwrap().as_slice::<i8>().is_err());
}

#[test]
fn mutation_in_place_is_seen_by_a_later_view() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let data: Vec<f64> = (0..1000).map(f64::from).collect();
    let h = own(&mut turn, &Value::array(&[10, 100], &data).unwrap());
    let before = turn.get(h).unwrap().as_array::<f64>().unwrap().as_ptr();
    {
        let mut a = turn.array_mut::<f64>(h).unwrap();
        assert_eq!(a.shape(), &[10, 100]);
        assert_eq!(a.handle(), Some(h));
        for x in a.iter_mut() {
            *x += 0.5;
        }
        a[999] = -1.0;
    }
    let a = turn.get(h).unwrap().as_array::<f64>().unwrap();
    assert_eq!(a.as_ptr(), before, "the data never moves");
    assert_eq!(a[0], 0.5);
    assert_eq!(a[998], 998.5);
    assert_eq!(a[999], -1.0);
    // Bool arrays through `&mut [bool]`.
    let b = own(
        &mut turn,
        &Value::array(&[3], &[false, false, true]).unwrap(),
    );
    turn.array_mut::<bool>(b).unwrap()[0] = true;
    let r = turn.get(b).unwrap();
    assert_eq!(&*r.as_array::<bool>().unwrap(), &[true, false, true]);
    turn.validate().unwrap();
}

#[test]
fn list_and_dict_accessors() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let arr = Value::array(&[3], &[1i64, 2, 3]).unwrap();
    let h = own(&mut turn, &Value::List(vec![Value::Int(0), arr.clone()]));
    {
        let mut l = turn.list_mut(h).unwrap();
        l.array_mut::<i64>(1).unwrap()[2] = 30;
        assert!(matches!(
            l.array_mut::<i64>(0),
            Err(Error::TypeMismatch { .. })
        ));
        assert_eq!(&*l.get(1).unwrap().as_array::<i64>().unwrap(), &[1, 2, 30]);
        // Overwriting the slot frees the array.
        l.set(1, 5).unwrap();
    }
    let mut root = turn.root().unwrap();
    root.insert("w", arr).unwrap();
    root.array_mut::<i64>(&"w".into()).unwrap()[0] = -1;
    assert_eq!(
        &*root
            .get(&"w".into())
            .unwrap()
            .unwrap()
            .as_array::<i64>()
            .unwrap(),
        &[-1, 2, 3]
    );
    assert!(matches!(
        root.array_mut::<f64>(&"w".into()),
        Err(Error::TypeMismatch { .. })
    ));
    root.remove(&"w".into()).unwrap();
    turn.free(h).unwrap();
    let r = turn.validate().unwrap();
    assert_eq!(
        r.blocks, 2,
        "only the root namespace and the queue ring are left: {r:?}"
    );
}

#[test]
fn equality_and_hashing() {
    let a = Value::array(&[2], &[1.0f64, 2.0]).unwrap();
    assert_eq!(a, Value::array(&[2], &[1.0f64, 2.0]).unwrap());
    assert_ne!(a, Value::array(&[1, 2], &[1.0f64, 2.0]).unwrap(), "shape");
    assert_ne!(
        a,
        Value::array(&[2], &[1.0f32, 2.0]).unwrap(),
        "element type"
    );
    assert_ne!(a, Value::array(&[2], &[1.0f64, 3.0]).unwrap(), "elements");
    assert_ne!(a, value!([1.0, 2.0]), "not a list");
    let z = Value::array(&[1], &[0.0f64]).unwrap();
    assert_eq!(z, Value::array(&[1], &[-0.0f64]).unwrap(), "-0.0 == 0.0");
    let nan = Value::array(&[1], &[f64::NAN]).unwrap();
    assert_ne!(nan, nan.clone(), "NaN is unequal to itself");
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = own(&mut turn, &a);
    assert!(turn.get(h).unwrap().py_eq(&a).unwrap());
    assert!(!turn.get(h).unwrap().py_eq(&z).unwrap());
    // Unhashable: not a dict key nor a set member.
    let mut root = turn.root().unwrap();
    assert!(matches!(
        root.insert(a.clone(), 1),
        Err(Error::Unhashable { kind: "array" })
    ));
    assert!(matches!(
        turn.put_message(&Value::Set(vec![a.clone()])),
        Err(Error::Unhashable { .. })
    ));
    assert!(turn.get(h).unwrap().py_lt(&turn.get(h).unwrap()).is_err());
}

/// Damages one header field at a time: each gives `Corrupt` from the
/// validator and from a view, never a panic; putting it back is valid.
#[test]
fn the_validator_refuses_each_damaged_field() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = own(
        &mut turn,
        &Value::array(&[2, 3], &[1u16, 2, 3, 4, 5, 6]).unwrap(),
    );
    let heap = turn.heap();
    let m = heap.mem;
    let l = ArrayLayout::read(&heap, h.offset).unwrap();
    let p = payload(h.offset).get();
    let data = l.data.get() - h.offset.get();
    let size = heap.header(h.offset).unwrap().0;
    type Poke = (u64, u64, &'static str);
    let pokes: [Poke; 10] = [
        (p, 12 | 2 << 32, "dtype code unknown"),
        (p, 2 << 32, "dtype code zero"),
        (p, 7 | 33 << 32, "ndim above 32"),
        (p, 7 | 3 << 32, "ndim: the shape's product changes"),
        (p + 8, 7, "len differs from the product"),
        (p + 16, data + 16, "data unaligned"),
        (p + 16, 16, "data before the shape"),
        (p + 16, size, "data past the block"),
        (p + 24, 1, "reserved word"),
        (p + 32, u64::MAX, "a dimension overflowing the product"),
    ];
    for (at, v, what) in pokes {
        let at = Offset::new(at);
        let old = m.u64(at).unwrap();
        m.set_u64(at, v).unwrap();
        let e = turn.validate().expect_err(what);
        assert!(matches!(e, Error::Corrupt { .. }), "{what}: {e}");
        assert!(
            matches!(turn.get(h), Err(Error::Corrupt { .. })),
            "{what}: a view too"
        );
        m.set_u64(at, old).unwrap();
        turn.validate().unwrap();
    }
    // A byte length that overflows u64: len · itemsize.
    let big = own(&mut turn, &Value::array(&[1], &[0u64]).unwrap());
    let bp = payload(big.offset);
    m.set_u64(bp.add(8), 1 << 62).unwrap();
    m.set_u64(big.offset.add(48), 1 << 62).unwrap();
    assert!(matches!(turn.validate(), Err(Error::Corrupt { .. })));
    assert!(matches!(turn.get(big), Err(Error::Corrupt { .. })));
}

/// A bool byte that is not 0 or 1: refused on attach (the validator), and
/// never seen as a `&bool` even when written after validation.
#[test]
fn bool_bytes_other_than_0_or_1_never_become_bools() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = own(
        &mut turn,
        &Value::array(&[4], &[true, false, true, true]).unwrap(),
    );
    let heap = turn.heap();
    let l = ArrayLayout::read(&heap, h.offset).unwrap();
    // SAFETY: test code holding the turn; no view of the array lives.
    unsafe { heap.mem.bytes_mut(l.data.add(1), 1).unwrap()[0] = 2 };
    let e = turn.validate().unwrap_err();
    assert!(e.to_string().contains("neither 0 nor 1"), "{e}");
    let r = turn.get(h).unwrap();
    assert!(matches!(r.as_array::<bool>(), Err(Error::Corrupt { .. })));
    assert!(r.to_value().is_err());
    assert!(matches!(
        turn.array_mut::<bool>(h),
        Err(Error::Corrupt { .. })
    ));
    // The bytes themselves can still be read (as a peer might repair them).
    let Ok(crate::ValueRef::Array(a)) = turn.get(h) else {
        panic!("an array")
    };
    assert_eq!(a.as_bytes().unwrap(), &[1, 2, 1, 1]);
}

#[test]
fn out_of_memory_leaves_nothing_behind() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let before = turn.validate().unwrap();
    let e = turn
        .put_message(&Value::array(&[1 << 20], &vec![0u8; 1 << 20]).unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
    assert_eq!(turn.validate().unwrap(), before);
}

#[test]
fn any_array_ref_gives_type_shape_and_bytes() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let h = own(
        &mut turn,
        &Value::array(&[2, 2], &[1i16, -2, 3, -4]).unwrap(),
    );
    let Ok(crate::ValueRef::Array(a)) = turn.get(h) else {
        panic!("an array")
    };
    assert_eq!(a.dtype(), Dtype::I16);
    assert_eq!(a.dtype().name(), "int16");
    assert_eq!((a.shape(), a.len()), (&[2, 2][..], 4));
    assert_eq!(
        a.as_bytes().unwrap(),
        bytemuck::cast_slice::<i16, u8>(&[1i16, -2, 3, -4])
    );
    assert_eq!(a.as_mut_ptr().unwrap() as usize % 64, 0);
    assert_eq!(a.handle(), Some(h));
    assert_eq!(
        a.to_array().unwrap().as_slice::<i16>().unwrap(),
        &[1, -2, 3, -4]
    );
    for d in Dtype::ALL {
        assert_eq!(Dtype::from_code(d.code()), Some(d));
    }
    assert_eq!(Dtype::from_code(0), None);
    assert_eq!(Dtype::from_code(12), None);
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_views_have_the_shape() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let h = own(&mut turn, &Value::array(&[2, 3, 4], &data).unwrap());
    {
        let mut a = turn.array_mut::<f32>(h).unwrap();
        let mut v = a.view_mut();
        assert_eq!(v.shape(), &[2, 3, 4]);
        v[[1, 2, 3]] = -1.0;
        v.index_axis_mut(ndarray::Axis(0), 0).fill(7.0);
    }
    let r = turn.get(h).unwrap();
    let a = r.as_array::<f32>().unwrap();
    let v = a.view();
    assert_eq!(v.shape(), &[2, 3, 4]);
    assert_eq!(v[[1, 2, 3]], -1.0);
    assert_eq!(v[[0, 1, 1]], 7.0);
    assert_eq!(v[[1, 0, 0]], 12.0);
    assert_eq!(a[23], -1.0);
    let zero_d = own(&mut turn, &Value::array(&[], &[5u8]).unwrap());
    let r = turn.get(zero_d).unwrap();
    assert_eq!(r.as_array::<u8>().unwrap().view().ndim(), 0);
}

/// Blocks start at any 16-aligned offset and shapes end 8-aligned: every
/// combination of the block's offset mod 64 and an odd or even `ndim`
/// gets its data aligned and inside the block.
#[test]
fn data_is_aligned_whatever_the_block_offset() {
    let s = seg();
    let mut turn = s.turn().unwrap();
    let mut seen = [false; 4];
    for filler in 0..8u64 {
        // A str of 16·filler bytes moves the next block by that much.
        own(&mut turn, &Value::Str("x".repeat(16 * filler as usize)));
        for ndim in 0..5 {
            for n in [1usize, 2, 3, 7] {
                let shape: Vec<usize> = (0..ndim).map(|d| if d == 0 { n } else { 1 }).collect();
                let len = shape.iter().product::<usize>();
                let data: Vec<u8> = (0..len as u8).collect();
                let h = own(&mut turn, &Value::array(&shape, &data).unwrap());
                seen[(h.offset() % 64 / 16) as usize] = true;
                let r = turn.get(h).unwrap();
                let a = r.as_array::<u8>().unwrap();
                assert_eq!(a.as_ptr() as usize % 64, 0);
                assert_eq!(&*a, &data[..]);
                turn.array_mut::<u8>(h).unwrap()[0] = 9;
                turn.validate().unwrap();
            }
        }
    }
    assert_eq!(seen, [true; 4], "every block offset mod 64 was tried");
}
