//! The simulated disk of the deterministic simulation and the power-loss
//! tests: a redb `StorageBackend` over an image in memory that knows what an
//! fsync made durable, takes scheduled faults, and loses power.

use std::sync::Arc;

use redb::StorageBackend;

fn injected(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::StorageFull, format!("injected {what} failure"))
}

/// Bytes the simulated disk writes atomically: a crash keeps or loses each
/// sector of an unsynced write whole, never part of one.
pub const SECTOR_BYTES: usize = 512;

/// Largest image the simulated disk holds; a write past it fails as a full
/// disk would.
pub const SIM_DISK_BYTES_MAX: u64 = 1 << 30;

/// What the simulated disk does to one later operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// The `n`th write (or resize) from now fails, as on a full disk; later
    /// ones work.
    FailWrite { after: u64 },
    /// The `n`th fsync from now fails; what it should have made durable may
    /// or may not reach the disk.
    FailSync { after: u64 },
    /// The machine loses power at the `n`th operation from now (write,
    /// resize or fsync): that operation and every later one fail. A write
    /// cut off this way may be torn (some of its sectors written).
    PowerLoss { after: u64 },
}

#[derive(Debug)]
enum Unsynced {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct DiskState {
    /// What survives a power loss for certain.
    durable: Vec<u8>,
    /// What reads see: `durable` with every unsynced operation applied.
    current: Vec<u8>,
    /// Operations since the last successful fsync, in order.
    unsynced: Vec<Unsynced>,
    fault: Option<DiskFault>,
    /// Operations of the kind the fault counts, seen since it was set.
    counted: u64,
    powered_off: bool,
    /// The machine's power, shared with its other disks (`SimDisk::attach`).
    supply: Option<PowerSupply>,
    /// Bumped by every reboot: a backend from before it (a database not yet
    /// dropped when the power went) can never write to the new image.
    generation: u64,
    /// Counters for reports.
    writes: u64,
    syncs: u64,
}

/// The power of one simulated machine, shared by its disks
/// ([`SimDisk::attach`]): when a scheduled power loss strikes one of them,
/// or the machine's power is cut, every disk on it fails every operation
/// from that instant, as in a real power cut (not one disk after another).
/// Restored before the disks are rebooted.
#[derive(Clone, Debug, Default)]
pub struct PowerSupply(Arc<std::sync::atomic::AtomicBool>);

impl PowerSupply {
    /// Cuts the power: every disk on this supply fails from now on.
    pub fn cut(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Powers the machine again (its disks still need a reboot).
    pub fn restore(&self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the power is off.
    #[must_use]
    pub fn is_off(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A simulated disk under redb, for the deterministic simulation: an image
/// in memory that tracks what an fsync has made durable, takes one scheduled
/// fault at a time, and after a power loss hands back the image a real disk
/// could hold (every synced byte, any subset of the unsynced sectors).
/// Clones share the disk.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    state: Arc<std::sync::Mutex<DiskState>>,
}

fn power_lost() -> std::io::Error {
    std::io::Error::other("simulated power loss")
}

impl DiskState {
    /// Whether an operation through a backend of `generation` fails: the
    /// power is off (this disk's, or its machine's), or the backend is from
    /// before a reboot.
    fn dead(&self, generation: u64) -> bool {
        self.powered_off || self.supply.as_ref().is_some_and(PowerSupply::is_off) || self.generation != generation
    }

    /// The power goes, for this disk and every other on its machine.
    fn power_off(&mut self) {
        self.powered_off = true;
        if let Some(supply) = &self.supply {
            supply.cut();
        }
    }

    /// Counts one operation against the scheduled fault: `Some(fault)` when
    /// this one is hit.
    fn hit(&mut self, is_write: bool, is_sync: bool) -> Option<DiskFault> {
        let fault = self.fault?;
        let counts = match fault {
            DiskFault::FailWrite { .. } => is_write,
            DiskFault::FailSync { .. } => is_sync,
            DiskFault::PowerLoss { .. } => true,
        };
        if !counts {
            return None;
        }
        self.counted += 1;
        let (DiskFault::FailWrite { after } | DiskFault::FailSync { after } | DiskFault::PowerLoss { after }) = fault;
        if self.counted < after.max(1) {
            return None;
        }
        self.fault = None;
        self.counted = 0;
        Some(fault)
    }

    fn apply(image: &mut Vec<u8>, op: &Unsynced) {
        match op {
            Unsynced::Write { offset, data } => {
                let start = usize::try_from(*offset).expect("bounded by SIM_DISK_BYTES_MAX");
                if image.len() < start + data.len() {
                    image.resize(start + data.len(), 0);
                }
                image[start..start + data.len()].copy_from_slice(data);
            }
            Unsynced::SetLen(len) => image.resize(usize::try_from(*len).expect("bounded"), 0),
        }
    }
}

impl SimDisk {
    /// An empty disk.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules one fault (replacing any not yet hit).
    pub fn schedule(&self, fault: DiskFault) {
        let mut state = self.state.lock().expect("not poisoned");
        state.fault = Some(fault);
        state.counted = 0;
    }

    /// Whether a scheduled fault is still waiting.
    #[must_use]
    pub fn fault_pending(&self) -> bool {
        self.state.lock().expect("not poisoned").fault.is_some()
    }

    /// (writes, fsyncs) done so far.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        let state = self.state.lock().expect("not poisoned");
        (state.writes, state.syncs)
    }

    /// Operations not yet made durable.
    #[must_use]
    pub fn unsynced_ops(&self) -> usize {
        self.state.lock().expect("not poisoned").unsynced.len()
    }

    /// The disk after a power loss and a reboot: every durable byte, and of
    /// each unsynced operation, each sector kept with probability `keep`
    /// (0.0: everything not synced is gone; between: torn writes). The disk
    /// is powered again and clean, with no fault scheduled.
    pub fn reboot(&self, rng: &mut impl rand::Rng, keep: f64) {
        let mut state = self.state.lock().expect("not poisoned");
        let mut image = std::mem::take(&mut state.durable);
        for op in std::mem::take(&mut state.unsynced) {
            match op {
                Unsynced::SetLen(_) if rng.gen_bool(keep) => DiskState::apply(&mut image, &op),
                Unsynced::SetLen(_) => {}
                Unsynced::Write { offset, data } => {
                    for (i, sector) in data.chunks(SECTOR_BYTES).enumerate() {
                        if rng.gen_bool(keep) {
                            let at = offset + (i * SECTOR_BYTES) as u64;
                            DiskState::apply(&mut image, &Unsynced::Write { offset: at, data: sector.to_vec() });
                        }
                    }
                }
            }
        }
        state.current.clone_from(&image);
        state.durable = image;
        state.fault = None;
        state.counted = 0;
        state.powered_off = false;
        state.generation += 1;
    }

    /// A new disk holding what this one holds durably (a replica
    /// provisioned from a copy of another's file).
    #[must_use]
    pub fn duplicate(&self) -> Self {
        let image = self.state.lock().expect("not poisoned").durable.clone();
        Self {
            state: Arc::new(std::sync::Mutex::new(DiskState {
                current: image.clone(),
                durable: image,
                ..DiskState::default()
            })),
        }
    }

    /// Puts this disk on `supply`, the power of the machine it is in.
    pub fn attach(&self, supply: &PowerSupply) {
        self.state.lock().expect("not poisoned").supply = Some(supply.clone());
    }

    /// A redb backend over this disk.
    #[must_use]
    pub fn backend(&self) -> SimBackend {
        let generation = self.state.lock().expect("not poisoned").generation;
        SimBackend { disk: self.clone(), generation }
    }
}

/// The redb side of a [`SimDisk`].
#[derive(Debug)]
pub struct SimBackend {
    disk: SimDisk,
    generation: u64,
}

impl SimBackend {
    fn mutate(&self, op: Unsynced) -> Result<(), std::io::Error> {
        let mut state = self.disk.state.lock().expect("not poisoned");
        if state.dead(self.generation) {
            return Err(power_lost());
        }
        let end = match &op {
            Unsynced::Write { offset, data } => offset.saturating_add(data.len() as u64),
            Unsynced::SetLen(len) => *len,
        };
        if end > SIM_DISK_BYTES_MAX {
            return Err(injected("write past the simulated disk's size"));
        }
        state.writes += 1;
        match state.hit(true, false) {
            Some(DiskFault::FailWrite { .. }) => return Err(injected("write")),
            Some(DiskFault::PowerLoss { .. }) => {
                // Cut off mid-write: the sectors reach the disk or not at
                // the reboot, like any other unsynced write.
                DiskState::apply(&mut state.current, &op);
                state.unsynced.push(op);
                state.power_off();
                return Err(power_lost());
            }
            _ => {}
        }
        DiskState::apply(&mut state.current, &op);
        state.unsynced.push(op);
        Ok(())
    }
}

impl StorageBackend for SimBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        let state = self.disk.state.lock().expect("not poisoned");
        if state.dead(self.generation) {
            return Err(power_lost());
        }
        Ok(state.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let state = self.disk.state.lock().expect("not poisoned");
        if state.dead(self.generation) {
            return Err(power_lost());
        }
        let start = usize::try_from(offset).map_err(|_| std::io::Error::other("offset out of range"))?;
        let source = state
            .current
            .get(start..start + out.len())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end"))?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.mutate(Unsynced::SetLen(len))
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        let mut state = self.disk.state.lock().expect("not poisoned");
        if state.dead(self.generation) {
            return Err(power_lost());
        }
        state.syncs += 1;
        match state.hit(false, true) {
            Some(DiskFault::FailSync { .. }) => return Err(injected("fsync")),
            Some(DiskFault::PowerLoss { .. }) => {
                state.power_off();
                return Err(power_lost());
            }
            _ => {}
        }
        let state = &mut *state;
        for op in state.unsynced.drain(..) {
            DiskState::apply(&mut state.durable, &op);
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.mutate(Unsynced::Write { offset, data: data.to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    fn image(disk: &SimDisk) -> Vec<u8> {
        let backend = disk.backend();
        let mut out = vec![0; usize::try_from(backend.len().expect("len")).expect("small")];
        backend.read(0, &mut out).expect("read");
        out
    }

    #[test]
    fn a_reboot_keeps_what_was_synced_and_drops_the_rest() {
        let disk = SimDisk::new();
        let backend = disk.backend();
        backend.write(0, &[1; 1024]).expect("write");
        backend.sync_data().expect("sync");
        backend.write(0, &[2; 1024]).expect("write");
        backend.write(1024, &[3; 512]).expect("write past the end grows the disk");
        assert_eq!(image(&disk)[0], 2, "reads see unsynced writes");
        assert_eq!(disk.unsynced_ops(), 2);
        disk.reboot(&mut rng(), 0.0);
        assert_eq!(image(&disk), vec![1; 1024], "only the synced write survives");
        assert_eq!(disk.unsynced_ops(), 0);
    }

    #[test]
    fn a_torn_write_keeps_whole_sectors_only() {
        let disk = SimDisk::new();
        let backend = disk.backend();
        backend.write(0, &[0; SECTOR_BYTES * 64]).expect("write");
        backend.sync_data().expect("sync");
        backend.write(0, &[9; SECTOR_BYTES * 64]).expect("write");
        disk.reboot(&mut rng(), 0.5);
        let after = image(&disk);
        let kept = after.chunks(SECTOR_BYTES).filter(|s| s.iter().all(|b| *b == 9)).count();
        let lost = after.chunks(SECTOR_BYTES).filter(|s| s.iter().all(|b| *b == 0)).count();
        assert_eq!(kept + lost, 64, "every sector is old or new, none mixed");
        assert!(kept > 0 && lost > 0, "torn: {kept} sectors kept, {lost} lost");
    }

    #[test]
    fn scheduled_faults_hit_the_nth_operation_once() {
        let disk = SimDisk::new();
        let backend = disk.backend();
        disk.schedule(DiskFault::FailWrite { after: 2 });
        backend.write(0, &[1; 8]).expect("first write works");
        backend.write(0, &[2; 8]).expect_err("second write fails");
        assert!(!disk.fault_pending());
        backend.write(0, &[3; 8]).expect("a failed write is not a dead disk");
        disk.schedule(DiskFault::FailSync { after: 1 });
        backend.sync_data().expect_err("the fsync fails");
        assert_eq!(disk.unsynced_ops(), 2, "a failed fsync makes nothing durable");
        backend.sync_data().expect("the next works");
        disk.schedule(DiskFault::PowerLoss { after: 2 });
        backend.write(0, &[4; 8]).expect("before the power loss");
        backend.write(0, &[5; 8]).expect_err("the power goes");
        backend.read(0, &mut [0; 8]).expect_err("and nothing works until the reboot");
        backend.sync_data().expect_err("not even an fsync");
        disk.reboot(&mut rng(), 1.0);
        assert_eq!(image(&disk), vec![5; 8], "keeping everything keeps the cut-off write too");
        assert_eq!(disk.counts().1, 2, "two fsyncs went through");
    }

    #[test]
    fn a_backend_from_before_a_reboot_cannot_touch_the_new_image() {
        let disk = SimDisk::new();
        let old = disk.backend();
        old.write(0, &[1; 8]).expect("write");
        old.sync_data().expect("sync");
        disk.reboot(&mut rng(), 1.0);
        old.write(0, &[2; 8]).expect_err("stale");
        old.read(0, &mut [0; 8]).expect_err("stale");
        assert_eq!(image(&disk), vec![1; 8]);
    }

    #[test]
    fn the_disk_has_a_size() {
        let backend = SimDisk::new().backend();
        backend.set_len(SIM_DISK_BYTES_MAX + 1).expect_err("past the simulated disk");
        backend.write(SIM_DISK_BYTES_MAX, &[1]).expect_err("past the simulated disk");
    }
}
