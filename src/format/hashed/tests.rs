//! Unit tests of the hashed layout (heap-backed segments, Miri-sized).
