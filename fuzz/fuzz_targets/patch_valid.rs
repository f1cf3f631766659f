//! A valid segment image with fuzzer-chosen byte patches (offset, value)
//! applied: exercises the validator deep inside the heap, where arbitrary
//! bytes rarely reach.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mut image = IMAGE.get_or_init(shmheap::__fuzz::sample_image).clone();
    // Patches of 3 bytes: a 16-bit offset into the used part (header area
    // after the magic, and the heap), and the byte to write.
    for p in data.chunks_exact(3) {
        let off = u16::from_le_bytes([p[0], p[1]]) as usize;
        // The first 0x8000 bytes hold the header (0x5080) and the whole used
        // heap.
        let off = off % 0x8000;
        image[off] = p[2];
    }
    let _ = shmheap::__fuzz::attach_image(&image);
});
