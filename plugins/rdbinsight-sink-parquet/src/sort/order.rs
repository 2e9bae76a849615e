//! Ordering of the rows held in memory by (db, key), by 16-byte windows of the key.
//!
//! Rows are sorted on (db, first key window); each group of rows tied on it whose keys go on is
//! then sorted on the next window, and so on (a most-significant-digit radix by windows, with a
//! pattern-defeating quicksort inside each digit). Comparisons are integer comparisons, and the
//! first window is taken when the row is added, while its key is in cache: most keys differ
//! in their first 16 bytes, so the arena is rarely read during the sort.

use anyhow::{Context, Result};

use super::rows::{db_key, LEN_BYTES};

/// Key bytes in one sort digit.
pub const WINDOW: usize = 16;

/// One row held in memory: where it starts in the arena and its current sort digit.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Database number.
    pub db: i64,
    /// Key bytes `16*level .. 16*level+16`, zero-padded, as two big-endian integers (not a
    /// `u128`, whose 16-byte alignment would make the entry 48 bytes instead of 32).
    pub window: (u64, u64),
    /// Offset of the row (its length prefix) in the arena.
    pub offset: u32,
    /// Key bytes left from this window on, capped at 17 ("more than this window").
    pub rest: u8,
}

/// The sort digit of `key` at window `level`: the window and how many bytes are left (17 for
/// "the key goes on after this window"), so that a key sorts before every longer key it begins.
#[inline]
pub fn digit(key: &[u8], level: usize) -> ((u64, u64), u8) {
    let from = (level * WINDOW).min(key.len());
    let tail = &key[from..];
    let rest = tail.len().min(WINDOW + 1) as u8;
    if let Some((hi, lo)) = tail
        .first_chunk::<8>()
        .zip(tail.get(8..).and_then(<[u8]>::first_chunk::<8>))
    {
        // A whole window: two fixed-size loads, no copy of a variable length.
        return ((u64::from_be_bytes(*hi), u64::from_be_bytes(*lo)), rest);
    }
    let n = tail.len().min(WINDOW);
    let mut b = [0u8; WINDOW];
    b[..n].copy_from_slice(&tail[..n]);
    let (hi, lo) = b.split_at(8);
    let word = |w: &[u8]| u64::from_be_bytes(w.try_into().unwrap_or_default());
    ((word(hi), word(lo)), rest)
}

/// The body length stored in front of the row at `at`, `None` when `at` is out of range.
fn len_at(arena: &[u8], at: usize) -> Option<usize> {
    let len: [u8; LEN_BYTES] = arena.get(at..at + LEN_BYTES)?.try_into().ok()?;
    Some(u32::from_le_bytes(len) as usize)
}

/// The body of `len` bytes of the row at `at` (after its length prefix).
fn body_of(arena: &[u8], at: usize, len: usize) -> Result<&[u8]> {
    let start = at + LEN_BYTES;
    start
        .checked_add(len)
        .and_then(|end| arena.get(start..end))
        .context("sort arena: row out of range")
}

/// The row body starting at `offset` in `arena` (without its length prefix).
pub fn body_at(arena: &[u8], offset: u32) -> Result<&[u8]> {
    let at = offset as usize;
    let len = len_at(arena, at).context("sort arena: row offset out of range")?;
    body_of(arena, at, len)
}

/// Rows whose lengths [`for_each_body`] loads before it touches their bodies.
const GATHER: usize = 32;

/// Calls `f` with the body of every entry's row, in the entries' order. The arena is walked
/// in sorted, so random, order: the row lengths of a block of entries are loaded first, in a
/// loop of independent loads the processor overlaps, so their cache misses are paid together
/// rather than one after the other.
pub fn for_each_body(
    entries: &[Entry],
    arena: &[u8],
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut lens = [0usize; GATHER];
    for block in entries.chunks(GATHER) {
        for (len, e) in lens.iter_mut().zip(block) {
            *len = len_at(arena, e.offset as usize).unwrap_or(usize::MAX);
        }
        for (&len, e) in lens.iter().zip(block) {
            f(body_of(arena, e.offset as usize, len)?)?;
        }
    }
    Ok(())
}

/// Sorts `entries` (digits at level 0) by (db, key) of their rows in `arena`.
pub fn sort_entries(entries: &mut [Entry], arena: &[u8]) -> Result<()> {
    entries.sort_unstable_by_key(|e| (e.db, e.window, e.rest));
    // Groups still to order at a deeper level: (start, end, level of their current digit).
    let mut todo: Vec<(usize, usize, usize)> = vec![(0, entries.len(), 0)];
    while let Some((start, end, level)) = todo.pop() {
        let mut i = start;
        while i < end {
            let first = entries[i];
            let mut j = i + 1;
            while j < end
                && entries[j].db == first.db
                && entries[j].window == first.window
                && entries[j].rest == first.rest
            {
                j += 1;
            }
            if j - i > 1 && usize::from(first.rest) > WINDOW {
                let tied = &mut entries[i..j];
                for e in tied.iter_mut() {
                    let (_, key) = db_key(body_at(arena, e.offset)?)?;
                    (e.window, e.rest) = digit(key, level + 1);
                }
                tied.sort_unstable_by_key(|e| (e.window, e.rest));
                todo.push((i, j, level + 1));
            }
            i = j;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_is_the_zero_padded_window_and_the_bytes_left() {
        let key: Vec<u8> = (1..=40u8).collect();
        for len in 0..=key.len() {
            for level in 0..3 {
                let tail = &key[(level * WINDOW).min(len)..len];
                let mut b = [0u8; WINDOW];
                let n = tail.len().min(WINDOW);
                b[..n].copy_from_slice(&tail[..n]);
                let want = (
                    (
                        u64::from_be_bytes(b[..8].try_into().unwrap()),
                        u64::from_be_bytes(b[8..].try_into().unwrap()),
                    ),
                    tail.len().min(WINDOW + 1) as u8,
                );
                assert_eq!(
                    digit(&key[..len], level),
                    want,
                    "length {len}, level {level}"
                );
            }
        }
    }

    #[test]
    fn an_entry_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    fn arena_of(rows: &[(i64, &[u8])]) -> (Vec<u8>, Vec<Entry>) {
        let mut arena = Vec::new();
        let mut entries = Vec::new();
        for &(db, key) in rows {
            let offset = arena.len() as u32;
            let mut body = vec![(db as u8) << 1, key.len() as u8];
            body.extend_from_slice(key);
            arena.extend_from_slice(&(body.len() as u32).to_le_bytes());
            arena.extend_from_slice(&body);
            let (window, rest) = digit(key, 0);
            entries.push(Entry {
                db,
                window,
                offset,
                rest,
            });
        }
        (arena, entries)
    }

    #[test]
    fn orders_like_bytes_with_shared_prefixes_and_zero_bytes() {
        let keys: Vec<Vec<u8>> = vec![
            b"session:aaaaaaaaaaaaaaaa2".to_vec(),
            b"session:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2".to_vec(),
            b"session:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1".to_vec(),
            b"session:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"session:aaaaaaaa".to_vec(),
            b"session:aaaaaaa".to_vec(),
            b"session:aaaaaaaaaaaaaaaa1".to_vec(),
            b"session:aaaaaaaaaaaaaaaa".to_vec(),
            b"session:".to_vec(),
            b"session".to_vec(),
            b"session\0".to_vec(),
            b"session:\0".to_vec(),
            b"session:\0\0\0\0\0\0\0\0".to_vec(),
            b"session:\0\0\0\0\0\0\0\0\0".to_vec(),
            b"".to_vec(),
            b"\0".to_vec(),
            vec![0xff; 30],
            vec![0xff; 29],
            b"a".to_vec(),
        ];
        let mut rows: Vec<(i64, &[u8])> = Vec::new();
        for db in [1, 0] {
            for k in &keys {
                rows.push((db, k));
            }
        }
        let (arena, mut entries) = arena_of(&rows);
        sort_entries(&mut entries, &arena).unwrap();
        let got: Vec<(i64, Vec<u8>)> = entries
            .iter()
            .map(|e| {
                let (db, k) = db_key(body_at(&arena, e.offset).unwrap()).unwrap();
                (db, k.to_vec())
            })
            .collect();
        let mut want: Vec<(i64, Vec<u8>)> = rows.iter().map(|(d, k)| (*d, k.to_vec())).collect();
        want.sort();
        assert_eq!(got, want);
    }
}
