//! Arbitrary bytes as a segment image: attach and validate return Ok or an
//! error; a valid image is then used fully. Never a panic, hang or
//! out-of-bounds access.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shmheap::__fuzz::attach_image(data);
});
