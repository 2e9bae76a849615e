//! Names and directories of the Parquet layout:
//! `<dir>/cluster=<cluster>/batch=<slug>/<instance>.parquet`, written under `_tmp_batch=<slug>/`.

use std::io;
use std::path::Path;

use time::OffsetDateTime;

/// Prefix of a published batch directory.
pub const BATCH_PREFIX: &str = "batch=";
/// Prefix of a batch directory being written.
pub const TMP_BATCH_PREFIX: &str = "_tmp_batch=";
/// Prefix of a cluster directory.
pub const CLUSTER_PREFIX: &str = "cluster=";
/// Extension of a finished instance file.
pub const PARQUET_EXT: &str = ".parquet";
/// Extension of an instance file being written.
pub const TMP_EXT: &str = ".parquet.tmp";

/// The batch slug: UTC time as `YYYY-MM-DD_HH-mm-ss.SSSSSSSSSZ` (nanoseconds, so runs in the same
/// millisecond get different directories).
pub fn format_batch_dir(batch_unix_nanos: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(batch_unix_nanos as i128)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}_{:02}-{:02}-{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

/// Name of the in-progress directory of a batch.
pub fn make_tmp_batch_dir(slug: &str) -> String {
    format!("{TMP_BATCH_PREFIX}{slug}")
}

/// Name of the published directory of a batch.
pub fn make_batch_dir(slug: &str) -> String {
    format!("{BATCH_PREFIX}{slug}")
}

/// A file-name-safe form of any name (instance or cluster); see
/// [`rdbinsight_sink_api::names::safe_file_name`].
pub use rdbinsight_sink_api::names::safe_file_name as sanitize_name;

/// Instance file name (without extension): the seed's `127.0.0.1:6379` -> `127.0.0.1-6379`.
pub fn sanitize_instance_filename(instance: &str) -> String {
    sanitize_name(instance)
}

/// Creates a directory and its parents; fine if it exists.
pub fn ensure_dir(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Flushes a directory entry to disk (after renames and creations inside it).
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_slug_is_utc_with_nanoseconds() {
        // 2026-01-01T00:00:00.123456789Z
        assert_eq!(
            format_batch_dir(1_767_225_600_123_456_789),
            "2026-01-01_00-00-00.123456789Z"
        );
        assert_eq!(format_batch_dir(0), "1970-01-01_00-00-00.000000000Z");
        assert_ne!(format_batch_dir(1), format_batch_dir(2));
    }

    #[test]
    fn tmp_and_final_names() {
        assert_eq!(make_tmp_batch_dir("x"), "_tmp_batch=x");
        assert_eq!(make_batch_dir("x"), "batch=x");
    }

    #[test]
    fn instance_names_cannot_escape() {
        assert_eq!(
            sanitize_instance_filename("127.0.0.1:6379"),
            "127.0.0.1-6379"
        );
        assert_eq!(sanitize_instance_filename(".."), "%2E.");
        assert_eq!(sanitize_instance_filename("."), "%2E");
        assert_eq!(
            sanitize_instance_filename("../../etc/passwd"),
            "%2E.%2F..%2Fetc%2Fpasswd"
        );
        assert_eq!(sanitize_instance_filename("a b\0c\n"), "a%20b%00c%0A");
        assert_eq!(sanitize_instance_filename("é"), "%C3%A9");
        assert_eq!(sanitize_instance_filename(""), "%00empty");
        let long = "x".repeat(5000);
        let s = sanitize_instance_filename(&long);
        assert!(s.len() < 220 && !s.contains('/'));
        assert_ne!(s, sanitize_instance_filename(&"x".repeat(5001)));
        for name in ["a/b", "..", "a\\b", "\u{7f}"] {
            let s = sanitize_instance_filename(name);
            assert!(
                !s.contains('/') && s != ".." && s != "." && !s.starts_with('.'),
                "{s}"
            );
        }
    }

    #[test]
    fn ensure_dir_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c");
        ensure_dir(&p).unwrap();
        ensure_dir(&p).unwrap();
        assert!(p.is_dir());
    }
}
