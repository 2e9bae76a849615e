//! Key-prefix tree for the flame graph, in bounded memory: keys are split after delimiters,
//! id-like segments (numbers, long hex, UUIDs) are folded into `*`, depth is capped, and each
//! node keeps at most [`MAX_CHILDREN`] children (the rest go to an `(other)` child).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: child lookups hash short segment strings millions of times.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf29ce484222325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
}

type FastMap = HashMap<String, usize, BuildHasherDefault<Fnv>>;

use serde::Serialize;

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
}

impl Node {
    fn child(&mut self, name: &str) -> &mut Node {
        let idx = self.child_index(name);
        &mut self.children[idx]
    }

    /// The index of the child named `name` (created, or `(other)` when the node is full).
    fn child_index(&mut self, name: &str) -> usize {
        match self.index.get(name) {
            Some(&i) => i,
            None => {
                let name = if self.children.len() >= MAX_CHILDREN {
                    OTHER
                } else {
                    name
                };
                match self.index.get(name) {
                    Some(&i) => i,
                    None => {
                        self.children.push(Node {
                            name: name.to_string(),
                            ..Node::default()
                        });
                        self.index.insert(name.to_string(), self.children.len() - 1);
                        self.children.len() - 1
                    }
                }
            }
        }
    }

    /// Sorts children by size and drops lookup tables (call once, at the end).
    pub fn finish(&mut self) {
        self.index = FastMap::default();
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
    if core.is_empty() {
        return false;
    }
    let digits = core.bytes().all(|b| b.is_ascii_digit());
    let hex = core.len() >= 8 && core.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    digits || hex
}

/// The node name of a key segment (`core` is `seg` without its trailing delimiter `delim`):
/// `*<delimiter>` for id-like segments, else the segment cut at 64 characters. `scratch` holds
/// the folded name.
fn segment_name<'a>(
    seg: &'a str,
    core: &str,
    delim: Option<char>,
    scratch: &'a mut String,
) -> &'a str {
    if is_id_like(core) {
        scratch.clear();
        scratch.push('*');
        scratch.extend(delim);
        scratch
    } else if seg.len() > 64 {
        seg.char_indices().nth(64).map_or(seg, |(i, _)| &seg[..i])
    } else {
        seg
    }
}

/// Delimiters keys are split after, unless configured otherwise.
pub const DEFAULT_DELIMITERS: &str = ":/.|-_";

/// Builds the tree.
pub struct PrefixTree {
    root: Node,
    delimiters: Vec<char>,
    /// Reused for `*<delimiter>` names.
    scratch: String,
    /// Byte lookup of the delimiters when they are all ASCII (the fast path).
    ascii: Option<[bool; 256]>,
    /// The previous key (valid UTF-8 only) and, for each of its leading segments that ended
    /// with a delimiter, (end offset, child index): keys arrive sorted, so the next key usually
    /// shares those segments and skips their lookups.
    last_key: Vec<u8>,
    last_path: Vec<(usize, usize)>,
}

impl PrefixTree {
    /// A tree splitting after any of `delimiters`.
    pub fn new(delimiters: &str) -> Self {
        Self {
            root: Node {
                name: "(all)".into(),
                ..Node::default()
            },
            delimiters: delimiters.chars().collect(),
            scratch: String::new(),
            last_key: Vec::new(),
            last_path: Vec::with_capacity(MAX_DEPTH),
            ascii: delimiters.is_ascii().then(|| {
                let mut t = [false; 256];
                for b in delimiters.bytes() {
                    t[b as usize] = true;
                }
                t
            }),
        }
    }

    /// Adds one key.
    pub fn add(&mut self, key: &[u8], bytes: u64) {
        let text = String::from_utf8_lossy(key);
        let cacheable = matches!(text, std::borrow::Cow::Borrowed(_));
        let delimiters = &self.delimiters;
        let scratch = &mut self.scratch;
        let mut node = &mut self.root;
        node.keys += 1;
        node.bytes += bytes;
        // Reuse the previous key's leading segments that this key shares byte for byte.
        let mut reused = 0;
        let mut offset = 0;
        if cacheable {
            let common = key
                .iter()
                .zip(&self.last_key)
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| key.len().min(self.last_key.len()));
            for &(end, idx) in &self.last_path {
                if end > common {
                    break;
                }
                node = &mut node.children[idx];
                node.keys += 1;
                node.bytes += bytes;
                reused += 1;
                offset = end;
            }
            self.last_path.truncate(reused);
            self.last_key.clear();
            self.last_key.extend_from_slice(key);
        } else {
            self.last_path.clear();
            self.last_key.clear();
        }
        let mut extend_path = cacheable && self.last_path.len() == reused;
        let mut rest: &str = &text[offset..];
        for depth in reused..MAX_DEPTH {
            if rest.is_empty() {
                break;
            }
            let found = match &self.ascii {
                // ASCII bytes never occur inside multi-byte UTF-8 sequences.
                Some(t) => rest
                    .bytes()
                    .position(|b| t[b as usize])
                    .map(|i| (i, rest.as_bytes()[i] as char)),
                None => rest.char_indices().find(|(_, c)| delimiters.contains(c)),
            };
            let mut cut = found.map(|(i, c)| i + c.len_utf8()).unwrap_or(rest.len());
            // No delimiter at the top: group by the first characters instead.
            if depth == 0 && found.is_none() && rest.len() > 4 {
                cut = rest
                    .char_indices()
                    .nth(3)
                    .map(|(i, _)| i)
                    .unwrap_or(rest.len());
            }
            let (seg, tail) = rest.split_at(cut);
            let delim = found
                .filter(|(i, c)| i + c.len_utf8() == cut)
                .map(|(_, c)| c);
            let core = match delim {
                Some(c) => &seg[..seg.len() - c.len_utf8()],
                None => seg,
            };
            let name = segment_name(seg, core, delim, scratch);
            let idx = node.child_index(name);
            node = &mut node.children[idx];
            node.keys += 1;
            node.bytes += bytes;
            // Only segments cut at a delimiter are shared by construction with a longer key.
            if extend_path && delim.is_some() {
                offset += seg.len();
                self.last_path.push((offset, idx));
            } else {
                extend_path = false;
            }
            rest = tail;
        }
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
            let name = segment_name(seg, core, delim, &mut self.scratch);
            node = node.child(name);
            node.keys += keys;
            node.bytes += bytes;
        }
    }

    /// The finished tree.
    pub fn finish(mut self) -> Node {
        self.root.finish();
        self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        keys.sort();
        let mut cached = PrefixTree::new(DEFAULT_DELIMITERS);
        let mut plain = PrefixTree::new(DEFAULT_DELIMITERS);
        for (i, k) in keys.iter().enumerate() {
            cached.add(k, i as u64);
            plain.last_path.clear();
            plain.last_key.clear();
            plain.add(k, i as u64);
        }
        let a = serde_json::to_string(&cached.finish()).unwrap();
        let b = serde_json::to_string(&plain.finish()).unwrap();
        assert_eq!(a, b);
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
