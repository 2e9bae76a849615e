//! Ordering of the rows held in memory by (db, key), by 15-byte windows of the key.
//!
//! Rows arrive db by db (an RDB file holds each db's keys together): [`Entries`] notes where
//! each db's rows start, so an entry needs no db and each db's rows are ordered on their own.
//! Rows are sorted on their first key window; each group of rows tied on it whose keys go on is
//! then sorted on the next window, and so on (a most-significant-digit radix by windows, with a
//! pattern-defeating quicksort inside each digit: a radix sort by bytes inside a window takes
//! fewer instructions but more time, its swaps all over the entries missing the cache). A
//! digit is one 128-bit integer (the window and how many key bytes are left), so a comparison
//! is one integer comparison, and the first window is taken when the row is added, while its
//! key is in cache: most keys differ in their first 15 bytes, so the arena is rarely read
//! during the sort.

use anyhow::{Context, Result};

use super::rows::{db_key, LEN_BYTES};

/// Key bytes in one sort digit.
pub const WINDOW: usize = 15;

/// One row held in memory: its current sort digit and where it starts in the arena.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The digit: key bytes `15*level .. 15*level+15`, zero-padded, big-endian, in the high
    /// 120 bits; in the low 8 bits the key bytes left from this window on, capped at 16 ("more
    /// than this window"), so that a key sorts before every longer key it begins. Two words,
    /// not a `u128`, whose 16-byte alignment would make the entry 32 bytes instead of 24.
    pub digit: (u64, u64),
    /// Offset of the row (its length prefix) in the arena.
    pub offset: u32,
}

impl Entry {
    /// The digit as one integer.
    #[inline(always)]
    fn sort_key(&self) -> u128 {
        (u128::from(self.digit.0) << 64) | u128::from(self.digit.1)
    }
}

/// The sort digit of `key` at window `level` (see [`Entry::digit`]).
#[inline]
pub fn digit(key: &[u8], level: usize) -> (u64, u64) {
    let from = (level * WINDOW).min(key.len());
    let tail = &key[from..];
    let rest = tail.len().min(WINDOW + 1) as u64;
    let (hi, lo) = match tail.first_chunk::<16>() {
        // Sixteen bytes readable: two fixed-size loads.
        Some(w) => {
            let (hi, lo) = w.split_at(8);
            (word_be(hi), word_be(lo))
        }
        None => short_window(tail),
    };
    (hi, (lo & !0xff) | rest)
}

/// The big-endian word of the eight bytes of `w`.
#[inline(always)]
fn word_be(w: &[u8]) -> u64 {
    u64::from_be_bytes(w.try_into().unwrap_or_default())
}

/// The first sixteen bytes of a window of fewer than sixteen, zero-padded, as two big-endian
/// words, from loads that overlap inside the window: copied into a zeroed buffer first, the
/// buffer's word loads would wait for the copy's stores to complete (no store forwarding).
#[inline(always)]
fn short_window(w: &[u8]) -> (u64, u64) {
    let n = w.len();
    // `w[at..at + 4]` and `w[at]`, placed as those bytes of a word of `w`'s first eight.
    let four = |at: usize| {
        u64::from(u32::from_be_bytes(
            w[at..at + 4].try_into().unwrap_or_default(),
        )) << (8 * (4 - at))
    };
    let byte = |at: usize| u64::from(w[at]) << (8 * (7 - at));
    match n {
        8 => (word_be(w), 0),
        // The first word whole; the second from the last eight bytes, moved up to its place.
        9..=15 => (word_be(&w[..8]), word_be(&w[n - 8..]) << (8 * (16 - n))),
        4..=7 => (four(0) | four(n - 4), 0),
        1..=3 => (byte(0) | byte(n / 2) | byte(n - 1), 0),
        _ => (0, 0),
    }
}

/// The rows held in memory, in order of arrival, and where each db's rows start.
#[derive(Debug, Default)]
pub struct Entries {
    /// One entry per row.
    pub list: Vec<Entry>,
    /// Each run of rows of one db: the db and the index of its first entry.
    dbs: Vec<(i64, usize)>,
}

impl Entries {
    /// Adds the entry of a row of `db`.
    #[inline]
    pub fn push(&mut self, db: i64, entry: Entry) {
        if self.dbs.last().is_none_or(|&(d, _)| d != db) {
            self.dbs.push((db, self.list.len()));
        }
        self.list.push(entry);
    }

    /// The entries so far; these start over with room for as many.
    pub fn take_sized(&mut self) -> Self {
        let next = Vec::with_capacity(self.list.len());
        let list = std::mem::replace(&mut self.list, next);
        Self {
            list,
            dbs: std::mem::take(&mut self.dbs),
        }
    }

    /// Adds the entries of `other`, whose rows were appended to the arena at `base`.
    pub fn append(&mut self, other: &Entries, base: u32) {
        for (i, &(db, start)) in other.dbs.iter().enumerate() {
            let end = other.dbs.get(i + 1).map_or(other.list.len(), |&(_, s)| s);
            if self.dbs.last().is_none_or(|&(d, _)| d != db) {
                self.dbs.push((db, self.list.len()));
            }
            self.list
                .extend(other.list[start..end].iter().map(|e| Entry {
                    digit: e.digit,
                    offset: e.offset + base,
                }));
        }
    }

    /// Removes every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.list.clear();
        self.dbs.clear();
    }

    /// Sorts the entries by (db, key) of their rows in `arena` (digits at level 0); the runs
    /// of one db are then one.
    pub fn sort(&mut self, arena: &[u8]) -> Result<()> {
        let mut ranges: Vec<(i64, std::ops::Range<usize>)> = self
            .dbs
            .iter()
            .enumerate()
            .map(|(i, &(db, start))| {
                let end = self.dbs.get(i + 1).map_or(self.list.len(), |&(_, s)| s);
                (db, start..end)
            })
            .collect();
        if !ranges.windows(2).all(|w| w[0].0 < w[1].0) {
            // Dbs out of order or one db in several runs: group the entries by db first.
            ranges.sort_by_key(|(db, _)| *db);
            let mut list = Vec::with_capacity(self.list.len());
            let mut dbs: Vec<(i64, usize)> = Vec::new();
            for (db, range) in &ranges {
                if dbs.last().is_none_or(|&(d, _)| d != *db) {
                    dbs.push((*db, list.len()));
                }
                list.extend_from_slice(&self.list[range.clone()]);
            }
            self.list = list;
            self.dbs = dbs;
            return self.sort(arena);
        }
        for (_, range) in ranges {
            sort_keys(&mut self.list[range], arena)?;
        }
        Ok(())
    }
}

/// The body length stored in front of the row at `at`, `None` when `at` is out of range.
fn len_at(arena: &[u8], at: usize) -> Option<usize> {
    let len: [u8; LEN_BYTES] = arena.get(at..at + LEN_BYTES)?.try_into().ok()?;
    Some(u32::from_le_bytes(len) as usize)
}

/// The row body starting at `offset` in `arena` (without its length prefix).
pub fn body_at(arena: &[u8], offset: u32) -> Result<&[u8]> {
    Ok(&row_at(arena, offset)?[LEN_BYTES..])
}

/// The row starting at `offset` in `arena`: its length prefix and body, framed as run files
/// and merged blocks hold rows.
pub fn row_at(arena: &[u8], offset: u32) -> Result<&[u8]> {
    let at = offset as usize;
    let len = len_at(arena, at).context("sort arena: row offset out of range")?;
    (at + LEN_BYTES)
        .checked_add(len)
        .and_then(|end| arena.get(at..end))
        .context("sort arena: row out of range")
}

/// Rows whose cache lines are loaded together ([`touch_rows`]) before they are used.
pub const GATHER: usize = 32;

/// Bytes of a cache line.
const LINE: usize = 64;

/// Loads the first two cache lines of the row of each of `entries` (most rows span two) in
/// one loop of independent loads, which the processor overlaps: rows read in sorted order lie
/// all over the arena, and their misses are then paid together rather than one after the
/// other where the rows are used.
#[inline(always)]
pub fn touch_rows(entries: &[Entry], arena: &[u8]) {
    let mut touched = 0u8;
    for e in entries {
        let at = e.offset as usize;
        touched ^= arena.get(at).copied().unwrap_or(0);
        touched ^= arena.get(at + LINE).copied().unwrap_or(0);
    }
    std::hint::black_box(touched);
}

/// Calls `f` with every entry's row (length prefix and body, see [`row_at`]), in the
/// entries' order, [`GATHER`] rows at a time loaded together first ([`touch_rows`]), until
/// `stop` says so (asked before each [`GATHER`] rows); how many rows it was called with.
pub fn for_each_row(
    entries: &[Entry],
    arena: &[u8],
    stop: impl Fn() -> bool,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<usize> {
    let mut done = 0;
    for block in entries.chunks(GATHER) {
        if stop() {
            break;
        }
        touch_rows(block, arena);
        for e in block {
            f(row_at(arena, e.offset)?)?;
        }
        done += block.len();
    }
    Ok(done)
}

/// Sorts `entries` (digits at level 0) of rows of one db by the keys of their rows in `arena`.
fn sort_keys(entries: &mut [Entry], arena: &[u8]) -> Result<()> {
    entries.sort_unstable_by_key(Entry::sort_key);
    // Groups still to order at a deeper level: (start, end, level of their current digit).
    let mut todo: Vec<(usize, usize, usize)> = vec![(0, entries.len(), 0)];
    while let Some((start, end, level)) = todo.pop() {
        let mut i = start;
        while i < end {
            let first = entries[i].digit;
            let mut j = i + 1;
            while j < end && entries[j].digit == first {
                j += 1;
            }
            if j - i > 1 && (first.1 & 0xff) as usize > WINDOW {
                let tied = &mut entries[i..j];
                for chunk in tied.chunks_mut(GATHER) {
                    touch_rows(chunk, arena);
                    for e in chunk.iter_mut() {
                        let (_, key) = db_key(body_at(arena, e.offset)?)?;
                        e.digit = digit(key, level + 1);
                    }
                }
                tied.sort_unstable_by_key(Entry::sort_key);
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
            for level in 0..4 {
                let tail = &key[(level * WINDOW).min(len)..len];
                let mut b = [0u8; 16];
                let n = tail.len().min(WINDOW);
                b[..n].copy_from_slice(&tail[..n]);
                b[15] = tail.len().min(WINDOW + 1) as u8;
                let want = (
                    u64::from_be_bytes(b[..8].try_into().unwrap()),
                    u64::from_be_bytes(b[8..].try_into().unwrap()),
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
    fn an_entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    fn arena_of(rows: &[(i64, &[u8])]) -> (Vec<u8>, Entries) {
        let mut arena = Vec::new();
        let mut entries = Entries::default();
        for &(db, key) in rows {
            let offset = arena.len() as u32;
            let body = crate::sort::rows::key_only_body(db, key);
            arena.extend_from_slice(&(body.len() as u32).to_le_bytes());
            arena.extend_from_slice(&body);
            entries.push(
                db,
                Entry {
                    digit: digit(key, 0),
                    offset,
                },
            );
        }
        (arena, entries)
    }

    /// Sorts `rows` through [`Entries`] and returns them in the order found.
    fn sorted(rows: &[(i64, &[u8])]) -> Vec<(i64, Vec<u8>)> {
        let (arena, mut entries) = arena_of(rows);
        entries.sort(&arena).unwrap();
        entries
            .list
            .iter()
            .map(|e| {
                let (db, k) = db_key(body_at(&arena, e.offset).unwrap()).unwrap();
                (db, k.to_vec())
            })
            .collect()
    }

    #[test]
    fn large_groups_sort_like_bytes() {
        // Counters, tokens, keys tied on their first window (and beyond), repeated keys, and
        // bytes of every value, in groups far larger than the ones sorted by comparisons.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for i in 0..3000u64 {
            let r = next();
            keys.push(match i % 6 {
                0 => format!("counter:{}", r % 100_000).into_bytes(),
                1 => format!("session:{:016x}{:016x}", r, next()).into_bytes(),
                2 => format!("user:profile:settings:{}", r % 500).into_bytes(),
                3 => format!("user:profile:settings:{}:x", r % 7).into_bytes(),
                4 => r.to_be_bytes()[..(r % 9) as usize].to_vec(),
                _ => vec![0xff; (r % 40) as usize],
            });
        }
        let rows: Vec<(i64, &[u8])> = keys.iter().map(|k| (0, k.as_slice())).collect();
        let mut want: Vec<(i64, Vec<u8>)> = rows.iter().map(|(d, k)| (*d, k.to_vec())).collect();
        want.sort();
        assert_eq!(sorted(&rows), want);
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
            format!("session:{}", "a".repeat(21)).into_bytes(),
            format!("session:{}", "a".repeat(22)).into_bytes(),
            format!("session:{}", "a".repeat(23)).into_bytes(),
            format!("session:{}b", "a".repeat(21)).into_bytes(),
        ];
        let mut rows: Vec<(i64, &[u8])> = Vec::new();
        // Dbs out of order, one of them in two runs.
        for db in [1, 0, 1] {
            for k in &keys {
                rows.push((db, k));
            }
        }
        let got = sorted(&rows);
        let mut want: Vec<(i64, Vec<u8>)> = rows.iter().map(|(d, k)| (*d, k.to_vec())).collect();
        want.sort();
        assert_eq!(got, want);
    }
}
