//! POSIX shared-memory objects (`/dev/shm`) and plain files as backing.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::Mode;
use rustix::shm::OFlags;

use crate::Error;

fn io_err(op: &'static str, e: rustix::io::Errno) -> Error {
    Error::Io {
        op,
        source: io::Error::from_raw_os_error(e.raw_os_error()),
    }
}

fn shm_path(name: &str) -> String {
    format!("/{name}")
}

/// Creates the shared-memory object `name` exclusively (`O_EXCL`) with
/// `mode`, sized to `size` bytes. The pages are not touched: the object is
/// sparse and memory is used as it is written.
pub(crate) fn create_shm(name: &str, size: u64, mode: u32) -> Result<File, Error> {
    let fd = rustix::shm::open(
        shm_path(name).as_str(),
        OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
        Mode::from_bits_truncate(mode),
    )
    .map_err(|e| match e {
        rustix::io::Errno::EXIST => Error::NameTaken {
            name: name.to_owned(),
        },
        e => io_err("shm_open (create)", e),
    })?;
    if let Err(e) = rustix::fs::ftruncate(&fd, size) {
        let _ = rustix::shm::unlink(shm_path(name).as_str());
        return Err(io_err("ftruncate", e));
    }
    Ok(File::from(fd))
}

/// Opens the existing shared-memory object `name` for reading and writing.
pub(crate) fn open_shm(name: &str) -> Result<File, Error> {
    let fd = rustix::shm::open(shm_path(name).as_str(), OFlags::RDWR, Mode::empty()).map_err(
        |e| match e {
            rustix::io::Errno::NOENT => Error::NotFound {
                name: name.to_owned(),
            },
            e => io_err("shm_open", e),
        },
    )?;
    Ok(File::from(fd))
}

/// Opens the existing shared-memory object `name` for reading only (the
/// inspector's header reads and snapshots: no write access needed).
pub(crate) fn open_shm_readonly(name: &str) -> Result<File, Error> {
    let fd =
        rustix::shm::open(shm_path(name).as_str(), OFlags::RDONLY, Mode::empty()).map_err(|e| {
            match e {
                rustix::io::Errno::NOENT => Error::NotFound {
                    name: name.to_owned(),
                },
                e => io_err("shm_open (read-only)", e),
            }
        })?;
    Ok(File::from(fd))
}

/// Opens an existing plain file for reading only.
pub(crate) fn open_file_readonly(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound {
            name: path.display().to_string(),
        },
        _ => Error::Io {
            op: "open file (read-only)",
            source: e,
        },
    })
}

/// Removes the name of a shared-memory object; mappings stay valid.
pub(crate) fn unlink_shm(name: &str) -> Result<(), Error> {
    rustix::shm::unlink(shm_path(name).as_str()).map_err(|e| match e {
        rustix::io::Errno::NOENT => Error::NotFound {
            name: name.to_owned(),
        },
        e => io_err("shm_unlink", e),
    })
}

/// Creates a plain file exclusively as backing, sized to `size` (sparse).
pub(crate) fn create_file(path: &Path, size: u64, mode: u32) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::NameTaken {
                name: path.display().to_string(),
            },
            _ => Error::Io {
                op: "create file",
                source: e,
            },
        })?;
    file.set_len(size).map_err(|e| Error::Io {
        op: "set_len",
        source: e,
    })?;
    Ok(file)
}

/// Opens an existing plain file as backing.
pub(crate) fn open_file(path: &Path) -> Result<File, Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound {
                name: path.display().to_string(),
            },
            _ => Error::Io {
                op: "open file",
                source: e,
            },
        })
}
