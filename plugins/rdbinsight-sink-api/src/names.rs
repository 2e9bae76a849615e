//! Names made safe for the file system, and a small stable hash: instance and cluster names come
//! from the network (CLUSTER NODES, a Codis dashboard) and may hold any byte.

/// Longest escaped name kept whole; longer ones are cut and given a hash suffix.
pub const MAX_NAME: usize = 180;

/// FNV-1a, 64 bits: a short, stable tag of some bytes (not for security).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A file-name-safe form of any name (instance or cluster): `:` becomes `-`; ASCII letters,
/// digits, `.`, `-`, `_` stay; every other byte (separators, control bytes, spaces, `%`,
/// non-ASCII) becomes `%XX`; a leading `.` is escaped so no name is `.`/`..` or hidden; names
/// longer than [`MAX_NAME`] are cut and suffixed with a hash of the whole name.
pub fn safe_file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        match b {
            b':' => out.push('-'),
            b'.' if i == 0 => out.push_str("%2E"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if out.is_empty() {
        out.push_str("%00empty");
    }
    if out.len() > MAX_NAME {
        let hash = fnv1a64(name.as_bytes());
        out.truncate(MAX_NAME);
        out.push_str(&format!("~{hash:016x}"));
    }
    out
}
