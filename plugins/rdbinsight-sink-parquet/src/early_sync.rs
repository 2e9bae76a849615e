//! Writing a file's bytes to disk while it is still being written: after each row group the
//! writer asks a thread of its own to `fdatasync` what the file holds so far, so that the
//! `fsync` that publishes the finished file waits only for its last row group and footer (the
//! big bench file's 25 MB took 0.12 s to sync at the end, the dump waiting idle for it).
//!
//! Requests coalesce: while one sync runs, at most one more waits. The first error is kept
//! and returned by [`EarlySync::finish`], since a failed sync may not be reported again to
//! the final `fsync`.

use std::fs::File;
use std::io;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};

/// The thread syncing a file being written, and how to ask it to.
pub struct EarlySync {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl EarlySync {
    /// Starts the thread, with a handle of its own on `file`.
    pub fn start(file: &File) -> Result<Self> {
        let file = file
            .try_clone()
            .context("cannot open a second handle on the Parquet file")?;
        let (requests, inbox) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("rdbinsight-sync".into())
            .spawn(move || {
                for () in inbox {
                    file.sync_data()?;
                }
                Ok(())
            })
            .context("cannot start the thread syncing the Parquet file")?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Asks for the bytes written so far to go to disk, without waiting; a no-op when a
    /// request is already waiting, or when the thread stopped on an error (which
    /// [`Self::finish`] returns).
    pub fn request(&self) {
        if let Some(requests) = &self.requests {
            // Full: a sync is already waiting and will take these bytes too.
            let _ = requests.try_send(());
        }
    }

    /// Waits for the syncs asked for; the first error of any of them.
    pub fn finish(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        self.requests = None;
        match self.thread.take() {
            None => Ok(()),
            Some(t) => t
                .join()
                .map_err(|_| anyhow!("the thread syncing the Parquet file panicked"))?
                .context("cannot write the Parquet file to disk"),
        }
    }
}

impl Drop for EarlySync {
    /// Lets a sync in flight end (its result matters no more: the file is not published).
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncs_while_the_file_grows_and_finishes_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        let sync = EarlySync::start(&file).unwrap();
        for i in 0..20u8 {
            file.write_all(&[i; 4096]).unwrap();
            sync.request();
        }
        sync.finish().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 20 * 4096);
    }

    /// A handle the kernel refuses to sync (a pipe's) makes `finish` fail, however many
    /// requests came after the failure.
    #[test]
    fn a_failed_sync_is_reported_by_finish() {
        let (reader, writer) = std::io::pipe().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(writer));
        let sync = EarlySync::start(&file).unwrap();
        sync.request();
        std::thread::sleep(std::time::Duration::from_millis(50));
        sync.request();
        let err = sync.finish().unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot write the Parquet file to disk"),
            "{err:#}"
        );
        drop(reader);
    }
}
