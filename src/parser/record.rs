//! What the parser reports for each key, and the words it uses for types and encodings.

/// The value type of a key, as the `type` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// `string`
    String,
    /// `list`
    List,
    /// `set`
    Set,
    /// `zset`
    Zset,
    /// `hash`
    Hash,
    /// `stream`
    Stream,
    /// `module`
    Module,
}

impl KeyType {
    /// The word in the `type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::List => "list",
            Self::Set => "set",
            Self::Zset => "zset",
            Self::Hash => "hash",
            Self::Stream => "stream",
            Self::Module => "module",
        }
    }
}

/// Storage encoding: a fixed Redis word, or a module's 9-character type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `int`, `raw`, `ziplist`, `listpack`, ...
    Named(&'static str),
    /// Module type name decoded from the module id (always ASCII).
    Module([u8; 9]),
}

impl Encoding {
    /// The word in the `encoding` column.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Named(s) => s,
            Self::Module(name) => std::str::from_utf8(name).unwrap_or("module"),
        }
    }
}

/// One key's metadata.
#[derive(Debug, Clone, Copy)]
pub struct KeyRecord<'a> {
    /// Database number.
    pub db: u64,
    /// Key bytes (int-encoded keys as decimal text).
    pub key: &'a [u8],
    /// Value type.
    pub key_type: KeyType,
    /// Storage encoding.
    pub encoding: Encoding,
    /// Length or element count (see SPEC section 3).
    pub member_count: u64,
    /// Bytes from the type byte to the end of the value.
    pub rdb_size: u64,
    /// Absolute expiry in ms since the epoch.
    pub expire_at_ms: Option<i64>,
    /// LRU idle seconds.
    pub idle_seconds: Option<u64>,
    /// LFU counter.
    pub freq: Option<u8>,
    /// Redis Cluster slot, when asked for or when the file carries slot info.
    pub redis_slot: Option<u16>,
    /// Codis slot, when asked for.
    pub codis_slot: Option<u16>,
}

/// Characters of module type names, indexed by 6-bit groups of the module id.
const MODULE_CHARSET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Decodes the 9-character type name from a 64-bit module id (54 bits of name, 10 of version).
pub fn module_type_name(module_id: u64) -> [u8; 9] {
    let mut id = module_id >> 10;
    let mut name = [0u8; 9];
    for slot in name.iter_mut().rev() {
        *slot = MODULE_CHARSET[(id & 63) as usize];
        id >>= 6;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_id(name: &[u8; 9], encver: u64) -> u64 {
        let mut id = 0u64;
        for &c in name {
            let v = MODULE_CHARSET.iter().position(|&x| x == c).unwrap() as u64;
            id = (id << 6) | v;
        }
        (id << 10) | encver
    }

    #[test]
    fn module_names_round_trip() {
        for name in [b"MBbloom--", b"test__rdb", b"ReJSON-RL"] {
            assert_eq!(&module_type_name(module_id(name, 3)), name);
        }
    }
}
