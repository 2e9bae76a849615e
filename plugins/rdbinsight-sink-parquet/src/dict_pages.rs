//! A dictionary-encoded string column of one of our files (type, encoding), read page by page
//! into dictionary arrays instead of through Arrow's reader: a row group's dictionary page
//! gives the values, each data page's RLE / bit-packed indices are unpacked straight into the
//! batch's keys. Data pages a writer fell back to PLAIN for add their values to the
//! dictionary. Bad pages give an error naming the file, row group and page, never a panic.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, StringArray};
use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::file::metadata::ParquetMetaData;

use crate::column_pages::{ColumnPage, ColumnPages, PageValues};
use crate::varint::Cursor;

/// Reads one dictionary-encoded column of one row group in row order.
pub struct DictPages {
    pages: ColumnPages,
    dictionary: Dictionary,
    /// The dictionary indices of the current page.
    indices: PageValues<i32>,
}

/// A row group's distinct values: its dictionary page's, then those of PLAIN pages.
#[derive(Default)]
struct Dictionary {
    values: Vec<String>,
    /// The index of each value, made when a PLAIN page needs it.
    ids: HashMap<String, i32>,
    /// `values` as an array, made when a batch needs it after they changed.
    array: Option<ArrayRef>,
}

impl DictPages {
    /// The pages of the column `name` of row group `row_group` of `path` (whose footer is
    /// `metadata`), or None when it is not a required, flat byte-array column written with
    /// `RLE_DICTIONARY` (read it through Arrow instead).
    pub fn open(
        path: &Path,
        input: &Bytes,
        name: &str,
        metadata: Arc<ParquetMetaData>,
        row_group: usize,
    ) -> Option<Self> {
        let kind = (PhysicalType::BYTE_ARRAY, Encoding::RLE_DICTIONARY);
        Some(Self {
            pages: ColumnPages::of_column(path, input, name, metadata, row_group, kind)?,
            dictionary: Dictionary::default(),
            indices: PageValues::new(),
        })
    }

    /// The next `n` values, as a dictionary array of the row group's values.
    pub fn take(&mut self, n: usize) -> Result<ArrayRef> {
        let (pages, dictionary) = (&mut self.pages, &mut self.dictionary);
        let keys = self
            .indices
            .take(n, |indices| Self::decode(pages, dictionary, indices))?;
        let keys = Int32Array::from(keys);
        // SAFETY: every index of a page is checked to be one of the values when the page is
        // decoded (`decode`), and the values only grow after that (a row group has one
        // dictionary page, and PLAIN pages only add values).
        #[allow(unsafe_code)]
        let array =
            unsafe { DictionaryArray::<Int32Type>::new_unchecked(keys, dictionary.array()) };
        Ok(Arc::new(array))
    }

    /// Reads the pages of `pages` up to the next data page (a dictionary page into
    /// `dictionary`) and decodes its indices into `indices`.
    fn decode(
        pages: &mut ColumnPages,
        dictionary: &mut Dictionary,
        indices: &mut Vec<i32>,
    ) -> Result<()> {
        loop {
            let Some(page) = pages.next_any_page()? else {
                bail!(pages.at("the column ends before the other columns"));
            };
            let decoded = match page {
                ColumnPage::Dictionary { values, count } => {
                    let decoded = dictionary.set(&values, count);
                    decoded.map_err(|e| e.context(pages.at("bad dictionary page")))?;
                    continue;
                }
                ColumnPage::Data {
                    values,
                    count,
                    encoding: Encoding::PLAIN,
                } => dictionary.add_plain(&values, count, indices),
                ColumnPage::Data { values, count, .. } => hybrid_indices(&values, count, indices),
            };
            let checked = decoded.and_then(|()| check_indices(indices, dictionary.values.len()));
            return checked.map_err(|e| {
                indices.clear();
                e.context(pages.at("bad data page"))
            });
        }
    }
}

impl Dictionary {
    /// Takes the `count` values of a dictionary page as the row group's values.
    fn set(&mut self, plain: &[u8], count: usize) -> Result<()> {
        // The indices taken before stay valid only while the values do not shrink.
        ensure!(self.values.is_empty(), "a second dictionary page");
        self.array = None;
        for_each_plain(plain, count, |value| {
            self.values.push(value.to_string());
            Ok(())
        })
    }

    /// The `count` values of a PLAIN data page as indices into `indices`, new values added
    /// to the row group's.
    fn add_plain(&mut self, plain: &[u8], count: usize, indices: &mut Vec<i32>) -> Result<()> {
        if self.ids.len() < self.values.len() {
            self.ids = (0..)
                .zip(&self.values)
                .map(|(i, v)| (v.clone(), i))
                .collect();
        }
        let Self { values, ids, array } = self;
        for_each_plain(plain, count, |value| {
            let id = match ids.get(value) {
                Some(&id) => id,
                None => {
                    let id = i32::try_from(values.len()).context("too many distinct values")?;
                    values.push(value.to_string());
                    ids.insert(value.to_string(), id);
                    *array = None;
                    id
                }
            };
            indices.push(id);
            Ok(())
        })
    }

    /// The values as an array (made once after each change).
    fn array(&mut self) -> ArrayRef {
        let values = &self.values;
        self.array
            .get_or_insert_with(|| Arc::new(StringArray::from_iter_values(values)))
            .clone()
    }
}

/// Calls `f` with each of the `count` PLAIN byte-array values of `plain` (a 4-byte
/// little-endian length, then the bytes), which must be UTF-8.
fn for_each_plain(plain: &[u8], count: usize, mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut at = 0;
    for _ in 0..count {
        let len = plain
            .get(at..at + 4)
            .with_context(|| format!("a value length runs past the page end at byte {at}"))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let bytes = plain.get(at + 4..at + 4 + len).with_context(|| {
            format!("a value of {len} bytes runs past the page end at byte {at}")
        })?;
        let value = std::str::from_utf8(bytes)
            .with_context(|| format!("a value that is not UTF-8 at byte {at}"))?;
        f(value)?;
        at += 4 + len;
    }
    Ok(())
}

/// Appends the `count` dictionary indices of an `RLE_DICTIONARY` data page (a bit width byte,
/// then RLE / bit-packed hybrid runs) to `out`.
fn hybrid_indices(page: &[u8], count: usize, out: &mut Vec<i32>) -> Result<()> {
    let mut input = Cursor::new(page);
    let width = u32::from(input.byte()?);
    ensure!(
        width <= 32,
        "index bit width {width} at byte 0: at most 32 expected"
    );
    let target = out.len() + count;
    out.reserve(count);
    while out.len() < target {
        let at = input.pos();
        let header = input.uleb()?;
        let left = target - out.len();
        if header & 1 == 1 {
            // Bit-packed: groups of eight values, `width` bytes a group.
            let groups = usize::try_from(header >> 1).unwrap_or(usize::MAX);
            let bytes = groups
                .checked_mul(width as usize)
                .with_context(|| format!("a bit-packed run of {groups} groups at byte {at}"))?;
            let bits = input.take(bytes)?;
            let values = groups.saturating_mul(8).min(left);
            unpack_into(bits, width, values, out);
        } else {
            // A run of one value, in `ceil(width / 8)` bytes.
            let run = usize::try_from(header >> 1).unwrap_or(usize::MAX);
            ensure!(run > 0, "an empty run at byte {at}");
            let mut value = [0u8; 4];
            let bytes = width.div_ceil(8) as usize;
            value[..bytes].copy_from_slice(input.take(bytes)?);
            out.extend(std::iter::repeat_n(
                i32::from_le_bytes(value),
                run.min(left),
            ));
        }
    }
    Ok(())
}

/// Appends the first `n` of the `width`-bit values packed in `bits` (least significant bit
/// first; `bits` holds at least `n * width` bits) to `out`.
fn unpack_into(bits: &[u8], width: u32, n: usize, out: &mut Vec<i32>) {
    if width == 0 {
        out.extend(std::iter::repeat_n(0, n));
        return;
    }
    let mask = (1u64 << width) - 1;
    // A value of up to 32 bits at any bit offset lies within the eight bytes from its first.
    let word = |at: usize| match bits.get(at..at + 8) {
        Some(lanes) => u64::from_le_bytes(<[u8; 8]>::try_from(lanes).unwrap_or_default()),
        None => {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(bits.get(at..).unwrap_or_default()) {
                *w = *b;
            }
            u64::from_le_bytes(word)
        }
    };
    let w = width as usize;
    if w <= 8 {
        // A group of eight values is `w` bytes: one word, eight shifts.
        let group = |g: usize| -> [i32; 8] {
            let word = word(g * w);
            std::array::from_fn(|j| ((word >> (j * w)) & mask) as i32)
        };
        out.reserve(n);
        // Whole groups copied at a length known when compiled, then the rest.
        for g in 0..n / 8 {
            out.extend_from_slice(&group(g));
        }
        if !n.is_multiple_of(8) {
            out.extend_from_slice(&group(n / 8)[..n % 8]);
        }
        return;
    }
    out.extend((0..n).map(|i| {
        let bit = i * w;
        ((word(bit / 8) >> (bit % 8)) & mask) as u32 as i32
    }));
}

/// Checks that every one of `indices` is an index of `values` values (in one pass without a
/// branch per index).
fn check_indices(indices: &[i32], values: usize) -> Result<()> {
    let largest = indices.iter().fold(0u32, |m, &k| m.max(k as u32));
    ensure!(
        indices.is_empty() || (largest as usize) < values,
        "dictionary index {} beyond the {values} values",
        largest as i32
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

    /// A file of one required string column `t` holding `values`, dictionary-encoded in
    /// pages of 10 rows and row groups of 60, the dictionary page limited to `dictionary_bytes`
    /// (past it, the writer falls back to PLAIN pages).
    fn dictionary_file(dir: &Path, values: &[String], dictionary_bytes: usize) -> PathBuf {
        let array: ArrayRef = Arc::new(StringArray::from_iter_values(values));
        let props = parquet::file::properties::WriterProperties::builder()
            .set_dictionary_enabled(true)
            .set_dictionary_page_size_limit(dictionary_bytes);
        small_pages_file_with(&dir.join("names.parquet"), "t", array, props)
    }

    use crate::column_pages::small_pages_file_with;
    use std::path::PathBuf;

    /// Every value of `path` read by `DictPages`, row group by row group, in takes of the
    /// given sizes (cycled).
    fn read_all(path: &Path, takes: &[usize]) -> Vec<String> {
        let input = Bytes::from(std::fs::read(path).unwrap());
        let metadata = ArrowReaderMetadata::load(&input, ArrowReaderOptions::new()).unwrap();
        let metadata = metadata.metadata().clone();
        let mut got = Vec::new();
        for row_group in 0..metadata.num_row_groups() {
            let rows = metadata.row_group(row_group).num_rows() as usize;
            let mut pages = DictPages::open(path, &input, "t", metadata.clone(), row_group)
                .expect("a dictionary column");
            let mut read = 0;
            for &n in takes.iter().cycle() {
                let n = n.min(rows - read);
                if n == 0 {
                    break;
                }
                let array = pages.take(n).unwrap();
                assert_eq!(array.len(), n);
                let dict = array.as_dictionary::<Int32Type>();
                let values = dict.values().as_string::<i32>();
                for key in dict.keys().values() {
                    got.push(values.value(*key as usize).to_string());
                }
                read += n;
            }
        }
        got
    }

    #[test]
    fn takes_within_and_across_pages_of_each_row_group() {
        let dir = tempfile::tempdir().unwrap();
        // Runs of one value (RLE runs) and changing values (bit-packed ones), 9 names.
        let values: Vec<String> = (0..150u32)
            .map(|i| {
                let name = if i % 40 < 20 { i / 40 } else { i * 7 % 9 };
                format!("name-{name}")
            })
            .collect();
        let path = dictionary_file(dir.path(), &values, 1 << 20);
        assert_eq!(read_all(&path, &[7, 13, 10, 1, 29]), values);
    }

    #[test]
    fn plain_pages_after_a_full_dictionary_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<String> = (0..150u32)
            .map(|i| format!("value-{}", i * 37 % 101))
            .collect();
        let path = dictionary_file(dir.path(), &values, 64);
        let input = Bytes::from(std::fs::read(&path).unwrap());
        let metadata = ArrowReaderMetadata::load(&input, ArrowReaderOptions::new()).unwrap();
        let encodings: Vec<Encoding> = metadata
            .metadata()
            .row_group(0)
            .column(0)
            .encodings()
            .collect();
        assert!(encodings.contains(&Encoding::PLAIN), "{encodings:?}");
        assert_eq!(read_all(&path, &[11, 20]), values);
    }

    #[test]
    fn hybrid_runs_decode_and_bad_ones_are_errors() {
        // Width 3: a run of 5 twos, then one bit-packed group of 0..8.
        let mut page = vec![3u8, 5 << 1, 2, 1 << 1 | 1];
        let mut acc = 0u32;
        for v in 0..8u32 {
            acc |= v << (3 * v);
        }
        page.extend_from_slice(&acc.to_le_bytes()[..3]);
        let mut out = Vec::new();
        hybrid_indices(&page, 13, &mut out).unwrap();
        assert_eq!(out, [2, 2, 2, 2, 2, 0, 1, 2, 3, 4, 5, 6, 7]);
        // Cut short, a bad width, an empty run.
        for bad in [&page[..5], &[40u8, 2, 1][..], &[3u8, 0][..]] {
            let mut out = Vec::new();
            assert!(hybrid_indices(bad, 13, &mut out).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_index_beyond_the_dictionary_is_an_error() {
        assert!(check_indices(&[0, 2, 1], 3).is_ok());
        assert!(check_indices(&[], 0).is_ok());
        for (indices, values) in [(&[0, 3, 1][..], 3), (&[-1][..], 3), (&[0][..], 0)] {
            let err = check_indices(indices, values).unwrap_err().to_string();
            assert!(err.contains("beyond the"), "{err}");
        }
    }
}
