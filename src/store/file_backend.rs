//! The data file's redb `StorageBackend`: redb's file backend with every
//! fsync timed for the metrics, and writes or fsyncs that fail when a test
//! tells them to (tests prove fail-stop on a real disk file: a failed
//! commit confirms nothing, the engine stops, and a restart recovers a
//! consistent ledger).

use std::fmt;
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

#[derive(Default, Debug)]
struct Flags {
    fail_writes: AtomicBool,
    fail_syncs: AtomicBool,
}

/// A switchboard shared between a test and the backend it controls.
#[derive(Clone, Default)]
pub struct StorageFaults {
    flags: Arc<Flags>,
}

impl fmt::Debug for StorageFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageFaults").field("flags", &self.flags).finish()
    }
}

impl StorageFaults {
    /// Every later write fails (as a full disk would) while `on`.
    pub fn fail_writes(&self, on: bool) {
        self.flags.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Every later fsync fails while `on`.
    pub fn fail_syncs(&self, on: bool) {
        self.flags.fail_syncs.store(on, Ordering::SeqCst);
    }
}

/// The data file's backend: redb's file backend, timing every fsync for the
/// metrics, with faults injected when a test asks (none by default).
pub struct HookedFileBackend {
    inner: FileBackend,
    faults: StorageFaults,
    on_fsync: Option<FsyncObserver>,
}

/// Told each fsync's duration in seconds (the engine's metrics).
pub type FsyncObserver = Arc<dyn Fn(f64) + Send + Sync>;

impl fmt::Debug for HookedFileBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookedFileBackend").field("inner", &self.inner).field("faults", &self.faults).finish()
    }
}

impl HookedFileBackend {
    /// Opens (or creates) the file at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened, or redb cannot use it (another
    /// process holds its lock).
    pub fn open(path: &Path, faults: StorageFaults, on_fsync: Option<FsyncObserver>) -> Result<Self, redb::Error> {
        let file: File = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        Ok(Self { inner: FileBackend::new(file).map_err(redb::Error::from)?, faults, on_fsync })
    }
}

fn injected(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::StorageFull, format!("injected {what} failure"))
}

impl StorageBackend for HookedFileBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        if self.faults.flags.fail_writes.load(Ordering::SeqCst) {
            return Err(injected("set_len"));
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        if self.faults.flags.fail_syncs.load(Ordering::SeqCst) {
            return Err(injected("fsync"));
        }
        let started = std::time::Instant::now();
        let synced = self.inner.sync_data();
        if let Some(observe) = &self.on_fsync {
            observe(started.elapsed().as_secs_f64());
        }
        synced
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.faults.flags.fail_writes.load(Ordering::SeqCst) {
            return Err(injected("write"));
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// Where a ledger's redb database lives.
pub enum LedgerStorage {
    /// The data file, its fsyncs timed; `faults` fails writes or fsyncs
    /// when a test asks (none by default).
    File { path: PathBuf, faults: StorageFaults },
    /// Any other redb backend: a simulated disk under a test.
    Backend(Box<dyn StorageBackend>),
}

/// A boxed backend as a backend (redb takes `impl StorageBackend`).
#[derive(Debug)]
pub(crate) struct Boxed(pub(crate) Box<dyn StorageBackend>);

impl StorageBackend for Boxed {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.0.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.0.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.0.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.query_lock_range(start, end)
    }
}
