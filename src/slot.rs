//! Cluster slots of key names: Redis Cluster (CRC16/XMODEM mod 16384) and Codis (CRC32 mod 1024),
//! both over the hash tag when the key has one.

use crc::{Crc, CRC_16_XMODEM, CRC_32_ISO_HDLC};

static CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Number of Redis Cluster slots.
pub const REDIS_SLOTS: u16 = 16384;
/// Number of Codis slots.
pub const CODIS_SLOTS: u32 = 1024;

/// The part of the key that is hashed: between the first `{` and the first `}` after it when
/// that part is not empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        let rest = &key[open + 1..];
        if let Some(close) = memchr::memchr(b'}', rest) {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// Redis Cluster slot of a key.
pub fn redis_slot(key: &[u8]) -> u16 {
    CRC16.checksum(hash_tag(key)) % REDIS_SLOTS
}

/// Codis slot of a key.
pub fn codis_slot(key: &[u8]) -> u16 {
    (CRC32.checksum(hash_tag(key)) % CODIS_SLOTS) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots() {
        // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
        assert_eq!(CRC16.checksum(b"123456789"), 0x31C3);
        assert_eq!(redis_slot(b"foo"), 12182);
        assert_eq!(redis_slot(b"{user1000}.following"), redis_slot(b"user1000"));
        assert_eq!(redis_slot(b"foo{}{bar}"), redis_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"a}b{c}"), b"c");
        assert_eq!(hash_tag(b"{"), b"{");
        assert_eq!(hash_tag(b""), b"");
        assert_eq!(CRC32.checksum(b"123456789"), 0xCBF43926);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut x = 0x9E3779B97F4A7C15u64;
        for len in 0..2000usize {
            let key: Vec<u8> = (0..len % 40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    [b'{', b'}', b'a', 0xff][(x % 4) as usize]
                })
                .collect();
            assert!(redis_slot(&key) < REDIS_SLOTS);
            assert!((codis_slot(&key) as u32) < CODIS_SLOTS);
        }
    }
}
