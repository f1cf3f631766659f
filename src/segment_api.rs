//! Entry points that compose the layers: attach (map, check, then validate
//! inside a turn).

use std::path::Path;

use crate::Error;
use crate::segment::{Segment, SegmentOptions};

impl Segment {
    /// Attaches to the named segment. The header and every reachable object
    /// are validated (inside a turn, so the segment is consistent); a
    /// damaged segment gives [`Error::Corrupt`] or a more specific error.
    pub fn attach(name: &str) -> Result<Segment, Error> {
        SegmentOptions::default().attach(name)
    }

    fn validated(self, validate: bool) -> Result<Segment, Error> {
        if validate {
            self.turn()?.validate()?;
        }
        Ok(self)
    }
}

impl SegmentOptions {
    /// Attaches to the named segment (validating it unless turned off).
    pub fn attach(&self, name: &str) -> Result<Segment, Error> {
        Segment::open_shm(name)?.validated(self.validate)
    }

    /// Attaches to a file-backed segment.
    pub fn attach_file(&self, path: &Path) -> Result<Segment, Error> {
        Segment::open_file(path)?.validated(self.validate)
    }
}
