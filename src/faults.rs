//! Storage fault injection: a redb `StorageBackend` over the real file that
//! fails writes or fsyncs when told to. It lets tests prove fail-stop on a
//! real disk file: a failed commit confirms nothing, the engine stops, and a
//! restart recovers a consistent ledger.

use std::fmt;
use std::fs::File;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

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

/// The file backend with injected faults.
#[derive(Debug)]
pub struct FaultyBackend {
    inner: FileBackend,
    faults: StorageFaults,
}

impl FaultyBackend {
    /// # Errors
    /// When redb cannot use the file.
    pub fn new(file: File, faults: StorageFaults) -> Result<Self, redb::DatabaseError> {
        Ok(Self { inner: FileBackend::new(file)?, faults })
    }
}

fn injected(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::StorageFull, format!("injected {what} failure"))
}

impl StorageBackend for FaultyBackend {
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
        self.inner.sync_data()
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

/// The engine's clock: the system time plus a skew that tests move forward
/// (to cross a day boundary or a programme's end) without waiting.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    skew_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Moves the clock forward (or back, with a negative value).
    pub fn skew_by_ms(&self, delta_ms: i64) {
        self.skew_ms.fetch_add(delta_ms, Ordering::SeqCst);
    }

    #[must_use]
    pub fn now_unix_ms(&self) -> u64 {
        let skewed = i128::from(crate::store::now_unix_ms()) + i128::from(self.skew_ms.load(Ordering::SeqCst));
        u64::try_from(skewed.max(0)).unwrap_or(u64::MAX)
    }
}
