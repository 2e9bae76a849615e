//! The Parquet crate's decoder panics on some damaged pages (a definition-level run longer than
//! its buffer, for one) instead of returning an error. A published file can be damaged on disk,
//! and bad input must give an error, never a panic: batches are read here under
//! `catch_unwind`, and such a panic becomes an error naming the file. While a batch is decoded
//! the panic message is not printed (the error says it), other threads' panics still are.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Once;

use anyhow::{anyhow, Result};
use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;

thread_local! {
    /// Whether this thread is decoding a batch under the guard.
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once, a panic hook that stays silent for panics of a guarded decode and hands
/// every other panic to the hook that was there before.
fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !DECODING.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// Record batches of one file; a panic of the decoder ends them with an error.
pub struct Guarded {
    file: PathBuf,
    reader: Option<ParquetRecordBatchReader>,
}

impl Guarded {
    /// Batches of `reader`, which reads `file`.
    pub fn new(file: PathBuf, reader: ParquetRecordBatchReader) -> Self {
        install_quiet_hook();
        Self {
            file,
            reader: Some(reader),
        }
    }
}

impl Iterator for Guarded {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_mut()?;
        DECODING.with(|d| d.set(true));
        let next = panic::catch_unwind(AssertUnwindSafe(|| reader.next()));
        DECODING.with(|d| d.set(false));
        match next {
            Ok(batch) => batch.map(|b| b.map_err(anyhow::Error::from)),
            Err(payload) => {
                self.reader = None;
                Some(Err(anyhow!(
                    "{}: damaged data: the Parquet decoder failed ({})",
                    self.file.display(),
                    panic_text(payload.as_ref())
                )))
            }
        }
    }
}
