//! Keys of sorted rows in front-coded form: each key as the number of leading bytes it shares
//! with the key of the row before it, and the bytes after those. Sorted keys share long
//! prefixes, so this form is small, and a reader that walks the keys in order (the report's
//! prefix tree) learns for free where a key starts to differ from the previous one. Readers of
//! sorted sinks (Parquet's `DELTA_BYTE_ARRAY` pages hold exactly this) hand keys over this way.

use arrow_array::{Array, BinaryArray};
use arrow_buffer::Buffer;

/// The keys of consecutive rows, front-coded.
///
/// The first key's shared length refers to the key before this chunk (the last one of the
/// previous chunk of the same stream), so chunks are walked in order by one [`KeyCursor`].
/// A chunk whose first shared length is 0 stands on its own.
#[derive(Debug, Default, Clone)]
pub struct DeltaKeys {
    shared: Vec<u32>,
    /// Length of each key's suffix; they add up to the length of `suffixes`.
    lens: Vec<u32>,
    suffixes: Suffixes,
}

/// The suffix bytes of a chunk: its own, or a slice of a buffer it shares (a decoded page's).
#[derive(Debug, Clone)]
enum Suffixes {
    Owned(Vec<u8>),
    Shared(Buffer),
}

impl Default for Suffixes {
    fn default() -> Self {
        Self::Owned(Vec::new())
    }
}

impl Suffixes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Shared(b) => b.as_slice(),
        }
    }

    /// The bytes as a vector to append to (a shared buffer is copied first).
    fn owned(&mut self) -> &mut Vec<u8> {
        if let Self::Shared(b) = self {
            *self = Self::Owned(b.as_slice().to_vec());
        }
        match self {
            Self::Owned(v) => v,
            Self::Shared(_) => unreachable!("made owned above"),
        }
    }
}

impl PartialEq for DeltaKeys {
    /// Chunks are equal when they hold the same keys the same way, wherever their bytes are.
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for DeltaKeys {}

impl DeltaKeys {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty chunk with room for `rows` keys and `bytes` suffix bytes.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self {
            shared: Vec::with_capacity(rows),
            lens: Vec::with_capacity(rows),
            suffixes: Suffixes::Owned(Vec::with_capacity(bytes)),
        }
    }

    /// A chunk of the keys whose shared lengths are `shared` and whose suffixes, `lens[i]`
    /// bytes each, lie back to back in `suffixes`, taken as they are: the buffer is shared,
    /// not copied (a decoded `DELTA_BYTE_ARRAY` page handed on whole).
    ///
    /// # Panics
    ///
    /// When `shared` and `lens` differ in length, or `lens` do not add up to the length of
    /// `suffixes`.
    pub fn from_parts(shared: Vec<u32>, lens: Vec<u32>, suffixes: Buffer) -> Self {
        check_run(&shared, &lens, suffixes.as_slice());
        Self {
            shared,
            lens,
            suffixes: Suffixes::Shared(suffixes),
        }
    }

    /// The keys of `array` (nulls as empty keys), each front-coded against the one before it;
    /// the first stands on its own.
    pub fn from_binary(array: &BinaryArray) -> Self {
        let mut out = Self::with_capacity(array.len(), array.value_data().len());
        let mut previous: &[u8] = &[];
        for i in 0..array.len() {
            let key = if array.is_valid(i) {
                array.value(i)
            } else {
                &[]
            };
            let shared = shared_len(previous, key);
            out.push(shared as u32, &key[shared..]);
            previous = key;
        }
        out
    }

    /// Appends a key: `shared` leading bytes of the key before it, then `suffix`.
    ///
    /// # Panics
    ///
    /// When `suffix` is 4 GiB or longer.
    pub fn push(&mut self, shared: u32, suffix: &[u8]) {
        let len = u32::try_from(suffix.len()).expect("a key suffix under 4 GiB");
        self.shared.push(shared);
        self.lens.push(len);
        self.suffixes.owned().extend_from_slice(suffix);
    }

    /// Appends a run of keys whose suffixes lie back to back in `suffixes`: key `i` shares
    /// `shared[i]` bytes with the key before it, and its suffix is the next `lens[i]` bytes.
    /// This is the layout of a Parquet `DELTA_BYTE_ARRAY` page: one copy for the whole run.
    ///
    /// # Panics
    ///
    /// When `shared` and `lens` differ in length, or `lens` do not add up to the length of
    /// `suffixes`.
    pub fn extend(&mut self, shared: &[u32], lens: &[u32], suffixes: &[u8]) {
        check_run(shared, lens, suffixes);
        self.shared.extend_from_slice(shared);
        self.lens.extend_from_slice(lens);
        self.suffixes.owned().extend_from_slice(suffixes);
    }

    /// The chunk as its three arrays: the shared length of every key, the length of every
    /// suffix, and the suffixes one after the other (for readers that walk them by index).
    pub fn parts(&self) -> (&[u32], &[u32], &[u8]) {
        (&self.shared, &self.lens, self.suffixes.as_slice())
    }

    /// The shared length and suffix of every key, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let suffixes = self.suffixes.as_slice();
        let mut end = 0;
        self.shared
            .iter()
            .zip(&self.lens)
            .map(move |(&shared, &len)| {
                let start = end;
                end += len as usize;
                (shared as usize, &suffixes[start..end])
            })
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether the chunk holds no key.
    pub fn is_empty(&self) -> bool {
        self.shared.is_empty()
    }

    /// Bytes of suffixes held.
    pub fn suffix_bytes(&self) -> usize {
        self.suffixes.as_slice().len()
    }

    /// Removes every key, keeping the allocations.
    pub fn clear(&mut self) {
        self.shared.clear();
        self.lens.clear();
        match &mut self.suffixes {
            Suffixes::Owned(v) => v.clear(),
            shared => *shared = Suffixes::default(),
        }
    }
}

/// Checks a run of front-coded keys: one suffix length per shared length, adding up to the
/// suffix bytes.
fn check_run(shared: &[u32], lens: &[u32], suffixes: &[u8]) {
    assert_eq!(shared.len(), lens.len(), "one suffix length per key");
    let total: u64 = lens.iter().map(|&l| u64::from(l)).sum();
    assert_eq!(
        total,
        suffixes.len() as u64,
        "suffix lengths add up to the suffix bytes"
    );
}

/// Length of the common prefix of `a` and `b` (the shared length of `b` front-coded against
/// `a`), compared eight bytes at a time.
#[inline]
pub fn shared_len(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |c: &[u8]| u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or_default());
        let diff = word(x) ^ word(y);
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + a[n..]
        .iter()
        .zip(&b[n..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Whether two short byte strings (names, the ends of keys) are equal: by whole words, the
/// last one overlapping the one before, cheaper than a `memcmp` call for a few bytes (the
/// per-row comparisons of type names and of key tails).
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let word = |s: &[u8], at: usize| {
            let bytes = s.get(at..at + 8).unwrap_or_default();
            u64::from_le_bytes(<[u8; 8]>::try_from(bytes).unwrap_or_default())
        };
        let mut at = 0;
        while at + 8 < n {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        return word(a, n - 8) == word(b, n - 8);
    }
    if n >= 4 {
        let word = |s: &[u8], at: usize| {
            let bytes = s.get(at..at + 4).unwrap_or_default();
            u32::from_le_bytes(<[u8; 4]>::try_from(bytes).unwrap_or_default())
        };
        return word(a, 0) == word(b, 0) && word(a, n - 4) == word(b, n - 4);
    }
    // 0 to 3 bytes: the first, middle and last byte are all of them.
    n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
}

/// A front-coded key stream whose shared length exceeds the key before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSharedLength {
    /// Row within the chunk.
    pub row: usize,
    /// The shared length given.
    pub shared: usize,
    /// Length of the key before it.
    pub previous_len: usize,
}

impl std::fmt::Display for BadSharedLength {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key {} shares {} bytes with a previous key of {} bytes",
            self.row, self.shared, self.previous_len
        )
    }
}

impl std::error::Error for BadSharedLength {}

/// Rebuilds the keys of consecutive [`DeltaKeys`] chunks in order, in one reused buffer.
#[derive(Debug, Default)]
pub struct KeyCursor {
    key: Vec<u8>,
}

impl KeyCursor {
    /// A cursor before the first key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f(row, key, shared)` for every key of `chunk` in order, where `row` is its index
    /// in the chunk and `shared` the number of leading bytes `key` has in common with the key
    /// before it (the prefix known to be shared: it may be shorter than the longest one).
    /// Fails, before the bad key, when a shared length exceeds the key before it.
    pub fn walk(
        &mut self,
        chunk: &DeltaKeys,
        mut f: impl FnMut(usize, &[u8], usize),
    ) -> Result<(), BadSharedLength> {
        for (i, (shared, suffix)) in chunk.iter().enumerate() {
            if shared > self.key.len() {
                return Err(BadSharedLength {
                    row: i,
                    shared,
                    previous_len: self.key.len(),
                });
            }
            self.key.truncate(shared);
            self.key.extend_from_slice(suffix);
            f(i, &self.key, shared);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_all(chunks: &[DeltaKeys]) -> Vec<(Vec<u8>, usize)> {
        let mut cursor = KeyCursor::new();
        let mut out = Vec::new();
        for c in chunks {
            cursor
                .walk(c, |_, k, shared| out.push((k.to_vec(), shared)))
                .unwrap();
        }
        out
    }

    #[test]
    fn same_bytes_agrees_with_slice_equality() {
        let text = b"user:12345:profile:0123456789abcdef-xyz";
        for a in 0..text.len() {
            for b in a..=text.len() {
                for c in 0..text.len() {
                    let d = (c + b - a).min(text.len());
                    let (x, y) = (&text[a..b], &text[c..d]);
                    assert_eq!(same_bytes(x, y), x == y, "{x:?} {y:?}");
                }
            }
        }
        let mut flipped = text.to_vec();
        for i in 0..flipped.len() {
            flipped[i] ^= 1;
            assert!(!same_bytes(text, &flipped), "byte {i}");
            flipped[i] ^= 1;
        }
    }

    #[test]
    fn keys_come_back_across_chunks() {
        let mut a = DeltaKeys::new();
        a.push(0, b"user:1");
        a.push(5, b"10");
        let mut b = DeltaKeys::new();
        b.push(6, b"1:x");
        b.push(0, b"");
        let keys = walk_all(&[a, b]);
        let want: Vec<(Vec<u8>, usize)> = vec![
            (b"user:1".to_vec(), 0),
            (b"user:10".to_vec(), 5),
            (b"user:11:x".to_vec(), 6),
            (b"".to_vec(), 0),
        ];
        assert_eq!(keys, want);
    }

    #[test]
    fn runs_are_appended_as_pushed_keys() {
        let mut pushed = DeltaKeys::new();
        pushed.push(0, b"x");
        pushed.push(0, b"ab");
        pushed.push(1, b"c");
        pushed.push(2, b"");
        let mut run = DeltaKeys::new();
        run.push(0, b"x");
        run.extend(&[0, 1, 2], &[2, 1, 0], b"abc");
        assert_eq!(run, pushed);
    }

    #[test]
    fn shared_suffix_buffers_hold_the_same_keys_as_copied_ones() {
        let mut copied = DeltaKeys::new();
        copied.extend(&[0, 1, 2], &[2, 1, 0], b"abc");
        let page = Buffer::from(b"..abc..".to_vec());
        let shared =
            DeltaKeys::from_parts(vec![0, 1, 2], vec![2, 1, 0], page.slice_with_length(2, 3));
        assert_eq!(shared, copied);
        assert_eq!(shared.suffix_bytes(), 3);
        assert_eq!(
            walk_all(std::slice::from_ref(&shared)),
            walk_all(std::slice::from_ref(&copied))
        );
        // Appending to a shared chunk copies its bytes first; the buffer is left as it was.
        let (mut grown, mut want) = (shared.clone(), copied);
        grown.push(1, b"yz");
        want.push(1, b"yz");
        assert_eq!(grown, want);
        assert_eq!(page.as_slice(), b"..abc..");
        grown.clear();
        assert!(grown.is_empty() && grown.suffix_bytes() == 0);
    }

    #[test]
    #[should_panic(expected = "suffix lengths add up")]
    fn shared_suffixes_must_match_their_lengths() {
        DeltaKeys::from_parts(vec![0], vec![4], Buffer::from(b"abc".to_vec()));
    }

    #[test]
    fn shared_lengths_across_words() {
        let a = b"user:123456789:profile";
        for n in 0..=a.len() {
            let mut b = a.to_vec();
            if n < b.len() {
                b[n] ^= 1;
            }
            assert_eq!(shared_len(a, &b), n);
            assert_eq!(shared_len(&a[..n], a), n);
        }
    }

    #[test]
    fn binary_arrays_are_front_coded() {
        let array = BinaryArray::from_opt_vec(vec![
            Some(b"a:1".as_slice()),
            Some(b"a:12"),
            None,
            Some(b"b"),
        ]);
        let chunk = DeltaKeys::from_binary(&array);
        assert_eq!(chunk.suffix_bytes(), 3 + 1 + 1);
        let keys = walk_all(&[chunk]);
        assert_eq!(keys[1], (b"a:12".to_vec(), 3));
        assert_eq!(keys[2], (Vec::new(), 0));
        assert_eq!(keys[3], (b"b".to_vec(), 0));
    }

    #[test]
    fn a_shared_length_beyond_the_previous_key_is_an_error() {
        let mut c = DeltaKeys::new();
        c.push(0, b"ab");
        c.push(3, b"c");
        let err = KeyCursor::new().walk(&c, |_, _, _| {}).unwrap_err();
        assert_eq!(
            err,
            BadSharedLength {
                row: 1,
                shared: 3,
                previous_len: 2
            }
        );
    }
}
