//! A published Parquet file read through a read-only memory mapping, as one [`Bytes`] that the
//! Parquet reader slices for its pages.
//!
//! Read through a `File`, every page (and every page header, through a small buffer) costs a
//! system call and a copy out of the page cache into freshly allocated memory, faulted in and
//! zeroed first: a seventh of the report's reading thread for the 1 GiB bench's file. Mapped,
//! a page is a slice of the page cache itself and only its decompressed form is new memory.
//! The pages of the row groups read are let go as the reading moves on
//! ([`FileBytes::release_before`]), so the process's resident memory does not grow with the
//! file.
//!
//! A mapping stays valid while the file is deleted or replaced (as publishing a new batch
//! does); only a file truncated in place while it is read would fault. Published files are
//! never rewritten in place, and where mapping is not available the file is read whole.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use bytes::Bytes;

/// The content of a file: mapped, or read into memory where mapping is not available.
pub struct FileBytes {
    bytes: Bytes,
    /// Whether `bytes` is a mapping of the file (else a copy in memory).
    mapped: bool,
}

impl FileBytes {
    /// The whole content.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Lets the system take back the memory of the first `end` bytes (whole pages only):
    /// those pages leave this process's resident memory and are read from the file again if
    /// touched. Nothing changes for content read into memory.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    pub fn release_before(&self, end: usize) {
        if !self.mapped {
            return;
        }
        // SAFETY: sysconf only reads a system constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return;
        };
        let end = end.min(self.bytes.len());
        let len = if page > 0 { end - end % page } else { 0 };
        if len == 0 {
            return;
        }
        // SAFETY: `bytes` is the whole read-only private mapping of a file (it starts on a
        // page boundary) and `len` lies within it. MADV_DONTNEED on such a mapping only drops
        // its pages from this process: every address stays mapped and reads back the file's
        // bytes, so slices into the region stay valid and unchanged. A failure (ignored)
        // leaves the pages resident.
        unsafe {
            libc::madvise(
                self.bytes.as_ptr().cast_mut().cast(),
                len,
                libc::MADV_DONTNEED,
            );
        }
    }

    /// See the Unix version: nothing to give back elsewhere.
    #[cfg(not(unix))]
    pub fn release_before(&self, _end: usize) {}
}

/// The whole content of `file` (whose name is `path`, for errors): mapped where the platform
/// allows it, else read into memory.
pub fn file_bytes(file: &File, path: &Path) -> Result<FileBytes> {
    let len = file
        .metadata()
        .with_context(|| format!("cannot read the size of {}", path.display()))?
        .len();
    let len =
        usize::try_from(len).with_context(|| format!("{} is too large to map", path.display()))?;
    if len == 0 {
        return Ok(FileBytes {
            bytes: Bytes::new(),
            mapped: false,
        });
    }
    map_or_read(file, path, len)
}

#[cfg(unix)]
fn map_or_read(file: &File, path: &Path, len: usize) -> Result<FileBytes> {
    match Mapping::new(file, len) {
        Some(mapping) => Ok(FileBytes {
            bytes: Bytes::from_owner(mapping),
            mapped: true,
        }),
        None => read_whole(file, path, len),
    }
}

#[cfg(not(unix))]
fn map_or_read(file: &File, path: &Path, len: usize) -> Result<FileBytes> {
    read_whole(file, path, len)
}

/// The first `len` bytes of `file`, read into memory.
fn read_whole(file: &File, path: &Path, len: usize) -> Result<FileBytes> {
    use std::io::Read;
    let mut data = Vec::with_capacity(len);
    file.take(len as u64)
        .read_to_end(&mut data)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(FileBytes {
        bytes: Bytes::from(data),
        mapped: false,
    })
}

/// A read-only private mapping of a whole file, unmapped when dropped.
#[cfg(unix)]
struct Mapping {
    start: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; reading it from any thread
// is as safe as reading an immutable byte slice.
#[cfg(unix)]
#[allow(unsafe_code)]
unsafe impl Send for Mapping {}
#[cfg(unix)]
#[allow(unsafe_code)]
unsafe impl Sync for Mapping {}

#[cfg(unix)]
#[allow(unsafe_code)]
impl Mapping {
    /// Maps the first `len` (> 0) bytes of `file`; None when the system refuses (the caller
    /// then reads the file instead).
    fn new(file: &File, len: usize) -> Option<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh read-only private mapping of an open descriptor, at an address the
        // kernel chooses: it aliases no Rust memory. The descriptor may be closed afterwards;
        // the mapping keeps the file open.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        let start = std::ptr::NonNull::new(start.cast::<u8>())?;
        Some(Self { start, len })
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start` points at `len` mapped, readable bytes that live until `drop`, and
        // nothing writes them through this process.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`, once; no slice of it outlives
        // `self` (Bytes keeps its owner alive while any slice exists).
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_what_the_file_holds_and_outlives_its_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&content)
            .unwrap();
        let file = File::open(&path).unwrap();
        let mapped = file_bytes(&file, &path).unwrap();
        drop(file);
        std::fs::remove_file(&path).unwrap();
        let head = mapped.bytes().slice(..20_000);
        // Released pages read back the same bytes.
        mapped.release_before(50_000);
        mapped.release_before(usize::MAX);
        assert_eq!(&head[..], &content[..20_000]);
        let tail = mapped.bytes().slice(99_000..);
        drop(mapped);
        assert_eq!(&tail[..], &content[99_000..]);
    }

    #[test]
    fn an_empty_file_is_empty_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::File::create(&path).unwrap();
        let file = File::open(&path).unwrap();
        let empty = file_bytes(&file, &path).unwrap();
        assert!(empty.bytes().is_empty());
        empty.release_before(10);
    }

    #[test]
    fn read_whole_reads_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abcdef").unwrap();
        let file = File::open(&path).unwrap();
        let read = read_whole(&file, &path, 6).unwrap();
        read.release_before(6);
        assert_eq!(&read.bytes()[..], b"abcdef");
    }
}
