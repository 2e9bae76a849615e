//! Element counts of the compact encodings stored as string blobs: ziplist, listpack, zipmap and
//! intset. Header counters are trusted only when not saturated; otherwise the entries are walked.

use super::chunks::ChunkSource;

use super::blob::Blob;
use super::error::{ParseError, ParseResult};

fn check_total(blob: &Blob<'_, impl ChunkSource>, stated: u64, what: &str) -> ParseResult<()> {
    if stated != blob.len() {
        return Err(ParseError::invalid(
            blob.pos(),
            format!(
                "a {what} whose header size ({stated}) equals its blob length ({})",
                blob.len()
            ),
        ));
    }
    Ok(())
}

/// Number of entries in a ziplist.
pub fn ziplist_entries<R: ChunkSource>(mut blob: Blob<'_, R>) -> ParseResult<u64> {
    let mut header = [0u8; 10];
    blob.read_exact(&mut header, "a ziplist header")?;
    let zlbytes = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    check_total(&blob, zlbytes as u64, "ziplist")?;
    let zllen = u16::from_le_bytes([header[8], header[9]]);
    if zllen != u16::MAX {
        blob.finish()?;
        return Ok(zllen as u64);
    }
    let mut count = 0u64;
    loop {
        let prev = blob.read_u8("a ziplist entry")?;
        if prev == 0xFF {
            break;
        }
        if prev == 0xFE {
            blob.skip(4, "a ziplist previous-entry length")?;
        }
        let enc = blob.read_u8("a ziplist entry encoding")?;
        let data: u64 = match enc >> 6 {
            0 => (enc & 0x3F) as u64,
            1 => (((enc & 0x3F) as u64) << 8) | blob.read_u8("a ziplist string length")? as u64,
            2 => {
                let mut l = [0u8; 4];
                blob.read_exact(&mut l, "a ziplist string length")?;
                u32::from_be_bytes(l) as u64
            }
            _ => match enc {
                0xC0 => 2,
                0xD0 => 4,
                0xE0 => 8,
                0xF0 => 3,
                0xFE => 1,
                0xF1..=0xFD => 0,
                _ => {
                    return Err(ParseError::invalid(
                        blob.pos(),
                        format!("a ziplist entry encoding, not 0x{enc:02x}"),
                    ))
                }
            },
        };
        blob.skip(data, "a ziplist entry")?;
        count += 1;
    }
    blob.finish()?;
    Ok(count)
}

fn listpack_backlen_size(entry_len: u64) -> u64 {
    match entry_len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Number of entries in a listpack.
pub fn listpack_entries<R: ChunkSource>(mut blob: Blob<'_, R>) -> ParseResult<u64> {
    let mut header = [0u8; 6];
    blob.read_exact(&mut header, "a listpack header")?;
    let total = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    check_total(&blob, total as u64, "listpack")?;
    let num = u16::from_le_bytes([header[4], header[5]]);
    if num != u16::MAX {
        blob.finish()?;
        return Ok(num as u64);
    }
    let mut count = 0u64;
    loop {
        let enc = blob.read_u8("a listpack entry")?;
        if enc == 0xFF {
            break;
        }
        let (head, data): (u64, u64) = if enc & 0x80 == 0 {
            (1, 0)
        } else if enc & 0xC0 == 0x80 {
            (1, (enc & 0x3F) as u64)
        } else if enc & 0xE0 == 0xC0 {
            (1, 1)
        } else if enc & 0xF0 == 0xE0 {
            (
                2,
                (((enc & 0x0F) as u64) << 8) | blob.read_u8("a listpack string length")? as u64,
            )
        } else {
            match enc {
                0xF0 => {
                    let mut l = [0u8; 4];
                    blob.read_exact(&mut l, "a listpack string length")?;
                    (5, u32::from_le_bytes(l) as u64)
                }
                0xF1 => (1, 2),
                0xF2 => (1, 3),
                0xF3 => (1, 4),
                0xF4 => (1, 8),
                _ => {
                    return Err(ParseError::invalid(
                        blob.pos(),
                        format!("a listpack entry encoding, not 0x{enc:02x}"),
                    ))
                }
            }
        };
        blob.skip(
            data + listpack_backlen_size(head + data),
            "a listpack entry",
        )?;
        count += 1;
    }
    blob.finish()?;
    Ok(count)
}

fn zipmap_len<R: ChunkSource>(blob: &mut Blob<'_, R>) -> ParseResult<Option<u64>> {
    match blob.read_u8("a zipmap length")? {
        0xFF => Ok(None),
        0xFE => {
            let mut l = [0u8; 4];
            blob.read_exact(&mut l, "a zipmap length")?;
            Ok(Some(u32::from_le_bytes(l) as u64))
        }
        b => Ok(Some(b as u64)),
    }
}

/// Number of field-value pairs in a zipmap.
pub fn zipmap_pairs<R: ChunkSource>(mut blob: Blob<'_, R>) -> ParseResult<u64> {
    let zmlen = blob.read_u8("a zipmap header")?;
    if zmlen < 254 {
        blob.finish()?;
        return Ok(zmlen as u64);
    }
    let mut count = 0u64;
    while let Some(klen) = zipmap_len(&mut blob)? {
        blob.skip(klen, "a zipmap field")?;
        let Some(vlen) = zipmap_len(&mut blob)? else {
            return Err(ParseError::invalid(
                blob.pos(),
                "a zipmap value after its field",
            ));
        };
        let free = blob.read_u8("a zipmap free-space byte")? as u64;
        blob.skip(vlen + free, "a zipmap value")?;
        count += 1;
    }
    blob.finish()?;
    Ok(count)
}

/// Number of members of an intset.
pub fn intset_members<R: ChunkSource>(mut blob: Blob<'_, R>) -> ParseResult<u64> {
    let mut header = [0u8; 8];
    blob.read_exact(&mut header, "an intset header")?;
    let width = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as u64;
    if !matches!(width, 2 | 4 | 8) {
        return Err(ParseError::invalid(
            blob.pos(),
            format!("an intset width of 2, 4 or 8, not {width}"),
        ));
    }
    check_total(&blob, 8 + width * len, "intset")?;
    blob.finish()?;
    Ok(len)
}
