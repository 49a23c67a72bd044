//! The verify pool: one thread per core, each taking the next transaction
//! and checking everything that needs no ledger state (`core::verify`).

use std::sync::atomic::Ordering;
use std::sync::{Mutex, mpsc as std_mpsc};

use tokio::sync::mpsc;

use super::*;

pub(super) fn verify_loop(
    queue: &Mutex<mpsc::Receiver<VerifyJob>>,
    sequencer: &std_mpsc::SyncSender<SequencerJob>,
    known: &verify::KnownKeys,
    metrics: &Metrics,
    chain: &ChainId,
) {
    loop {
        let job = queue.lock().expect("not poisoned").blocking_recv();
        let Some((tx, submitter, reply)) = job else { return };
        metrics.verify_queue.fetch_sub(1, Ordering::Relaxed);
        if reply.is_closed() {
            continue;
        }
        match verify::verify_with(tx, known, chain) {
            Ok(vtx) => {
                metrics.sequencer_queue.fetch_add(1, Ordering::Relaxed);
                if let Err(std_mpsc::SendError(job)) = sequencer.send(SequencerJob::Tx { vtx, submitter, reply }) {
                    if let SequencerJob::Tx { reply, .. } = job {
                        let _ = reply.send(Err(unavailable()));
                    }
                    return;
                }
            }
            Err(refusal) => {
                let _ = reply.send(Err(refusal));
            }
        }
    }
}
