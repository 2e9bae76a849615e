//! Ordering of the rows held in memory by (db, key), by whole 8-byte words of the key.
//!
//! Rows are sorted on (db, first key word); each group of rows tied on it whose keys go on is
//! then sorted on the next word, and so on (a most-significant-digit radix by words, with a
//! pattern-defeating quicksort inside each digit). Comparisons are integer comparisons: key
//! bytes are read once per word level, never compared with `memcmp`.

use anyhow::{Context, Result};

use super::rows::{db_key, LEN_BYTES};

/// One row held in memory: where it starts in the arena and its current sort digit.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Database number.
    pub db: i64,
    /// Key bytes `8*level .. 8*level+8`, zero-padded, big-endian.
    pub word: u64,
    /// Offset of the row (its length prefix) in the arena.
    pub offset: u32,
    /// Key bytes left from this word on, capped at 9 ("more than this word").
    pub rest: u8,
}

/// The sort digit of `key` at word `level`: the word and how many bytes are left (9 for "the
/// key goes on after this word"), so that a key sorts before every longer key it begins.
pub fn digit(key: &[u8], level: usize) -> (u64, u8) {
    let from = (level * 8).min(key.len());
    let tail = &key[from..];
    let n = tail.len().min(8);
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&tail[..n]);
    (u64::from_be_bytes(b), tail.len().min(9) as u8)
}

/// The row body starting at `offset` in `arena` (without its length prefix).
pub fn body_at(arena: &[u8], offset: u32) -> Result<&[u8]> {
    let at = offset as usize;
    let len: [u8; LEN_BYTES] = arena
        .get(at..at + LEN_BYTES)
        .and_then(|b| b.try_into().ok())
        .context("sort arena: row offset out of range")?;
    let len = u32::from_le_bytes(len) as usize;
    arena
        .get(at + LEN_BYTES..at + LEN_BYTES + len)
        .context("sort arena: row out of range")
}

/// Sorts `entries` (digits at level 0) by (db, key) of their rows in `arena`.
pub fn sort_entries(entries: &mut [Entry], arena: &[u8]) -> Result<()> {
    entries.sort_unstable_by_key(|e| (e.db, e.word, e.rest));
    // Groups still to order at a deeper level: (start, end, level of their current digit).
    let mut todo: Vec<(usize, usize, usize)> = vec![(0, entries.len(), 0)];
    while let Some((start, end, level)) = todo.pop() {
        let mut i = start;
        while i < end {
            let first = entries[i];
            let mut j = i + 1;
            while j < end
                && entries[j].db == first.db
                && entries[j].word == first.word
                && entries[j].rest == first.rest
            {
                j += 1;
            }
            if j - i > 1 && first.rest > 8 {
                let tied = &mut entries[i..j];
                for e in tied.iter_mut() {
                    let (_, key) = db_key(body_at(arena, e.offset)?)?;
                    (e.word, e.rest) = digit(key, level + 1);
                }
                tied.sort_unstable_by_key(|e| (e.word, e.rest));
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

    fn arena_of(rows: &[(i64, &[u8])]) -> (Vec<u8>, Vec<Entry>) {
        let mut arena = Vec::new();
        let mut entries = Vec::new();
        for &(db, key) in rows {
            let offset = arena.len() as u32;
            let mut body = vec![(db as u8) << 1, key.len() as u8];
            body.extend_from_slice(key);
            arena.extend_from_slice(&(body.len() as u32).to_le_bytes());
            arena.extend_from_slice(&body);
            let (word, rest) = digit(key, 0);
            entries.push(Entry {
                db,
                word,
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
