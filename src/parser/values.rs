//! Walking one value of each RDB value type (0-25) to find its type, encoding and size.

use super::chunks::ChunkSource;

use super::encodings::{intset_members, listpack_entries, ziplist_entries, zipmap_pairs};
use super::error::ParseResult;
use super::record::{module_type_name, Encoding, KeyType};
use super::Parser;

/// RDB value-type bytes.
mod value_type {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
    pub const STREAM_LISTPACKS_4: u8 = 26;
    /// Valkey 9 (`VALKEY` magic, RDB 80+): hash with per-field expiry. Redis uses 22 for
    /// `HASH_METADATA_PRE_GA`; the magic tells them apart.
    pub const VALKEY_HASH_2: u8 = 22;
}

/// Quicklist 2 node containers.
const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// What walking a value found.
pub struct ValueInfo {
    pub key_type: KeyType,
    pub encoding: Encoding,
    pub members: u64,
}

fn info(key_type: KeyType, encoding: &'static str, members: u64) -> ValueInfo {
    ValueInfo {
        key_type,
        encoding: Encoding::Named(encoding),
        members,
    }
}

impl<R: ChunkSource> Parser<'_, R> {
    /// Walks the value of type `t` (whose type byte was at `at`).
    pub(super) fn value(&mut self, t: u8, at: u64) -> ParseResult<ValueInfo> {
        use value_type::*;
        Ok(match t {
            STRING => {
                let (len, int) = self.skip_string("a string value")?;
                info(KeyType::String, if int { "int" } else { "raw" }, len)
            }
            LIST => info(
                KeyType::List,
                "linkedlist",
                self.skip_strings(1, "a list element")?,
            ),
            SET => info(
                KeyType::Set,
                "hashtable",
                self.skip_strings(1, "a set member")?,
            ),
            ZSET => {
                let n = self.read_len("a sorted set size")?;
                for _ in 0..n {
                    self.skip_string("a sorted set member")?;
                    let l = self.input.read_u8("a sorted set score length")?;
                    if l < 253 {
                        self.input.skip(l as u64, "a sorted set score")?;
                    }
                }
                info(KeyType::Zset, "skiplist", n)
            }
            HASH => info(
                KeyType::Hash,
                "hashtable",
                self.skip_strings(2, "a hash field or value")?,
            ),
            ZSET_2 => {
                let n = self.read_len("a sorted set size")?;
                for _ in 0..n {
                    self.skip_string("a sorted set member")?;
                    self.input.skip(8, "a sorted set score")?;
                }
                info(KeyType::Zset, "skiplist", n)
            }
            MODULE_PRE_GA => return Err(self.invalid(
                at,
                "a value type this tool can skip: type 6 (pre-GA module value without opcodes, \
                     written only by Redis 4.0 release candidates) cannot be walked",
            )),
            MODULE_2 => {
                let id = self.read_len("a module id")?;
                self.skip_module_value()?;
                ValueInfo {
                    key_type: KeyType::Module,
                    encoding: Encoding::Module(module_type_name(id)),
                    members: 0,
                }
            }
            HASH_ZIPMAP => {
                let n = zipmap_pairs(self.blob("a zipmap")?)?;
                info(KeyType::Hash, "zipmap", n)
            }
            LIST_ZIPLIST => info(
                KeyType::List,
                "ziplist",
                ziplist_entries(self.blob("a ziplist")?)?,
            ),
            SET_INTSET => info(
                KeyType::Set,
                "intset",
                intset_members(self.blob("an intset")?)?,
            ),
            ZSET_ZIPLIST => info(
                KeyType::Zset,
                "ziplist",
                ziplist_entries(self.blob("a ziplist")?)? / 2,
            ),
            HASH_ZIPLIST => info(
                KeyType::Hash,
                "ziplist",
                ziplist_entries(self.blob("a ziplist")?)? / 2,
            ),
            LIST_QUICKLIST => {
                let nodes = self.read_len("a quicklist node count")?;
                let mut n = 0u64;
                for _ in 0..nodes {
                    n += ziplist_entries(self.blob("a quicklist ziplist node")?)?;
                }
                info(KeyType::List, "quicklist", n)
            }
            LIST_QUICKLIST_2 => {
                let nodes = self.read_len("a quicklist node count")?;
                let mut n = 0u64;
                for _ in 0..nodes {
                    let cat = self.input.pos();
                    match self.read_len("a quicklist node container")? {
                        QUICKLIST_NODE_PLAIN => {
                            self.skip_string("a plain quicklist node")?;
                            n += 1;
                        }
                        QUICKLIST_NODE_PACKED => {
                            n += listpack_entries(self.blob("a quicklist listpack node")?)?
                        }
                        c => {
                            return Err(self.invalid(
                                cat,
                                format!(
                                    "a quicklist node container 1 (plain) or 2 (packed), not {c}"
                                ),
                            ))
                        }
                    }
                }
                info(KeyType::List, "quicklist", n)
            }
            HASH_LISTPACK => info(
                KeyType::Hash,
                "listpack",
                listpack_entries(self.blob("a listpack")?)? / 2,
            ),
            ZSET_LISTPACK => info(
                KeyType::Zset,
                "listpack",
                listpack_entries(self.blob("a listpack")?)? / 2,
            ),
            SET_LISTPACK => info(
                KeyType::Set,
                "listpack",
                listpack_entries(self.blob("a listpack")?)?,
            ),
            STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 | STREAM_LISTPACKS_4 => {
                info(KeyType::Stream, "stream", self.stream(t)?)
            }
            VALKEY_HASH_2 if self.valkey => {
                let n = self.read_len("a hash size")?;
                for _ in 0..n {
                    self.skip_string("a hash field")?;
                    self.skip_string("a hash value")?;
                    self.input.skip(8, "a hash field expiry")?;
                }
                info(KeyType::Hash, "hashtable", n)
            }
            HASH_METADATA_PRE_GA | HASH_METADATA => {
                if t == HASH_METADATA {
                    self.input.skip(8, "the minimum field expiry of a hash")?;
                }
                let n = self.read_len("a hash size")?;
                for _ in 0..n {
                    self.read_len("a hash field expiry")?;
                    self.skip_string("a hash field")?;
                    self.skip_string("a hash value")?;
                }
                info(KeyType::Hash, "hashtable", n)
            }
            HASH_LISTPACK_EX_PRE_GA | HASH_LISTPACK_EX => {
                if t == HASH_LISTPACK_EX {
                    self.input.skip(8, "the minimum field expiry of a hash")?;
                }
                let n = listpack_entries(self.blob("a listpack")?)? / 3;
                info(KeyType::Hash, "listpackex", n)
            }
            other => {
                return Err(self.invalid(
                    at,
                    format!(
                    "a value type or opcode this tool knows, not the byte 0x{other:02x} ({other})"
                ),
                ))
            }
        })
    }

    /// Skips a counted sequence of strings, `per` strings per element; returns the element count.
    fn skip_strings(&mut self, per: u64, what: &'static str) -> ParseResult<u64> {
        let n = self.read_len("a collection size")?;
        for _ in 0..n {
            for _ in 0..per {
                self.skip_string(what)?;
            }
        }
        Ok(n)
    }

    /// Walks a stream value; returns its length (XLEN).
    fn stream(&mut self, t: u8) -> ParseResult<u64> {
        let v2 = t >= value_type::STREAM_LISTPACKS_2;
        let v3 = t >= value_type::STREAM_LISTPACKS_3;
        let nodes = self.read_len("a stream listpack count")?;
        for _ in 0..nodes {
            self.skip_string("a stream node key")?;
            self.skip_string("a stream listpack")?;
        }
        let length = self.read_len("a stream length")?;
        self.read_len("a stream last id")?;
        self.read_len("a stream last id")?;
        if v2 {
            for _ in 0..5 {
                self.read_len("stream id metadata")?;
            }
        }
        let groups = self.read_len("a stream consumer group count")?;
        for _ in 0..groups {
            self.skip_string("a consumer group name")?;
            self.read_len("a consumer group last id")?;
            self.read_len("a consumer group last id")?;
            if v2 {
                self.read_len("a consumer group entries-read counter")?;
            }
            let pel = self.read_len("a pending entries list size")?;
            for _ in 0..pel {
                self.input.skip(16 + 8, "a pending entry")?;
                self.read_len("a pending entry delivery count")?;
            }
            let consumers = self.read_len("a consumer count")?;
            for _ in 0..consumers {
                self.skip_string("a consumer name")?;
                self.input.skip(if v3 { 16 } else { 8 }, "consumer times")?;
                let pel = self.read_len("a consumer pending entries count")?;
                self.input
                    .skip(pel.saturating_mul(16), "consumer pending entry ids")?;
            }
        }
        if t >= value_type::STREAM_LISTPACKS_4 {
            self.skip_stream_idmp()?;
        }
        Ok(length)
    }

    /// Skips the idempotent-producer (IDMP) section of an RDB 13 stream: duration, max entries,
    /// per producer its id and (iid, stream id) pairs, then the added / duplicate counters.
    fn skip_stream_idmp(&mut self) -> ParseResult<()> {
        self.read_len("an IDMP duration")?;
        self.read_len("an IDMP max entries")?;
        let producers = self.read_len("an IDMP producer count")?;
        for _ in 0..producers {
            self.skip_string("an IDMP producer id")?;
            let entries = self.read_len("an IDMP entry count")?;
            for _ in 0..entries {
                self.skip_string("an IDMP idempotency id")?;
                self.read_len("an IDMP stream id")?;
                self.read_len("an IDMP stream id")?;
            }
        }
        self.read_len("an IDMP added counter")?;
        self.read_len("an IDMP duplicates counter")?;
        Ok(())
    }
}
