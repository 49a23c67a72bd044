//! The verify pool: one thread per core, each taking what is queued (one
//! transaction at low load, up to `VERIFY_BATCH_SIGNATURES_MAX` signatures
//! under load, never waiting for more) and checking everything that needs
//! no ledger state (`core::verify`), the signatures in BIP340 batches.
//!
//! A batch with a bad signature is verified again one by one, so a source
//! sending bad signatures would make honest payments pay twice. A source
//! whose transaction failed its signature check is therefore verified
//! singly, apart from the batches, for `SUSPECT_SINGLY_MS` after its last
//! failure (`Suspects`).

use std::collections::HashMap;
use std::sync::{Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::*;
use crate::core::limits::{SUSPECT_SINGLY_MS, SUSPECTS_MAX, VERIFY_BATCH_SIGNATURES_MAX};

pub(super) fn verify_loop(
    queue: &Mutex<mpsc::Receiver<VerifyJob>>,
    sequencer: &std_mpsc::SyncSender<SequencerJob>,
    known: &verify::KnownKeys,
    suspects: &Suspects,
    metrics: &Metrics,
    chain: &ChainId,
) {
    loop {
        let Some(jobs) = take_queued(queue, metrics) else { return };
        let now = Instant::now();
        let (singly, batched): (Vec<VerifyJob>, Vec<VerifyJob>) =
            jobs.into_iter().partition(|(_, submitter, _)| suspects.is_suspect(submitter, now));
        // The batch first: honest payments do not wait behind a suspect's
        // single verifications.
        if !batched.is_empty() {
            metrics.verify_batches.inc();
            let (txs, callers): (Vec<Transaction>, Vec<(Submitter, Responder)>) =
                batched.into_iter().map(|(tx, submitter, reply)| (tx, (submitter, reply))).unzip();
            let answers = verify::verify_batched(txs, known, chain).into_iter().zip(callers);
            if !answer_all(
                answers.map(|(answer, (submitter, reply))| (answer, submitter, reply)),
                suspects,
                now,
                sequencer,
                metrics,
            ) {
                return;
            }
        }
        metrics.signatures_singly.inc_by(signatures(&singly));
        let answers =
            singly.into_iter().map(|(tx, submitter, reply)| (verify::verify_with(tx, known, chain), submitter, reply));
        if !answer_all(answers, suspects, now, sequencer, metrics) {
            return;
        }
    }
}

/// Passes each answer on, striking the sources of bad signatures. `false`
/// once the sequencer is gone.
fn answer_all(
    answers: impl Iterator<Item = (Result<verify::VerifiedTx, Refusal>, Submitter, Responder)>,
    suspects: &Suspects,
    now: Instant,
    sequencer: &std_mpsc::SyncSender<SequencerJob>,
    metrics: &Metrics,
) -> bool {
    for (answer, submitter, reply) in answers {
        if let Err(refusal) = &answer
            && refusal.reason == Reason::BadSignature
        {
            suspects.strike(&submitter, now);
        }
        if !pass_on(answer, submitter, reply, sequencer, metrics) {
            return false;
        }
    }
    true
}

/// What is queued: the first job (waiting for it), then whatever else is
/// already there, up to `VERIFY_BATCH_SIGNATURES_MAX` signatures. Jobs
/// whose caller went away are dropped. `None` once the queue is closed.
fn take_queued(queue: &Mutex<mpsc::Receiver<VerifyJob>>, metrics: &Metrics) -> Option<Vec<VerifyJob>> {
    let mut queue = queue.lock().expect("not poisoned");
    let mut jobs = Vec::new();
    let mut signatures = 0;
    while signatures < VERIFY_BATCH_SIGNATURES_MAX {
        let job = if jobs.is_empty() {
            queue.blocking_recv()?
        } else {
            match queue.try_recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        };
        metrics.verify_queue.dec();
        if job.2.is_closed() {
            continue;
        }
        signatures += job.0.witnesses.len().max(1);
        jobs.push(job);
    }
    Some(jobs)
}

fn signatures(jobs: &[VerifyJob]) -> u64 {
    jobs.iter().map(|(tx, _, _)| tx.witnesses.len() as u64).sum()
}

/// Sends a verified transaction on to the sequencer, or the refusal back.
/// `false` once the sequencer is gone.
fn pass_on(
    answer: Result<verify::VerifiedTx, Refusal>,
    submitter: Submitter,
    reply: Responder,
    sequencer: &std_mpsc::SyncSender<SequencerJob>,
    metrics: &Metrics,
) -> bool {
    match answer {
        Ok(vtx) => {
            metrics.sequencer_queue.inc();
            if let Err(std_mpsc::SendError(job)) = sequencer.send(SequencerJob::Tx { vtx, submitter, reply }) {
                if let SequencerJob::Tx { reply, .. } = job {
                    let _ = reply.send(Err(unavailable()));
                }
                return false;
            }
        }
        Err(refusal) => {
            let _ = reply.send(Err(refusal));
        }
    }
    true
}

/// Sources (terminals, banks, trusted callers) that sent a bad signature
/// lately, and until when they are verified singly. At most `SUSPECTS_MAX`;
/// when that many are suspect at once, every source is (single
/// verification, the cost before batches) until some expire.
pub(super) struct Suspects {
    until: Mutex<Table>,
    singly_for: Duration,
    max: usize,
}

/// The suspects and the earliest time one of them expires, so that a full
/// table is scanned only when something in it has expired.
#[derive(Default)]
struct Table {
    until: HashMap<Submitter, Instant>,
    earliest: Option<Instant>,
}

impl Table {
    fn prune(&mut self, now: Instant) {
        if self.earliest.is_some_and(|earliest| earliest <= now) {
            self.until.retain(|_, until| *until > now);
            self.earliest = self.until.values().min().copied();
        }
    }
}

impl Default for Suspects {
    fn default() -> Self {
        Self::new(Duration::from_millis(SUSPECT_SINGLY_MS), SUSPECTS_MAX)
    }
}

impl Suspects {
    pub(super) fn new(singly_for: Duration, max: usize) -> Self {
        Self { until: Mutex::new(Table::default()), singly_for, max }
    }

    pub(super) fn is_suspect(&self, source: &Submitter, now: Instant) -> bool {
        let mut table = self.until.lock().expect("not poisoned");
        if table.until.len() >= self.max {
            table.prune(now);
        }
        table.until.len() >= self.max || table.until.get(source).is_some_and(|until| *until > now)
    }

    pub(super) fn strike(&self, source: &Submitter, now: Instant) {
        let mut table = self.until.lock().expect("not poisoned");
        if table.until.len() >= self.max && !table.until.contains_key(source) {
            table.prune(now);
        }
        if table.until.len() < self.max || table.until.contains_key(source) {
            let until = now + self.singly_for;
            table.until.insert(source.clone(), until);
            table.earliest = Some(table.earliest.map_or(until, |earliest| earliest.min(until)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job of `witnesses` (unsigned: only the count matters here) whose
    /// caller waits, and its caller's end.
    fn job(witnesses: usize) -> (VerifyJob, oneshot::Receiver<Reply>) {
        let witness =
            crate::core::types::Witness { public_key: crate::core::types::Address([7; 32]), signature: [0; 64] };
        let tx = Transaction {
            version: crate::core::types::TX_VERSION,
            kind: crate::core::types::TxKind::Transfer,
            inputs: Vec::new(),
            outputs: Vec::new(),
            reference: Vec::new(),
            witnesses: vec![witness; witnesses],
        };
        let (reply, caller) = oneshot::channel();
        ((tx, Submitter::Trusted, reply), caller)
    }

    #[test]
    fn a_verify_thread_takes_what_is_queued_up_to_the_batch_bound_and_no_more() {
        let metrics = Metrics::default();
        let (sender, receiver) = mpsc::channel(1_000);
        let mut callers = Vec::new();
        for _ in 0..VERIFY_BATCH_SIGNATURES_MAX + 10 {
            let (job, caller) = job(1);
            callers.push(caller);
            sender.try_send(job).expect("room");
        }
        let queue = Mutex::new(receiver);
        let taken = take_queued(&queue, &metrics).expect("open");
        assert_eq!(taken.len(), VERIFY_BATCH_SIGNATURES_MAX, "one batch's worth of signatures");
        assert_eq!(take_queued(&queue, &metrics).expect("open").len(), 10, "the rest, without waiting for more");
        // Transactions are taken whole until the bound is reached.
        for witnesses in [16, 16, 16, 16, 16, 1] {
            let (job, caller) = job(witnesses);
            callers.push(caller);
            sender.try_send(job).expect("room");
        }
        let sizes: Vec<usize> =
            take_queued(&queue, &metrics).expect("open").iter().map(|(tx, _, _)| tx.witnesses.len()).collect();
        assert_eq!(sizes, [16, 16, 16, 16], "stops once the bound is reached");
        // A job whose caller went away is dropped, not verified.
        drop(callers.pop());
        let sizes: Vec<usize> =
            take_queued(&queue, &metrics).expect("open").iter().map(|(tx, _, _)| tx.witnesses.len()).collect();
        assert_eq!(sizes, [16], "the abandoned job of 1 is not among them");
        drop(sender);
        assert!(take_queued(&queue, &metrics).is_none(), "closed and empty");
    }

    fn terminal(id: &str) -> Submitter {
        Submitter::Terminal { id: id.to_owned(), merchant: "shop".to_owned() }
    }

    #[test]
    fn a_source_with_a_bad_signature_is_verified_singly_until_its_time_is_out() {
        let suspects = Suspects::new(Duration::from_secs(60), 4);
        let now = Instant::now();
        assert!(!suspects.is_suspect(&terminal("a"), now));
        suspects.strike(&terminal("a"), now);
        assert!(suspects.is_suspect(&terminal("a"), now));
        assert!(!suspects.is_suspect(&terminal("b"), now), "another source is not");
        assert!(suspects.is_suspect(&terminal("a"), now + Duration::from_secs(59)));
        assert!(!suspects.is_suspect(&terminal("a"), now + Duration::from_secs(61)), "forgiven");
        suspects.strike(&terminal("a"), now + Duration::from_secs(50));
        assert!(suspects.is_suspect(&terminal("a"), now + Duration::from_secs(100)), "a new failure extends it");
    }

    #[test]
    fn at_suspects_max_every_source_is_verified_singly_until_some_expire() {
        let suspects = Suspects::new(Duration::from_secs(60), 3);
        let now = Instant::now();
        for id in ["a", "b", "c"] {
            suspects.strike(&terminal(id), now);
        }
        assert!(suspects.is_suspect(&terminal("honest"), now), "the table is full: no batches for anyone");
        assert!(
            !suspects.is_suspect(&terminal("honest"), now + Duration::from_secs(61)),
            "expired entries make room without a new failure"
        );
        for id in ["a", "b", "c"] {
            suspects.strike(&terminal(id), now);
        }
        suspects.strike(&terminal("d"), now + Duration::from_secs(1));
        assert_eq!(suspects.until.lock().expect("not poisoned").until.len(), 3, "never more than the bound");
        let later = now + Duration::from_secs(61);
        suspects.strike(&terminal("d"), later);
        assert!(suspects.is_suspect(&terminal("d"), later));
        assert!(!suspects.is_suspect(&terminal("honest"), later), "the expired made room");
        assert!(!suspects.is_suspect(&terminal("a"), later));
    }
}
