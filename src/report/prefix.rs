//! Key-prefix tree for the flame graph, in bounded memory: keys are split after delimiters,
//! id-like segments (numbers, long hex, UUIDs) are folded into `*`, depth is capped, and each
//! node keeps at most [`MAX_CHILDREN`] children (the rest go to an `(other)` child).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Child lookups hash segment names millions of times (every key of a node whose children
/// are random tokens misses): eight bytes per multiplication. The names come from the keys,
/// so collisions could be forced, but a node holds at most [`MAX_CHILDREN`] of them.
#[derive(Default)]
struct WordHasher(u64);

/// An odd constant with well-spread bits (the one of rustc's Fx hash).
const SEED: u64 = 0x517c_c1b7_2722_0a95;

impl WordHasher {
    #[inline(always)]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(
                <[u8; 8]>::try_from(w).unwrap_or_default(),
            ));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

type FastMap = HashMap<Vec<u8>, usize, BuildHasherDefault<WordHasher>>;

use serde::Serialize;

use anyhow::Context;
use rdbinsight_sink_api::keys::{same_bytes, shared_len, DeltaKeys};

use super::aggregate::Tally;

/// Most children per node before the rest are folded into `(other)`.
pub const MAX_CHILDREN: usize = 200;
/// Deepest level kept.
pub const MAX_DEPTH: usize = 6;
/// Name of the folded child.
pub const OTHER: &str = "(other)";

/// One node: the prefix segment and the totals of keys under it.
#[derive(Debug, Default, Serialize)]
pub struct Node {
    /// Segment text (delimiter included).
    pub name: String,
    /// Keys under this prefix.
    pub keys: u64,
    /// Sum of rdb_size under this prefix.
    pub bytes: u64,
    /// Children, largest first once finished.
    pub children: Vec<Node>,
    #[serde(skip)]
    index: FastMap,
    /// The index of the `(other)` child, once there is one.
    #[serde(skip)]
    other: Option<usize>,
}

impl Node {
    fn child(&mut self, name: &[u8]) -> &mut Node {
        let idx = self.child_index(name);
        &mut self.children[idx]
    }

    /// The index of the child named `name` (UTF-8; created, or `(other)` when the node is
    /// full).
    fn child_index(&mut self, name: &[u8]) -> usize {
        // A few children (the usual case: `attrs` and `profile` under `user:*:`) are found
        // faster by comparing names than by hashing.
        if self.children.len() <= 8 {
            if let Some(i) = self.children.iter().position(|c| c.name.as_bytes() == name) {
                return i;
            }
        }
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let full = self.children.len() >= MAX_CHILDREN;
        if full {
            if let Some(i) = self.other {
                return i;
            }
        }
        let name = if full { OTHER.as_bytes() } else { name };
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.children.push(Node {
                    name: String::from_utf8_lossy(name).into_owned(),
                    ..Node::default()
                });
                self.index.insert(name.to_vec(), self.children.len() - 1);
                self.children.len() - 1
            }
        };
        if full {
            self.other = Some(i);
        }
        i
    }

    /// Sorts children by size and drops lookup tables (call once, at the end).
    pub fn finish(&mut self) {
        self.index = FastMap::default();
        self.other = None;
        self.children
            .sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        for c in &mut self.children {
            c.finish();
        }
    }

    /// Number of nodes in the tree.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(Node::count).sum::<usize>()
    }
}

/// Whether a segment (without its delimiter) looks like an id: digits, or 8+ hex digits/dashes.
fn is_id_like(core: &str) -> bool {
    let bytes = core.as_bytes();
    id_like(
        bytes.len(),
        bytes.iter().all(u8::is_ascii_digit),
        bytes.iter().all(|&b| b.is_ascii_hexdigit() || b == b'-'),
    )
}

/// The id rule on what a pass over a segment core found: its length, whether its bytes are all
/// digits, and whether they are all hex digits or dashes.
fn id_like(len: usize, digits: bool, hex: bool) -> bool {
    len > 0 && (digits || (hex && len >= 8))
}

/// The node name of a key segment (UTF-8; `id_like` tells whether `seg` without its trailing
/// delimiter `delim` is id-like): `*<delimiter>` for id-like segments, else the segment cut at
/// 64 characters. `scratch` holds the folded name.
fn segment_name<'a>(
    seg: &'a [u8],
    id_like: bool,
    delim: Option<char>,
    scratch: &'a mut Vec<u8>,
) -> &'a [u8] {
    if id_like {
        scratch.clear();
        scratch.push(b'*');
        if let Some(d) = delim {
            scratch.extend_from_slice(d.encode_utf8(&mut [0; 4]).as_bytes());
        }
        scratch
    } else if seg.len() <= 64 {
        seg
    } else if seg.is_ascii() {
        &seg[..64]
    } else {
        let end = std::str::from_utf8(seg)
            .ok()
            .and_then(|t| t.char_indices().nth(64))
            .map_or(seg.len(), |(i, _)| i);
        &seg[..end]
    }
}

/// Where the first delimiter of `bytes` is (if any), and whether the bytes before it are all
/// digits, and all hex digits or dashes, looked up byte by byte in `classes`.
#[inline(always)]
fn scan_bytes(bytes: &[u8], classes: &[u8; 256]) -> (Option<usize>, bool, bool) {
    let (mut digits, mut hex) = (true, true);
    for (i, &b) in bytes.iter().enumerate() {
        let class = classes[b as usize];
        if class & DELIMITER != 0 {
            return (Some(i), digits, hex);
        }
        digits &= class & DIGIT != 0;
        hex &= class & HEX != 0;
    }
    (None, digits, hex)
}

/// A byte of ones in every lane.
const LANES: u64 = 0x0101_0101_0101_0101;
/// The top bit of every lane.
const TOPS: u64 = 0x8080_8080_8080_8080;

/// The top bit of every byte of `x` from `lo` to `hi`, for the bytes that are ASCII (a byte of
/// 0x80 or more may carry into the next one's result: callers reject such words).
#[inline(always)]
fn lanes_between(x: u64, lo: u8, hi: u8) -> u64 {
    x.wrapping_add(LANES * u64::from(0x80 - lo))
        & !x.wrapping_add(LANES * u64::from(0x7f - hi))
        & TOPS
}

/// Whether every byte of `bytes` (eight or more) is a hex digit, and if so whether every one
/// is a decimal digit; eight bytes at a time, without a branch per byte (which long random
/// ids, such as session tokens, would mispredict).
#[inline(always)]
fn hex_words(bytes: &[u8]) -> Option<bool> {
    let word = |at: usize| {
        let lanes = bytes.get(at..at + 8).unwrap_or_default();
        u64::from_le_bytes(<[u8; 8]>::try_from(lanes).unwrap_or_default())
    };
    // Whole words, then the last eight bytes (overlapping the words before when the length
    // is not a multiple of eight).
    let last = bytes.len().checked_sub(8)?;
    let (mut hex, mut digits) = (TOPS, TOPS);
    let mut at = 0;
    loop {
        let w = word(at.min(last));
        let digit = lanes_between(w, b'0', b'9');
        // Clearing bit 5 maps `a`-`f` onto `A`-`F` (and nothing else onto them).
        let letter = lanes_between(w & !(LANES * 0x20), b'A', b'F');
        // Only ASCII lanes: a byte of 0x80 or more would carry into its neighbour.
        let ascii = !w & TOPS;
        hex &= (digit | letter) & ascii;
        digits &= digit & ascii;
        if hex != TOPS {
            return None;
        }
        if at >= last {
            return Some(digits == TOPS);
        }
        at += 8;
    }
}

/// Copies `src` into `dst` (of the same length): up to 32 bytes as two overlapping copies of
/// a fixed size (a library call costs more than the bytes of an id or a token).
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n != dst.len() {
        return;
    }
    macro_rules! two_copies {
        ($w:literal) => {{
            dst[..$w].copy_from_slice(&src[..$w]);
            dst[n - $w..].copy_from_slice(&src[n - $w..]);
        }};
    }
    // (A loop over the bytes would be turned into a library call by the compiler.)
    match n {
        0 => {}
        1 => dst[0] = src[0],
        2..=4 => two_copies!(2),
        5..=8 => two_copies!(4),
        9..=16 => two_copies!(8),
        17..=32 => two_copies!(16),
        _ => dst.copy_from_slice(src),
    }
}

/// Makes `key` its first `at` bytes and then `bytes`.
#[inline(always)]
fn put_at(key: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let len = at + bytes.len();
    if len <= key.len() {
        key.truncate(len);
    } else {
        key.resize(len, 0);
    }
    if let Some(tail) = key.get_mut(at..len) {
        copy_short(tail, bytes);
    }
}

/// Whether the key made of the first `shared` bytes of the key in `key` and then `suffix`
/// takes that key's path, differing from it only inside `run`'s segment, which ends at `end`
/// in it and whose core is known to be `kind`: the new bytes of the segment keep it id-like,
/// and the same delimiter and the same bytes follow it (or, for a last segment running to
/// the key's end, no delimiter comes). Then `key` holds the new key, and the segment's new
/// kind and end are returned; else nothing changes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn follow(
    key: &mut Vec<u8>,
    classes: &[u8; 256],
    hex_delimiters: bool,
    run: &Run,
    kind: IdKind,
    end: usize,
    shared: usize,
    suffix: &[u8],
) -> Option<(IdKind, usize)> {
    if shared < run.start {
        return None;
    }
    // The shared bytes of the segment are a prefix of its old core: what held for all of it
    // holds for them.
    let words = if suffix.len() >= 16 && !hex_delimiters {
        hex_words(suffix)
    } else {
        None
    };
    let (found, suffix_digits, suffix_hex) = match words {
        // No delimiter is a hex digit (see `hex_delimiters`).
        Some(digits) => (None, digits, true),
        None => scan_bytes(suffix, classes),
    };
    // What the new core is known to be (a `true` always holds; a `false` may be too cautious,
    // which only sends a later key down the general path).
    let kind = IdKind {
        digits: kind.digits && suffix_digits,
        hex: kind.hex && suffix_hex,
    };
    let new_end = match run.delimiter {
        Some(d) => {
            // The same delimiter, then the same bytes as before.
            let i = found?;
            let tail = key.get(end..).unwrap_or_default();
            if shared >= end
                || !id_like(shared - run.start + i, kind.digits, kind.hex)
                || suffix[i] != d
                || !same_bytes(&suffix[i + 1..], tail)
            {
                return None;
            }
            let new_end = shared + i + 1;
            // The bytes after the segment stay; the segment's new bytes replace the old.
            if new_end == end {
                copy_short(&mut key[shared..new_end], &suffix[..i + 1]);
            } else {
                put_at(key, shared, suffix);
            }
            new_end
        }
        None => {
            // A last segment that ran to the end of the key still does.
            if found.is_some()
                || shared > key.len()
                || !id_like(shared - run.start + suffix.len(), kind.digits, kind.hex)
            {
                return None;
            }
            put_at(key, shared, suffix);
            key.len()
        }
    };
    Some((kind, new_end))
}

/// One step of the previous key's path.
struct Step {
    /// Node name taken.
    name: Vec<u8>,
    /// Child index taken.
    idx: usize,
    /// Offset in the key just past the segment.
    end: usize,
    /// Whether the segment ended with a delimiter.
    delimited: bool,
    /// Whether the segment was folded into `*` as id-like, and what its core (without the
    /// delimiter) is known to be.
    id: Option<IdKind>,
}

/// The id-like step of the previous key's path that [`PrefixTree::add_run`] lets vary.
struct Run {
    /// Its index in the path.
    step: usize,
    /// Where its segment starts in the key.
    start: usize,
    /// The delimiter that ends it, or None for a last segment running to the key's end.
    delimiter: Option<u8>,
    /// What its core is known to be.
    kind: IdKind,
}

/// What made an id-like segment one, to tell whether the next key's segment, which shares its
/// first bytes, still is. A `true` always holds; a `false` may only be unknown.
#[derive(Clone, Copy)]
struct IdKind {
    /// All ASCII digits.
    digits: bool,
    /// All hex digits or dashes.
    hex: bool,
}

/// Byte class: one of the delimiters.
const DELIMITER: u8 = 1;
/// Byte class: an ASCII digit.
const DIGIT: u8 = 2;
/// Byte class: an ASCII hex digit or `-` (what [`is_id_like`] accepts in long ids).
const HEX: u8 = 4;

/// The class of every byte, for ASCII `delimiters`.
fn byte_classes(delimiters: &str) -> [u8; 256] {
    let mut classes = [0u8; 256];
    for (b, class) in classes.iter_mut().enumerate() {
        let b = b as u8;
        if b.is_ascii_digit() {
            *class |= DIGIT;
        }
        if b.is_ascii_hexdigit() || b == b'-' {
            *class |= HEX;
        }
    }
    for b in delimiters.bytes() {
        classes[b as usize] |= DELIMITER;
    }
    classes
}

/// Where a key's next segment ends.
struct Cut {
    /// Length of the segment, delimiter included.
    len: usize,
    /// The delimiter that ends it, if one does.
    delimiter: Option<char>,
    /// Whether the segment without its delimiter looks like an id.
    id_like: bool,
    /// Whether the segment without its delimiter is all ASCII digits.
    digits: bool,
    /// Whether the segment without its delimiter is all hex digits or dashes.
    hex: bool,
}

/// Delimiters keys are split after, unless configured otherwise.
pub const DEFAULT_DELIMITERS: &str = ":/.|-_";

/// Builds the tree.
pub struct PrefixTree {
    root: Node,
    delimiters: Vec<char>,
    /// Reused for `*<delimiter>` names.
    scratch: Vec<u8>,
    /// Byte classes ([`DELIMITER`], [`DIGIT`], [`HEX`]) when the delimiters are all ASCII
    /// (the fast path: one pass over a segment finds its end and whether it is id-like).
    classes: Option<[u8; 256]>,
    /// The previous key's path: the node name and child index taken at each depth. Keys
    /// arrive sorted, so the next key's names usually match from the top, and each match
    /// skips a child lookup.
    path: Vec<Step>,
    /// Whether the previous key was valid UTF-8 (taken as it is): then the leading segments
    /// of its path that ended with a delimiter inside the bytes the next key shares with it
    /// are taken without a look.
    last_valid: bool,
    /// Whether the previous key was all ASCII (the condition of [`PrefixTree::same_path`]).
    last_ascii: bool,
    /// The previous key, as read (the next one is built from its first bytes).
    key: Vec<u8>,
    /// Keys that took the previous key's path, not yet counted in its nodes.
    pending: Tally,
    /// Whether a delimiter is a hex digit (then a run of hex digits may hold one).
    hex_delimiters: bool,
    /// Calls of [`PrefixTree::add_run`] still to answer without a try.
    run_skip: usize,
    /// Calls to skip after the next try that takes no key.
    run_backoff: usize,
    /// The key before the previous one, with its path, when its shape differs (see
    /// [`PrefixTree::add_front_coded`]).
    alternate: Alternate,
    /// Reused for the next key in full.
    next: Vec<u8>,
    /// Keys walked from the top (by [`PrefixTree::add_text`]), for tests.
    #[cfg(test)]
    walks: usize,
}

/// What [`PrefixTree`] keeps of the key before the previous one: its `key`, `path`,
/// `pending`, `last_valid` and `last_ascii`.
#[derive(Default)]
struct Alternate {
    key: Vec<u8>,
    path: Vec<Step>,
    pending: Tally,
    last_valid: bool,
    last_ascii: bool,
}

/// Most calls of [`PrefixTree::add_run`] skipped after a try that takes no key.
const MAX_RUN_BACKOFF: usize = 16;

/// A front-coded key that claims more bytes of the previous key than it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTooLong {
    /// The shared length given.
    pub shared: usize,
    /// Length of the previous key.
    pub previous_len: usize,
}

impl std::fmt::Display for SharedTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a key shares {} bytes with a previous key of {} bytes",
            self.shared, self.previous_len
        )
    }
}

impl std::error::Error for SharedTooLong {}

impl PrefixTree {
    /// A tree splitting after any of `delimiters`.
    pub fn new(delimiters: &str) -> Self {
        Self {
            root: Node {
                name: "(all)".into(),
                ..Node::default()
            },
            delimiters: delimiters.chars().collect(),
            scratch: Vec::new(),
            last_valid: false,
            last_ascii: false,
            key: Vec::new(),
            pending: Tally::default(),
            hex_delimiters: delimiters.chars().any(|c| c.is_ascii_hexdigit()),
            run_skip: 0,
            run_backoff: 1,
            alternate: Alternate::default(),
            next: Vec::new(),
            #[cfg(test)]
            walks: 0,
            path: Vec::with_capacity(MAX_DEPTH),
            classes: delimiters.is_ascii().then(|| byte_classes(delimiters)),
        }
    }

    /// Where the segment at the start of `rest` (UTF-8, at `depth`) ends, its delimiter, and
    /// whether it is id-like.
    fn cut(classes: Option<&[u8; 256]>, delimiters: &[char], rest: &[u8], depth: usize) -> Cut {
        if let Some(classes) = classes {
            // ASCII bytes never occur inside multi-byte UTF-8 sequences.
            let (found, digits, hex) = scan_bytes(rest, classes);
            if found.is_some() || depth > 0 || rest.len() <= 4 {
                let core = found.unwrap_or(rest.len());
                return Cut {
                    len: found.map_or(rest.len(), |i| i + 1),
                    delimiter: found.map(|i| char::from(rest[i])),
                    id_like: id_like(core, digits, hex),
                    digits,
                    hex,
                };
            }
        }
        // Delimiters beyond ASCII, or a top segment without delimiter: by characters.
        let text = std::str::from_utf8(rest).unwrap_or_default();
        let found = text.char_indices().find(|(_, c)| delimiters.contains(c));
        let mut len = found.map_or(text.len(), |(i, c)| i + c.len_utf8());
        // No delimiter at the top: group by the first characters instead.
        if depth == 0 && found.is_none() && text.len() > 4 {
            len = text.char_indices().nth(3).map_or(text.len(), |(i, _)| i);
        }
        let delimiter = found
            .filter(|(i, c)| i + c.len_utf8() == len)
            .map(|(_, c)| c);
        let core = &text[..len - delimiter.map_or(0, char::len_utf8)];
        Cut {
            // Never empty, so that every step moves on (only invalid UTF-8 could make it so).
            len: len.max(1).min(rest.len()),
            delimiter,
            id_like: is_id_like(core),
            digits: core.bytes().all(|b| b.is_ascii_digit()),
            hex: core.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
        }
    }

    /// Adds one key.
    pub fn add(&mut self, key: &[u8], bytes: u64) {
        let shared = shared_len(&self.key, key);
        // `shared` never exceeds the previous key's length.
        let _ = self.add_front_coded(shared, &key[shared..], bytes);
    }

    /// The key added last (as read).
    pub fn last_key(&self) -> &[u8] {
        &self.key
    }

    /// Adds the key made of the first `shared` bytes of the key added before it and then
    /// `suffix` (any `shared` up to their longest common prefix works; 0 always does). Fails,
    /// adding nothing, when `shared` exceeds the previous key.
    #[inline(always)]
    pub fn add_front_coded(
        &mut self,
        shared: usize,
        suffix: &[u8],
        bytes: u64,
    ) -> Result<(), SharedTooLong> {
        if shared > self.key.len() {
            return Err(SharedTooLong {
                shared,
                previous_len: self.key.len(),
            });
        }
        if self.same_path(shared, suffix, bytes) {
            return Ok(());
        }
        let mut next = std::mem::take(&mut self.next);
        next.clear();
        next.extend_from_slice(&self.key[..shared]);
        next.extend_from_slice(suffix);
        // Keys of two shapes may take turns (`user:1:attrs`, `user:1:profile`,
        // `user:10:attrs`, `user:10:profile`...): the key before the previous one may have
        // the path the new key takes; else the new key is added afresh in its place, and the
        // previous key becomes the one before.
        self.swap_alternate();
        let shared = shared_len(&self.key, &next);
        if !self.same_path(shared, &next[shared..], bytes) {
            self.add_text(&next, shared, bytes);
            std::mem::swap(&mut self.key, &mut next);
        }
        self.next = next;
        Ok(())
    }

    /// Swaps the previous key (and its path) with the one before it.
    fn swap_alternate(&mut self) {
        let a = &mut self.alternate;
        std::mem::swap(&mut self.key, &mut a.key);
        std::mem::swap(&mut self.path, &mut a.path);
        std::mem::swap(&mut self.pending, &mut a.pending);
        std::mem::swap(&mut self.last_valid, &mut a.last_valid);
        std::mem::swap(&mut self.last_ascii, &mut a.last_ascii);
    }

    /// The fast path of sorted keys such as `user:1001:profile` after `user:1000:profile`:
    /// when the new key differs from the previous one only inside an id-like segment that
    /// stays id-like with the same delimiter, and everything after that segment is the same
    /// bytes, the key takes the previous key's path. Counts the key along that path and
    /// returns true then, the key buffer holding the new key; returns false, changing
    /// nothing, otherwise.
    #[inline(always)]
    fn same_path(&mut self, shared: usize, suffix: &[u8], bytes: u64) -> bool {
        let Some(classes) = self.classes.as_ref() else {
            return false;
        };
        // The new key is ASCII too when the fast path takes it: its shared bytes come from
        // the previous key, its new core is digits or hex digits, and the rest is the previous
        // key's bytes again.
        if !self.last_ascii {
            return false;
        }
        // The first step the new bytes reach (every one before it ends with its delimiter
        // inside the shared bytes).
        let j = self
            .path
            .iter()
            .position(|s| !(s.delimited && s.end <= shared))
            .unwrap_or(self.path.len());
        let Some(run) = self.run_at(j) else {
            return false;
        };
        let old_end = self.path[j].end;
        let Some((kind, new_end)) = follow(
            &mut self.key,
            classes,
            self.hex_delimiters,
            &run,
            run.kind,
            old_end,
            shared,
            suffix,
        ) else {
            return false;
        };
        for s in &mut self.path[j..] {
            s.end = s.end - old_end + new_end;
        }
        self.path[j].id = Some(kind);
        self.pending.add(bytes);
        true
    }

    /// Adds a chunk of front-coded keys, key `i` of size `sizes[i]` (the chunk's first key
    /// follows the key added last): runs of keys by [`PrefixTree::add_run`], any other key
    /// (those `stop(i)` stops a run at too) by [`PrefixTree::add_front_coded`], after which
    /// `added(i, key)` is called with it. Returns how many keys went by runs. Fails on keys
    /// and sizes of different lengths, or on a key that claims more of the key before it than
    /// that key has.
    #[inline(always)]
    pub fn add_keys(
        &mut self,
        keys: &DeltaKeys,
        sizes: &[i64],
        stop: impl Fn(usize) -> bool,
        mut added: impl FnMut(usize, &[u8]),
    ) -> anyhow::Result<usize> {
        let (shared, lens, suffixes) = keys.parts();
        anyhow::ensure!(
            shared.len() == sizes.len(),
            "{} keys with {} sizes",
            shared.len(),
            sizes.len()
        );
        let n = shared.len();
        let (mut i, mut at, mut by_runs) = (0, 0, 0);
        // The first key at or after `i` that stops runs (`stop` is asked once per key).
        let mut next_stop = (0..n).find(|&k| stop(k)).unwrap_or(n);
        while i < n {
            if next_stop < i {
                next_stop = (i..n).find(|&k| stop(k)).unwrap_or(n);
            }
            let (taken, bytes) = self.add_run(
                shared.get(i..).unwrap_or_default(),
                lens.get(i..).unwrap_or_default(),
                suffixes.get(at..).unwrap_or_default(),
                sizes.get(i..).unwrap_or_default(),
                next_stop - i,
            );
            by_runs += taken;
            i += taken;
            at += bytes;
            let (Some(&shared), Some(&len), Some(&size)) =
                (shared.get(i), lens.get(i), sizes.get(i))
            else {
                break;
            };
            let len = len as usize;
            let suffix = suffixes
                .get(at..at + len)
                .with_context(|| format!("the suffixes end at key {i}"))?;
            self.add_front_coded(shared as usize, suffix, size.max(0) as u64)?;
            added(i, &self.key);
            i += 1;
            at += len;
        }
        Ok(by_runs)
    }

    /// Adds the keys at the start of a front-coded run (`shared` lengths, suffix `lens`, the
    /// `suffixes` one after the other, sizes in `sizes`) for as long as each takes the
    /// previous key's path the way the last id-like segment of that path allows, up to
    /// `limit` keys (the next key stops runs); returns how many keys and suffix bytes it took. The
    /// common case of sorted keys (`user:1001:profile` after `user:1000:profile`,
    /// `counter:17` after `counter:16`) with what [`PrefixTree::same_path`] works out for
    /// each key worked out once: a key taken here is one `same_path` takes, with the same
    /// outcome; the first other key is left to [`PrefixTree::add_front_coded`].
    fn add_run(
        &mut self,
        shared: &[u32],
        lens: &[u32],
        suffixes: &[u8],
        sizes: &[i64],
        limit: usize,
    ) -> (usize, usize) {
        // Keys that break runs one after the other (`user:1:attrs`, `user:1:profile`,
        // `user:2:attrs`...) are left to the general way without a try, more of them after
        // each try that takes none.
        if self.run_skip > 0 {
            self.run_skip -= 1;
            return (0, 0);
        }
        let Some(run) = self.run() else {
            return (0, 0);
        };
        let Some(classes) = self.classes.as_ref() else {
            return (0, 0);
        };
        let j = run.step;
        let first_end = self.path[j].end;
        let n = shared.len().min(lens.len()).min(sizes.len());
        let stopped = limit < n;
        let (shared, lens, sizes) = (&shared[..n], &lens[..n], &sizes[..n.min(limit)]);
        let (kind, end, taken, at, tally) = match run.delimiter {
            Some(d) => Self::delimited_run(
                &mut self.key,
                classes,
                &run,
                d,
                first_end,
                shared,
                lens,
                suffixes,
                sizes,
            ),
            None => Self::last_segment_run(
                &mut self.key,
                classes,
                self.hex_delimiters,
                &run,
                first_end,
                shared,
                lens,
                suffixes,
                sizes,
            ),
        };
        let stopped = stopped && taken == limit;
        if taken > 0 {
            for s in &mut self.path[j..] {
                s.end = s.end - first_end + end;
            }
            self.path[j].id = Some(kind);
            self.pending.add_many(tally.keys, tally.bytes);
            self.run_backoff = 1;
        } else if !stopped {
            self.run_skip = self.run_backoff;
            self.run_backoff = (self.run_backoff * 2).min(MAX_RUN_BACKOFF);
        }
        (taken, at)
    }

    /// The keys [`PrefixTree::add_run`] takes when the run's segment ends with the delimiter
    /// `d` (`user:1001:profile` after `user:1000:profile`): the bytes after the segment are
    /// the same in every key of the run, so a key's new segment must end just before them;
    /// the checks of [`follow`] in the order that rejects cheapest. Returns the segment's kind
    /// and end after the last key taken, how many keys and suffix bytes were taken, and
    /// their tally.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn delimited_run(
        key: &mut Vec<u8>,
        classes: &[u8; 256],
        run: &Run,
        d: u8,
        first_end: usize,
        shared: &[u32],
        lens: &[u32],
        suffixes: &[u8],
        sizes: &[i64],
    ) -> (IdKind, usize, usize, usize, Tally) {
        let (mut kind, mut end) = (run.kind, first_end);
        let mut tally = Tally::default();
        let (mut at, mut taken) = (0, 0);
        let tail_len = key.len().saturating_sub(end);
        for ((&shared, &len), &size) in shared.iter().zip(lens).zip(sizes) {
            let (shared, len) = (shared as usize, len as usize);
            let Some(suffix) = suffixes.get(at..at + len) else {
                break;
            };
            // Where the delimiter must be: the same tail follows it.
            let Some(i) = len.checked_sub(tail_len + 1) else {
                break;
            };
            if shared < run.start
                || shared >= end
                || suffix[i] != d
                || !same_bytes(&suffix[i + 1..], key.get(end..).unwrap_or_default())
            {
                break;
            }
            // The new bytes of the segment: no delimiter among them (`d` is the first), and
            // still an id.
            let (mut delimiter, mut digits, mut hex) = (false, true, true);
            for &b in &suffix[..i] {
                let class = classes[b as usize];
                delimiter |= class & DELIMITER != 0;
                digits &= class & DIGIT != 0;
                hex &= class & HEX != 0;
            }
            let new_kind = IdKind {
                digits: kind.digits && digits,
                hex: kind.hex && hex,
            };
            if delimiter || !id_like(shared - run.start + i, new_kind.digits, new_kind.hex) {
                break;
            }
            let new_end = shared + i + 1;
            match key.get_mut(shared..end) {
                Some(segment) if new_end == end => copy_short(segment, &suffix[..=i]),
                _ => {
                    put_at(key, shared, suffix);
                    end = new_end;
                }
            }
            kind = new_kind;
            tally.add(size.max(0) as u64);
            at += len;
            taken += 1;
        }
        (kind, end, taken, at, tally)
    }

    /// The keys [`PrefixTree::add_run`] takes when the run's segment is the key's last one,
    /// without a delimiter (`counter:17` after `counter:16`), each checked by [`follow`];
    /// returns what [`PrefixTree::delimited_run`] does.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn last_segment_run(
        key: &mut Vec<u8>,
        classes: &[u8; 256],
        hex_delimiters: bool,
        run: &Run,
        first_end: usize,
        shared: &[u32],
        lens: &[u32],
        suffixes: &[u8],
        sizes: &[i64],
    ) -> (IdKind, usize, usize, usize, Tally) {
        let (mut kind, mut end) = (run.kind, first_end);
        let mut tally = Tally::default();
        let (mut at, mut taken) = (0, 0);
        for ((&shared, &len), &size) in shared.iter().zip(lens).zip(sizes) {
            let (shared, len) = (shared as usize, len as usize);
            let Some(suffix) = suffixes.get(at..at + len) else {
                break;
            };
            let followed = follow(key, classes, hex_delimiters, run, kind, end, shared, suffix);
            let Some((new_kind, new_end)) = followed else {
                break;
            };
            (kind, end) = (new_kind, new_end);
            tally.add(size.max(0) as u64);
            at += len;
            taken += 1;
        }
        (kind, end, taken, at, tally)
    }

    /// What [`PrefixTree::add_run`] needs of the previous key's path: its last id-like step,
    /// when every step before it ends with its delimiter (a top segment cut by its first
    /// characters does not).
    fn run(&self) -> Option<Run> {
        if !self.last_ascii {
            return None;
        }
        let j = self.path.iter().rposition(|s| s.id.is_some())?;
        if !self.path[..j].iter().all(|s| s.delimited) {
            return None;
        }
        self.run_at(j)
    }

    /// Step `j` of the previous key's path as the one a key may vary, when it can be: an
    /// id-like step that ends with its delimiter, or the last step, not at the top, running to
    /// the key's end (a key without delimiters is cut at the top by its first characters).
    fn run_at(&self, j: usize) -> Option<Run> {
        let step = self.path.get(j)?;
        let delimiter = if step.delimited {
            // An id-like step is named `*` and its (ASCII) delimiter.
            Some(*step.name.get(1)?)
        } else if j > 0 && j + 1 == self.path.len() {
            None
        } else {
            return None;
        };
        Some(Run {
            step: j,
            start: j.checked_sub(1).map_or(0, |p| self.path[p].end),
            delimiter,
            kind: step.id?,
        })
    }

    /// Counts the keys that took the previous key's path into its nodes.
    fn flush(&mut self) {
        if self.pending.keys == 0 {
            return;
        }
        let Tally { keys, bytes } = std::mem::take(&mut self.pending);
        let mut node = &mut self.root;
        node.keys += keys;
        node.bytes += bytes;
        for s in &self.path {
            node = &mut node.children[s.idx];
            node.keys += keys;
            node.bytes += bytes;
        }
    }

    /// Adds one key, whose first `shared` bytes equal those of the key added before it.
    #[inline(never)]
    fn add_text(&mut self, key: &[u8], shared: usize, bytes: u64) {
        #[cfg(test)]
        {
            self.walks += 1;
        }
        self.flush();
        let lossy;
        let ascii = key.is_ascii();
        let valid = ascii || std::str::from_utf8(key).is_ok();
        let text = if valid {
            key
        } else {
            lossy = String::from_utf8_lossy(key).into_owned();
            lossy.as_bytes()
        };
        let Self {
            root,
            delimiters,
            scratch,
            classes,
            path,
            last_valid,
            last_ascii,
            key: _,
            pending: _,
            hex_delimiters: _,
            run_skip: _,
            run_backoff: _,
            alternate: _,
            next: _,
            #[cfg(test)]
                walks: _,
        } = self;
        let mut node = root;
        node.keys += 1;
        node.bytes += bytes;
        // Segments that ended with a delimiter inside the shared bytes are cut the same way
        // (when both keys are taken as they are: a lossy one has other offsets).
        let common = if valid && *last_valid { shared } else { 0 };
        *last_valid = valid;
        *last_ascii = ascii;
        let mut depth = 0;
        let mut offset = 0;
        while let Some(step) = path.get(depth).filter(|s| s.delimited && s.end <= common) {
            node = &mut node.children[step.idx];
            node.keys += 1;
            node.bytes += bytes;
            offset = step.end;
            depth += 1;
        }
        // Whether every node so far is the one the previous key went through.
        let mut same = true;
        let mut rest = &text[offset..];
        while depth < MAX_DEPTH && !rest.is_empty() {
            let cut = Self::cut(classes.as_ref(), delimiters, rest, depth);
            let (seg, tail) = rest.split_at(cut.len);
            offset += cut.len;
            let name = segment_name(seg, cut.id_like, cut.delimiter, scratch);
            let id = cut.id_like.then_some(IdKind {
                digits: cut.digits,
                hex: cut.hex,
            });
            let idx = match path.get_mut(depth) {
                Some(step) if same && same_bytes(&step.name, name) => {
                    step.end = offset;
                    step.delimited = cut.delimiter.is_some();
                    step.id = id;
                    step.idx
                }
                cached => {
                    same = false;
                    let idx = node.child_index(name);
                    let step = Step {
                        name: Vec::new(),
                        idx,
                        end: offset,
                        delimited: cut.delimiter.is_some(),
                        id,
                    };
                    let step = match cached {
                        Some(old) => {
                            let mut name_buf = std::mem::take(&mut old.name);
                            name_buf.clear();
                            *old = Step {
                                name: name_buf,
                                ..step
                            };
                            old
                        }
                        None => {
                            path.push(step);
                            path.last_mut().expect("just pushed")
                        }
                    };
                    step.name.extend_from_slice(name);
                    idx
                }
            };
            node = &mut node.children[idx];
            node.keys += 1;
            node.bytes += bytes;
            rest = tail;
            depth += 1;
        }
        path.truncate(depth);
    }

    /// Adds `keys` keys (`bytes` in all) whose path is `segments`: raw key bytes already cut
    /// the way [`PrefixTree::add`] cuts keys (after each delimiter, the first 3 characters of a
    /// key without delimiters, at most [`MAX_DEPTH`]), id-like ones possibly folded to `*`.
    pub fn add_segments(&mut self, segments: &[Vec<u8>], keys: u64, bytes: u64) {
        let mut node = &mut self.root;
        node.keys += keys;
        node.bytes += bytes;
        let texts: Vec<String> = segments
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        // A key without delimiters arrives whole: cut it as `add` does at the top.
        let flat = match texts.as_slice() {
            [only] if only.len() > 4 && !only.chars().any(|c| self.delimiters.contains(&c)) => {
                let cut = only.char_indices().nth(3).map_or(only.len(), |(i, _)| i);
                Some([only[..cut].to_string(), only[cut..].to_string()])
            }
            _ => None,
        };
        let texts: &[String] = match &flat {
            Some(two) => two,
            None => &texts,
        };
        for seg in texts.iter().filter(|s| !s.is_empty()).take(MAX_DEPTH) {
            let delim = seg.chars().last().filter(|c| self.delimiters.contains(c));
            let core = match delim {
                Some(c) => &seg[..seg.len() - c.len_utf8()],
                None => seg.as_str(),
            };
            let name = segment_name(seg.as_bytes(), is_id_like(core), delim, &mut self.scratch);
            node = node.child(name);
            node.keys += keys;
            node.bytes += bytes;
        }
    }

    /// The finished tree.
    pub fn finish(mut self) -> Node {
        self.flush();
        self.swap_alternate();
        self.flush();
        self.root.finish();
        self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl PrefixTree {
        /// Forgets the paths of the keys before (the next key is walked from the top).
        fn forget_paths(&mut self) {
            self.path.clear();
            self.alternate.path.clear();
        }
    }

    /// Keys of a small alphabet with delimiters, ids and long segments, deterministic.
    fn sample_keys() -> Vec<Vec<u8>> {
        let parts: [&[u8]; 9] = [
            b"user:",
            b"12345:",
            b"profile",
            b"a",
            b":",
            b"deadbeefcafe-",
            b"x_",
            b"\xff",
            b"ok.",
        ];
        let mut state = 7u64;
        let mut keys = Vec::new();
        for _ in 0..3000 {
            let mut k = Vec::new();
            for _ in 0..(state % 7) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                k.extend_from_slice(parts[(state >> 33) as usize % parts.len()]);
            }
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            keys.push(k);
        }
        keys
    }

    #[test]
    fn reusing_the_previous_path_changes_nothing() {
        let mut keys = sample_keys();
        keys.extend(id_keys());
        keys.sort();
        let mut cached = PrefixTree::new(DEFAULT_DELIMITERS);
        let mut shorter = PrefixTree::new(DEFAULT_DELIMITERS);
        let mut plain = PrefixTree::new(DEFAULT_DELIMITERS);
        let mut previous: &[u8] = &[];
        for (i, k) in keys.iter().enumerate() {
            cached.add(k, i as u64);
            assert_eq!(cached.last_key(), k.as_slice());
            // A shared length below the longest one, as a writer may encode it.
            let shared = shared_len(previous, k) * (i % 3) / 2;
            shorter
                .add_front_coded(shared, &k[shared..], i as u64)
                .unwrap();
            plain.forget_paths();
            plain.add_front_coded(0, k, i as u64).unwrap();
            previous = k;
        }
        let a = serde_json::to_string(&cached.finish()).unwrap();
        let b = serde_json::to_string(&plain.finish()).unwrap();
        let c = serde_json::to_string(&shorter.finish()).unwrap();
        assert_eq!(a, b);
        assert_eq!(c, b);
        assert_eq!(by_runs(&keys, DEFAULT_DELIMITERS).0, b);
        // Delimiters that are hex digits.
        assert_eq!(by_runs(&keys, "a:").0, walked(&keys, "a:"));
    }

    /// The tree of `keys` (key `i` of size `i`) built by the full walk of every key: the
    /// previous key's path forgotten each time, so no fast path is ever taken.
    fn walked(keys: &[Vec<u8>], delimiters: &str) -> String {
        let mut plain = PrefixTree::new(delimiters);
        for (i, k) in keys.iter().enumerate() {
            plain.forget_paths();
            plain.add_front_coded(0, k, i as u64).unwrap();
        }
        serde_json::to_string(&plain.finish()).unwrap()
    }

    #[test]
    fn runs_change_nothing_for_random_keys_and_delimiters() {
        // Keys built from digits, hex letters, delimiters, other letters and bytes beyond
        // ASCII, with long shared prefixes (many keys share their first segments), deep
        // paths (beyond MAX_DEPTH) and empty keys.
        let pieces: [&[u8]; 14] = [
            b"1",
            b"7",
            b"0",
            b"a",
            b"f",
            b"e4",
            b":",
            b"/",
            b"-",
            b"_",
            b"x",
            b"q.",
            b"\xc3\xa9",
            b"\x80",
        ];
        let mut state = 11u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let stems: Vec<Vec<u8>> = (0..40)
            .map(|_| {
                (0..next() % 12)
                    .flat_map(|_| pieces[next() % pieces.len()].to_vec())
                    .collect()
            })
            .collect();
        for _ in 0..6000 {
            let mut k = stems[next() % stems.len()].clone();
            for _ in 0..next() % 9 {
                k.extend_from_slice(pieces[next() % 7]);
            }
            if next() % 3 == 0 {
                k.extend_from_slice(pieces[next() % pieces.len()]);
                k.extend_from_slice(&stems[next() % stems.len()]);
            }
            keys.push(k);
        }
        keys.sort();
        for delimiters in [DEFAULT_DELIMITERS, "a:", ":", "-_", "\u{e9}:"] {
            let want = walked(&keys, delimiters);
            assert_eq!(
                by_runs(&keys, delimiters).0,
                want,
                "delimiters {delimiters:?}"
            );
        }
    }

    #[test]
    fn runs_take_most_sorted_ids_and_change_nothing() {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for i in 0..3000u64 {
            keys.push(format!("user:{i}:profile").into_bytes());
            keys.push(format!("counter:{i}").into_bytes());
            keys.push(format!("cache:page:{}", i * 7).into_bytes());
            let token = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            keys.push(format!("session:{token:016x}{:016x}", !token).into_bytes());
        }
        keys.sort();
        let (tree, runs) = by_runs(&keys, DEFAULT_DELIMITERS);
        assert_eq!(tree, walked(&keys, DEFAULT_DELIMITERS));
        assert!(runs > keys.len() * 9 / 10, "{runs} of {} keys", keys.len());
    }

    #[test]
    fn keys_of_two_shapes_taking_turns_take_the_path_of_the_key_before() {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for i in 0..2000u64 {
            keys.push(format!("user:{i}:attrs").into_bytes());
            keys.push(format!("user:{i}:profile").into_bytes());
            keys.push(format!("token:{:08x}:a", i * 0x9e37).into_bytes());
            keys.push(format!("token:{:08x}:b", i * 0x9e37).into_bytes());
        }
        keys.sort();
        let want = walked(&keys, DEFAULT_DELIMITERS);
        let mut tree = PrefixTree::new(DEFAULT_DELIMITERS);
        for (i, k) in keys.iter().enumerate() {
            tree.add(k, i as u64);
            assert_eq!(tree.last_key(), k.as_slice());
        }
        // Each of the four shapes walked once or so, not every other key.
        assert!(
            tree.walks < 40,
            "{} of {} keys walked",
            tree.walks,
            keys.len()
        );
        assert_eq!(serde_json::to_string(&tree.finish()).unwrap(), want);
        assert_eq!(by_runs(&keys, DEFAULT_DELIMITERS).0, want);
    }

    /// The tree of `keys` (sorted; key `i` of size `i`) fed as the report feeds it: chunks of
    /// front-coded keys of varying lengths ([`PrefixTree::add_keys`], runs stopped now and
    /// then as a biggest-keys candidate stops them). Also returns how many keys runs took.
    fn by_runs(keys: &[Vec<u8>], delimiters: &str) -> (String, usize) {
        let mut tree = PrefixTree::new(delimiters);
        let mut previous: &[u8] = &[];
        let mut first = 0;
        let mut chunk_len = 1;
        let mut runs = 0;
        while first < keys.len() {
            let chunk = &keys[first..(first + chunk_len).min(keys.len())];
            let mut front = DeltaKeys::new();
            for k in chunk {
                let shared = shared_len(previous, k);
                front.push(shared as u32, &k[shared..]);
                previous = k;
            }
            let sizes: Vec<i64> = (first..first + chunk.len()).map(|i| i as i64).collect();
            runs += tree
                .add_keys(
                    &front,
                    &sizes,
                    |i| (first + i) % 97 == 0,
                    |i, key| assert_eq!(key, chunk[i].as_slice()),
                )
                .unwrap();
            first += chunk.len();
            chunk_len = chunk_len % 300 + 37;
        }
        (serde_json::to_string(&tree.finish()).unwrap(), runs)
    }

    /// Keys whose ids change between neighbours: digits, hex, ids that stop being ids, other
    /// delimiters and tails after them, ids at the end and at the top.
    fn id_keys() -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        for i in 0..400u64 {
            let hex = format!("{:08x}", i.wrapping_mul(0x9e3779b9) & 0xffff_ffff);
            keys.push(format!("user:{i}:profile").into_bytes());
            keys.push(format!("user:{i}:attrs").into_bytes());
            keys.push(format!("user:{i}-x:profile").into_bytes());
            keys.push(format!("user:{i}/{}", i % 3).into_bytes());
            keys.push(format!("counter:{i}").into_bytes());
            keys.push(format!("counter:{i}a").into_bytes());
            keys.push(format!("s:{hex}:v").into_bytes());
            keys.push(format!("s:{}:v", &hex[..(i as usize % 9)]).into_bytes());
            keys.push(format!("{i}").into_bytes());
            keys.push(format!("{i}:t").into_bytes());
            keys.push(format!("a:b:c:d:e:f:{i}:g:h").into_bytes());
            keys.push(format!("u:{i}:\u{e9}").into_bytes());
        }
        keys
    }

    #[test]
    fn word_checks_of_hex_runs_agree_with_bytes() {
        let alphabet = b"0123456789abcdefABCDEFgxyzGZ:/.|-_ ~@`\x80\xff";
        let mut state = 5u64;
        for _ in 0..20000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (state >> 59) as usize;
            // Mostly hex digits, so that whole runs of them come up.
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let r = (state >> (i % 16 * 4)) as usize + i * 7;
                    let pool = if r.is_multiple_of(5) {
                        alphabet.len()
                    } else {
                        22
                    };
                    alphabet[r % pool]
                })
                .collect();
            let want = (len >= 8 && bytes.iter().all(u8::is_ascii_hexdigit))
                .then(|| bytes.iter().all(u8::is_ascii_digit));
            assert_eq!(hex_words(&bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn a_shared_length_beyond_the_previous_key_is_refused() {
        let mut t = PrefixTree::new(DEFAULT_DELIMITERS);
        t.add(b"ab", 1);
        let err = t.add_front_coded(3, b"c", 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a key shares 3 bytes with a previous key of 2 bytes"
        );
        assert_eq!(t.finish().keys, 1);
    }

    #[test]
    fn ids_are_folded_and_children_capped() {
        let mut t = PrefixTree::new(DEFAULT_DELIMITERS);
        for i in 0..1000 {
            t.add(format!("user:{i}:profile").as_bytes(), 10);
        }
        for i in 0..500 {
            t.add(format!("tag{i}:x").as_bytes(), 1);
        }
        let root = t.finish();
        assert_eq!(root.keys, 1500);
        let user = &root.children[0];
        assert_eq!((user.name.as_str(), user.keys), ("user:", 1000));
        assert_eq!(user.children[0].name, "*:");
        assert_eq!(user.children[0].children[0].name, "profile");
        assert!(root.children.len() <= MAX_CHILDREN + 1);
        assert!(root.children.iter().any(|c| c.name == OTHER));
    }
}
