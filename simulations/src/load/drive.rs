//! The measured part: simulated terminals submitting pre-signed chains, and
//! a collector that closes each second (progress line, per-second series,
//! totals over the measured window).
//!
//! Each terminal is one task on its own gRPC connection. It holds its lanes
//! (wallets or pairs): a lane with a payment in flight waits for its result,
//! since its next payment spends that one's output. Open loop, arrivals are a
//! Poisson process per terminal (together one at the requested rate); an
//! arrival that finds no free lane or window slot waits in a bounded backlog
//! and its latency still counts from its scheduled time, so that a slow
//! server cannot hide its queueing (no coordinated omission). Closed loop, a
//! terminal refills its window as results come back.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client::{self, Client, Replicas};
use settled::{Transaction, TxId, proto};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;

use super::second::Second;
use super::server::{Target, cpu_seconds};
use super::setup::describe;
use super::{LoadError, Mode};

/// Latencies are recorded in microseconds up to a minute (3 significant
/// digits); anything slower is recorded as a minute.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Open-loop arrivals one terminal holds while it has no free lane or window
/// slot; past it an arrival is dropped and counted.
pub const BACKLOG_MAX: usize = 100_000;
/// Wait before resubmitting a payment refused as overloaded when the server
/// gave no hint (it gives one with every overload refusal).
pub const RETRY_DELAY: Duration = Duration::from_millis(settled::limits::OVERLOAD_RETRY_AFTER_MS as u64);
/// How long terminals may take to collect the results still in flight when
/// the run ends.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const SECOND: Duration = Duration::from_secs(1);

/// One wallet's (or pair's) pre-signed chain and how far it has got.
pub struct Lane {
    txs: Vec<Transaction>,
    txids: Vec<TxId>,
    next: usize,
}

impl Lane {
    #[must_use]
    pub fn new(txs: Vec<Transaction>, txids: Vec<TxId>) -> Self {
        assert_eq!(txs.len(), txids.len(), "one txid per payment");
        Self { txs, txids, next: 0 }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    #[cfg(test)]
    pub fn parts(&self) -> (&[Transaction], &[TxId]) {
        (&self.txs, &self.txids)
    }
}

pub struct DriveConfig {
    pub mode: Mode,
    pub terminals: usize,
    pub window: usize,
    pub rate_per_s: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed: u64,
    pub server_pid: Option<u32>,
    pub progress: bool,
}

/// What the load measured.
pub struct Driven {
    pub series: Vec<Second>,
    /// Submission to durable receipt, over the measured window.
    pub latency_us: Histogram<u64>,
    /// The attempt that was confirmed, sent to receipt: what the server
    /// takes once it admits a payment (no generator backlog, no retries).
    pub admitted_us: Histogram<u64>,
    /// Sent to an overload refusal: how fast the server sheds the excess.
    pub overload_refusal_us: Histogram<u64>,
    pub confirmed: u64,
    pub refused: u64,
    pub measured_s: f64,
    /// Over the whole run (warmup and drain included).
    pub confirmed_total: u64,
    pub refused_by_reason: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub tally: Tally,
    pub server_cpu_cores: Option<f64>,
    /// The server's peak resident memory at the end of the run.
    pub server_peak_rss_bytes: Option<u64>,
    pub generator_cpu_cores: Option<f64>,
}

/// What the terminals could not do, summed.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Tally {
    /// Open-loop arrivals of the run: each is sent, dropped or left unsent.
    pub arrivals: u64,
    /// Open-loop arrivals dropped because a terminal's backlog was full.
    pub arrivals_dropped: u64,
    /// Open-loop arrivals still waiting when the run ended.
    pub arrivals_unsent: u64,
    /// Lanes that ran out of pre-signed payments (raise --chain).
    pub chains_exhausted: u64,
    /// Lanes stopped by a refusal other than overload (their next payment
    /// would spend an output that does not exist).
    pub lanes_failed: u64,
    /// Terminals still waiting for results after `DRAIN_TIMEOUT`.
    pub terminals_not_drained: u64,
    /// Against a cluster: times a terminal moved to a new leader (its
    /// stream broke, its connection failed, or a replica answered
    /// `NOT_LEADER`), resubmitting what it had in flight.
    pub failovers: u64,
    /// Payments in flight when the run ended while their terminal had lost
    /// its leader: neither confirmed nor refused (resubmitting them would
    /// settle which).
    pub unresolved_at_end: u64,
}

impl Tally {
    fn add(&mut self, other: &Self) {
        self.arrivals += other.arrivals;
        self.arrivals_dropped += other.arrivals_dropped;
        self.arrivals_unsent += other.arrivals_unsent;
        self.chains_exhausted += other.chains_exhausted;
        self.lanes_failed += other.lanes_failed;
        self.terminals_not_drained += other.terminals_not_drained;
        self.failovers += other.failovers;
        self.unresolved_at_end += other.unresolved_at_end;
    }
}

/// Results of one terminal since the collector last looked.
struct Interval {
    latency_us: Histogram<u64>,
    admitted_us: Histogram<u64>,
    overload_refusal_us: Histogram<u64>,
    confirmed: u64,
    refused: u64,
    refused_by_reason: BTreeMap<String, u64>,
    duplicates: u64,
}

impl Interval {
    fn new() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds"),
            admitted_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds"),
            overload_refusal_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds"),
            confirmed: 0,
            refused: 0,
            refused_by_reason: BTreeMap::new(),
            duplicates: 0,
        }
    }

    fn add(&mut self, other: &Self) {
        self.latency_us.add(&other.latency_us).expect("histograms of the same bounds");
        self.admitted_us.add(&other.admitted_us).expect("histograms of the same bounds");
        self.overload_refusal_us.add(&other.overload_refusal_us).expect("histograms of the same bounds");
        self.confirmed += other.confirmed;
        self.refused += other.refused;
        for (reason, count) in &other.refused_by_reason {
            *self.refused_by_reason.entry(reason.clone()).or_default() += count;
        }
        self.duplicates += other.duplicates;
    }

    fn take(&mut self) -> Self {
        let taken = Self {
            latency_us: self.latency_us.clone(),
            admitted_us: self.admitted_us.clone(),
            overload_refusal_us: self.overload_refusal_us.clone(),
            confirmed: self.confirmed,
            refused: self.refused,
            refused_by_reason: std::mem::take(&mut self.refused_by_reason),
            duplicates: self.duplicates,
        };
        self.latency_us.reset();
        self.admitted_us.reset();
        self.overload_refusal_us.reset();
        self.confirmed = 0;
        self.refused = 0;
        self.duplicates = 0;
        taken
    }
}

/// Runs the terminals for warmup + duration, then collects what is in flight.
///
/// # Errors
/// A connection or stream that fails, or a result that matches nothing sent.
pub async fn drive(target: &Target, lanes: Vec<Lane>, config: &DriveConfig) -> Result<Driven, LoadError> {
    let mut shares: Vec<Vec<Lane>> = (0..config.terminals).map(|_| Vec::new()).collect();
    for (i, lane) in lanes.into_iter().enumerate() {
        shares[i % config.terminals].push(lane);
    }
    let failover = if target.replicas.len() > 1 {
        Some(Replicas::lazy_with_token(&target.replicas, &target.token).map_err(LoadError::Options)?)
    } else {
        None
    };
    let mut wires = Vec::with_capacity(config.terminals);
    for t in 0..config.terminals {
        let client = Client::connect_with_token(&target.url, &target.token)
            .await
            .map_err(|e| LoadError::Drive(format!("terminal {t}: connecting to {}: {e}", target.url)))?;
        wires.push(Wire::open(&client, config.mode, config.window).await.map_err(|e| e.terminal(t))?);
    }
    let start = Instant::now();
    let warmup_s = config.warmup.as_secs();
    let total_s = warmup_s + config.duration.as_secs();
    #[allow(clippy::cast_precision_loss)]
    let clock = Clock {
        start,
        end: start + config.warmup + config.duration,
        rate_per_s: config.rate_per_s / config.terminals as f64,
    };
    let mut stats = Vec::with_capacity(config.terminals);
    let mut tasks: JoinSet<Result<Tally, LoadError>> = JoinSet::new();
    for (t, (share, wire)) in shares.into_iter().zip(wires).enumerate() {
        let interval = Arc::new(Mutex::new(Interval::new()));
        stats.push(Arc::clone(&interval));
        let mut terminal = Terminal::new(t, share, config.window, clock.rate_per_s > 0.0, interval);
        if let Some(replicas) = &failover {
            terminal.failover =
                Some(Failover { replicas: replicas.clone(), token: target.token.clone(), mode: config.mode });
        }
        let seed = config.seed.wrapping_mul(1_000_003).wrapping_add(t as u64);
        tasks.spawn(terminal.run(wire, clock, seed));
    }

    let snapshot = || (Instant::now(), config.server_pid.and_then(|pid| cpu_seconds(Some(pid))), cpu_seconds(None));
    let mut measure_start = snapshot();
    let mut measured = Interval::new();
    let mut whole = Interval::new();
    let mut series = Vec::with_capacity(usize::try_from(total_s).unwrap_or(0));
    let mut tally = Tally::default();
    let mut previous = start;
    for tick in 1..=total_s {
        tokio::time::sleep_until((start + SECOND * u32::try_from(tick).unwrap_or(u32::MAX)).into()).await;
        let now = Instant::now();
        let mut second = Interval::new();
        for interval in &stats {
            second.add(&interval.lock().expect("stats lock").take());
        }
        let in_window = tick > warmup_s;
        if in_window {
            measured.add(&second);
        }
        whole.add(&second);
        let point = Second::new(
            now.duration_since(start),
            now.duration_since(previous),
            in_window,
            (second.confirmed, second.refused),
            &second.latency_us,
        );
        if config.progress {
            println!("{}", point.progress_line());
        }
        series.push(point);
        previous = now;
        if tick == warmup_s {
            measure_start = snapshot();
        }
        // A terminal that failed ends the run now, not after the window.
        while let Some(done) = tasks.try_join_next() {
            tally.add(&finished(done)?);
        }
    }
    let measure_end = snapshot();

    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(done) = tasks.join_next().await {
            tally.add(&finished(done)?);
        }
        Ok::<(), LoadError>(())
    })
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => {
            tally.terminals_not_drained = tasks.len() as u64;
            tasks.abort_all();
        }
    }
    for interval in &stats {
        whole.add(&interval.lock().expect("stats lock").take());
    }

    let measured_s = measure_end.0.duration_since(measure_start.0).as_secs_f64();
    let cores = |before: Option<f64>, after: Option<f64>| Some((after? - before?) / measured_s);
    Ok(Driven {
        series,
        latency_us: measured.latency_us,
        admitted_us: measured.admitted_us,
        overload_refusal_us: measured.overload_refusal_us,
        confirmed: measured.confirmed,
        refused: measured.refused,
        measured_s,
        confirmed_total: whole.confirmed,
        refused_by_reason: whole.refused_by_reason,
        duplicates: whole.duplicates,
        tally,
        server_cpu_cores: cores(measure_start.1, measure_end.1),
        server_peak_rss_bytes: config.server_pid.and_then(super::server::peak_rss_bytes),
        generator_cpu_cores: cores(measure_start.2, measure_end.2),
    })
}

fn finished(done: Result<Result<Tally, LoadError>, tokio::task::JoinError>) -> Result<Tally, LoadError> {
    done.map_err(|e| LoadError::Drive(format!("terminal task: {e}")))?
}

#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    end: Instant,
    /// This terminal's share of the arrival rate; 0 = closed loop.
    rate_per_s: f64,
}

/// Exponential inter-arrival time of a Poisson process.
fn exponential(rng: &mut StdRng, rate_per_s: f64) -> Duration {
    let uniform: f64 = rng.r#gen();
    Duration::from_secs_f64(-(1.0 - uniform).ln() / rate_per_s)
}

struct Terminal {
    index: usize,
    lanes: Vec<Lane>,
    /// Scheduled and sent time of each lane's payment in flight.
    in_flight: Vec<Option<(Instant, Instant)>>,
    /// Lanes with nothing in flight and payments left.
    ready: VecDeque<usize>,
    /// Lanes whose payment was refused as overloaded: (lane, scheduled, retry at).
    parked: VecDeque<(usize, Instant, Instant)>,
    /// Open loop: arrivals waiting for a lane and a window slot.
    backlog: VecDeque<Instant>,
    /// After an overload refusal the terminal sends nothing (retries or new
    /// payments) until the server's hint has passed, as a client should.
    paused_until: Option<Instant>,
    outstanding: usize,
    window: usize,
    open: bool,
    stats: Arc<Mutex<Interval>>,
    tally: Tally,
    /// Against a cluster: how to reach the next leader.
    failover: Option<Failover>,
    /// The wire broke or a replica said it does not lead: move before
    /// sending anything else.
    must_fail_over: bool,
    /// When this terminal last had a payment confirmed before it began
    /// failing over: it gives up `FAILOVER_WITHIN` after, however many
    /// replicas answered meanwhile without taking a payment.
    failing_since: Option<Instant>,
}

/// A terminal's way to the leader of a cluster.
struct Failover {
    replicas: Replicas,
    token: String,
    mode: Mode,
}

impl Terminal {
    fn new(index: usize, lanes: Vec<Lane>, window: usize, open: bool, stats: Arc<Mutex<Interval>>) -> Self {
        let ready = (0..lanes.len()).filter(|&i| !lanes[i].is_empty()).collect();
        Self {
            index,
            in_flight: vec![None; lanes.len()],
            lanes,
            ready,
            parked: VecDeque::new(),
            backlog: VecDeque::new(),
            paused_until: None,
            outstanding: 0,
            window,
            open,
            stats,
            tally: Tally::default(),
            failover: None,
            must_fail_over: false,
            failing_since: None,
        }
    }

    /// Everything in flight goes back to be sent again (first, with its
    /// scheduled time: the outage counts in its latency): the wire it was
    /// on is given up. Resubmitting is safe; a payment that was confirmed
    /// comes back as a duplicate with its receipt.
    fn take_back_in_flight(&mut self, now: Instant) {
        for lane in (0..self.in_flight.len()).rev() {
            if let Some((scheduled, _)) = self.in_flight[lane].take() {
                self.parked.push_front((lane, scheduled, now));
            }
        }
        self.outstanding = 0;
    }

    /// Finds the leader and opens a new wire to it, trying the replicas in
    /// turn for at most `FAILOVER_WITHIN`.
    async fn fail_over(&mut self) -> Result<Wire, LoadError> {
        self.take_back_in_flight(Instant::now());
        self.tally.failovers += 1;
        let failover = self.failover.as_ref().expect("only a cluster's terminals fail over");
        let (replicas, token, mode, window) =
            (failover.replicas.clone(), failover.token.clone(), failover.mode, self.window);
        let deadline = *self.failing_since.get_or_insert_with(Instant::now) + settled::limits::FAILOVER_WITHIN;
        loop {
            tokio::time::sleep(settled::limits::FAILOVER_RETRY_DELAY).await;
            let attempt = async {
                // Only a replica that says it leads: with no leader elected
                // yet, a follower would open the stream and refuse the
                // first payment.
                let mut client = replicas.find_leader().await.map_err(|s| describe(&s))?;
                let url = replicas.current_url().to_owned();
                let info = client.info(false).await.map_err(|s| format!("{url}: {}", describe(&s)))?;
                if info.cluster.is_some_and(|cluster| !cluster.leading) {
                    return Err(format!("{url}: no replica leads yet"));
                }
                let client = Client::connect_with_token(&url, &token).await.map_err(|e| format!("{url}: {e}"))?;
                Wire::open(&client, mode, window).await.map_err(|e| e.to_string())
            };
            match attempt.await {
                Ok(wire) => {
                    self.must_fail_over = false;
                    return Ok(wire);
                }
                Err(why) if Instant::now() >= deadline => {
                    return Err(LoadError::Drive(format!(
                        "no replica took payments within {} s: {why}",
                        settled::limits::FAILOVER_WITHIN.as_secs()
                    )));
                }
                Err(_) => replicas.rotate(),
            }
        }
    }

    async fn run(mut self, mut wire: Wire, clock: Clock, seed: u64) -> Result<Tally, LoadError> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut next_arrival =
            if self.open { clock.start + exponential(&mut rng, clock.rate_per_s) } else { clock.end };
        let mut stopping = false;
        loop {
            let now = Instant::now();
            if !stopping && now >= clock.end {
                stopping = true;
                self.tally.arrivals_unsent += self.backlog.len() as u64;
                self.backlog.clear();
                // Due before the end, but this terminal woke after it.
                while self.open && next_arrival < clock.end {
                    self.tally.arrivals += 1;
                    self.tally.arrivals_unsent += 1;
                    next_arrival += exponential(&mut rng, clock.rate_per_s);
                }
            }
            if self.must_fail_over && !stopping {
                wire = self.fail_over().await.map_err(|e| e.terminal(self.index))?;
                continue;
            }
            if stopping {
                if self.must_fail_over {
                    // The run ended with the leader gone: what this
                    // terminal had in flight is left unresolved.
                    self.take_back_in_flight(now);
                    self.tally.unresolved_at_end += self.parked.len() as u64;
                    break;
                }
                if self.outstanding == 0 {
                    break;
                }
            } else {
                while self.open && next_arrival <= now {
                    self.tally.arrivals += 1;
                    if self.backlog.len() < BACKLOG_MAX {
                        self.backlog.push_back(next_arrival);
                    } else {
                        self.tally.arrivals_dropped += 1;
                    }
                    next_arrival += exponential(&mut rng, clock.rate_per_s);
                }
                match self.fill(&mut wire, now).await {
                    Ok(()) => {}
                    Err(_) if self.failover.is_some() => {
                        self.must_fail_over = true;
                        continue;
                    }
                    Err(e) => return Err(e.terminal(self.index)),
                }
            }
            let mut wake = clock.end.min(next_arrival);
            if let Some(until) = self.paused_until {
                wake = wake.min(until);
            }
            // A due retry with the window full waits for a result instead.
            if let Some(&(_, _, retry_at)) = self.parked.front()
                && self.outstanding < self.window
            {
                wake = wake.min(retry_at);
            }
            tokio::select! {
                completion = wire.next(), if self.outstanding > 0 => match completion {
                    Ok(completion) => self.complete(completion).map_err(|e| e.terminal(self.index))?,
                    Err(_) if self.failover.is_some() => self.must_fail_over = true,
                    Err(e) => return Err(e.terminal(self.index)),
                },
                () = tokio::time::sleep_until(wake.into()), if !stopping => {}
                else => break,
            }
        }
        Ok(self.tally)
    }

    /// Sends what may be sent now: retries that are due, then new payments
    /// (closed loop) or waiting arrivals (open loop), up to the window.
    async fn fill(&mut self, wire: &mut Wire, now: Instant) -> Result<(), LoadError> {
        if self.paused_until.is_some_and(|until| now < until) {
            return Ok(());
        }
        self.paused_until = None;
        while self.outstanding < self.window {
            match self.parked.front() {
                Some(&(lane, scheduled, retry_at)) if retry_at <= now => {
                    self.parked.pop_front();
                    self.send(wire, lane, scheduled).await?;
                }
                _ => break,
            }
        }
        while self.outstanding < self.window {
            let scheduled = if self.open {
                match self.backlog.front() {
                    Some(&arrival) => arrival,
                    None => break,
                }
            } else {
                now
            };
            let Some(lane) = self.ready.pop_front() else { break };
            if self.open {
                self.backlog.pop_front();
            }
            self.send(wire, lane, scheduled).await?;
        }
        Ok(())
    }

    async fn send(&mut self, wire: &mut Wire, lane: usize, scheduled: Instant) -> Result<(), LoadError> {
        let step = self.lanes[lane].next;
        let client_id = (u64::try_from(lane).expect("lanes fit u32") << 32) | u64::try_from(step).expect("bounded");
        self.in_flight[lane] = Some((scheduled, Instant::now()));
        self.outstanding += 1;
        wire.send(client_id, &self.lanes[lane].txs[step]).await
    }

    fn complete(&mut self, completion: Completion) -> Result<(), LoadError> {
        let now = Instant::now();
        let lane = usize::try_from(completion.client_id >> 32).expect("u32 fits usize");
        let step = usize::try_from(completion.client_id & 0xffff_ffff).expect("u32 fits usize");
        let Some((scheduled, sent)) = self.in_flight.get_mut(lane).and_then(Option::take) else {
            return Err(LoadError::Drive(format!(
                "a result for client_id {:#x}, which has nothing in flight",
                completion.client_id
            )));
        };
        if self.lanes[lane].next != step {
            return Err(LoadError::Drive(format!(
                "a result for payment {step} of lane {lane}, which is not in flight"
            )));
        }
        self.outstanding -= 1;
        let latency_us = u64::try_from(now.saturating_duration_since(scheduled).as_micros()).unwrap_or(u64::MAX);
        let attempt_us = u64::try_from(now.saturating_duration_since(sent).as_micros()).unwrap_or(u64::MAX);
        let mut stats = self.stats.lock().expect("stats lock");
        match completion.outcome {
            Outcome::Confirmed { txid, duplicate } => {
                let lane_state = &mut self.lanes[lane];
                if txid != lane_state.txids[step].0 {
                    return Err(LoadError::Drive(format!(
                        "the receipt for {} names txid {}",
                        lane_state.txids[step],
                        TxId::from_slice(&txid).map_or_else(|| "(malformed)".to_owned(), |t| t.to_string())
                    )));
                }
                stats.latency_us.saturating_record(latency_us.clamp(1, LATENCY_US_MAX));
                stats.admitted_us.saturating_record(attempt_us.clamp(1, LATENCY_US_MAX));
                stats.confirmed += 1;
                stats.duplicates += u64::from(duplicate);
                self.failing_since = None;
                lane_state.next += 1;
                if lane_state.next < lane_state.len() {
                    self.ready.push_back(lane);
                } else {
                    self.tally.chains_exhausted += 1;
                }
            }
            // Against a cluster: another replica may take it.
            Outcome::Refused { not_here: true, .. } if self.failover.is_some() => {
                self.parked.push_front((lane, scheduled, now));
                self.must_fail_over = true;
            }
            Outcome::Refused { reason, overloaded, retry_after, .. } => {
                stats.refused += 1;
                *stats.refused_by_reason.entry(reason).or_default() += 1;
                if overloaded {
                    stats.overload_refusal_us.saturating_record(attempt_us.clamp(1, LATENCY_US_MAX));
                    // The server's hint, as a client should: retrying sooner
                    // only adds refusals.
                    self.parked.push_back((lane, scheduled, now + retry_after));
                    self.paused_until = Some(self.paused_until.map_or(now + retry_after, |u| u.max(now + retry_after)));
                } else {
                    self.tally.lanes_failed += 1;
                }
            }
        }
        Ok(())
    }
}

impl LoadError {
    fn terminal(self, index: usize) -> Self {
        match self {
            Self::Drive(m) => Self::Drive(format!("terminal {index}: {m}")),
            other => other,
        }
    }
}

/// A result, matched to its payment by client_id.
struct Completion {
    client_id: u64,
    outcome: Outcome,
}

enum Outcome {
    Confirmed {
        txid: Vec<u8>,
        duplicate: bool,
    },
    /// `retry_after`: the server's hint with an overload refusal.
    /// `not_here`: this replica does not take payments now (it does not
    /// lead, its engine stopped, or the connection failed or broke):
    /// another replica of a cluster may.
    Refused {
        not_here: bool,
        reason: String,
        overloaded: bool,
        retry_after: Duration,
    },
}

impl Completion {
    fn unary(client_id: u64, result: Result<tonic::Response<proto::SubmitPaymentResponse>, tonic::Status>) -> Self {
        let outcome = match result {
            Ok(response) => {
                let response = response.into_inner();
                Outcome::Confirmed {
                    txid: response.receipt.map(|r| r.txid).unwrap_or_default(),
                    duplicate: response.duplicate,
                }
            }
            Err(status) => Outcome::Refused {
                not_here: not_here(&status),
                reason: client::status_reason(&status)
                    .map_or_else(|| format!("TRANSPORT_{:?}", status.code()), |r| r.as_str_name().to_owned()),
                overloaded: status.code() == tonic::Code::ResourceExhausted,
                retry_after: tonic_types::StatusExt::get_details_retry_info(&status)
                    .and_then(|r| r.retry_delay)
                    .unwrap_or(RETRY_DELAY),
            },
        };
        Self { client_id, outcome }
    }

    fn streamed(response: proto::SubmitPaymentsResponse) -> Self {
        use proto::submit_payments_response::Result as Item;
        let outcome = match response.result {
            Some(Item::Receipt(_)) => Outcome::Confirmed { txid: response.txid, duplicate: response.duplicate },
            Some(Item::Refusal(refusal)) => {
                let reason = proto::Reason::try_from(refusal.reason);
                let not_here = matches!(reason, Ok(proto::Reason::NotLeader | proto::Reason::Unavailable));
                Outcome::Refused {
                    not_here,
                    reason: reason
                        .map_or_else(|_| format!("REASON_{}", refusal.reason), |r| r.as_str_name().to_owned()),
                    overloaded: reason == Ok(proto::Reason::Overloaded),
                    retry_after: match refusal.retry_after_ms {
                        0 => RETRY_DELAY,
                        ms => Duration::from_millis(u64::from(ms)),
                    },
                }
            }
            None => Outcome::Refused {
                not_here: false,
                reason: "EMPTY_RESULT".into(),
                overloaded: false,
                retry_after: RETRY_DELAY,
            },
        };
        Self { client_id: response.client_id, outcome }
    }
}

/// A refusal that says this replica does not take payments now, as
/// `client::Replicas` reads them: `NOT_LEADER`, an engine that stopped
/// (`UNAVAILABLE`), or no refusal of ours at all (the connection failed or
/// broke mid-call).
fn not_here(status: &tonic::Status) -> bool {
    match client::status_reason(status) {
        Some(proto::Reason::NotLeader) => true,
        Some(proto::Reason::Unavailable) => status.code() == tonic::Code::Unavailable,
        Some(_) => false,
        None => matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled | tonic::Code::Internal
        ),
    }
}

type Payments = proto::payment_service_client::PaymentServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, client::Credential>,
>;
type Call = Pin<Box<dyn Future<Output = Completion> + Send>>;

/// A terminal's connection: unary calls in flight, or one stream.
enum Wire {
    Unary {
        payments: Payments,
        calls: FuturesUnordered<Call>,
    },
    Streaming {
        requests: mpsc::Sender<proto::SubmitPaymentsRequest>,
        responses: tonic::Streaming<proto::SubmitPaymentsResponse>,
    },
}

/// Opens a `SubmitPayments` stream whose request channel holds `window`
/// items: with at most `window` payments in flight, sends never wait.
///
/// # Errors
/// The status the server opened the stream with.
pub async fn open_payment_stream(
    client: &Client,
    window: usize,
) -> Result<(mpsc::Sender<proto::SubmitPaymentsRequest>, tonic::Streaming<proto::SubmitPaymentsResponse>), tonic::Status>
{
    let (requests, outbound) = mpsc::channel(window.max(1));
    let mut payments = client.payments.clone();
    let responses = payments.submit_payments(ReceiverStream::new(outbound)).await?.into_inner();
    Ok((requests, responses))
}

impl Wire {
    async fn open(client: &Client, mode: Mode, window: usize) -> Result<Self, LoadError> {
        match mode {
            Mode::Unary => Ok(Self::Unary { payments: client.payments.clone(), calls: FuturesUnordered::new() }),
            Mode::Streaming => {
                let (requests, responses) = open_payment_stream(client, window)
                    .await
                    .map_err(|s| LoadError::Drive(format!("opening the payment stream: {}", describe(&s))))?;
                Ok(Self::Streaming { requests, responses })
            }
        }
    }

    async fn send(&mut self, client_id: u64, tx: &Transaction) -> Result<(), LoadError> {
        let transaction = Some(client::transaction_to_proto(tx));
        match self {
            Self::Unary { payments, calls } => {
                let mut payments = payments.clone();
                calls.push(Box::pin(async move {
                    let result = payments.submit_payment(proto::SubmitPaymentRequest { transaction }).await;
                    Completion::unary(client_id, result)
                }));
                Ok(())
            }
            Self::Streaming { requests, .. } => requests
                .send(proto::SubmitPaymentsRequest { client_id, transaction })
                .await
                .map_err(|_| LoadError::Drive("the payment stream closed".into())),
        }
    }

    /// The next result; only called with something in flight.
    async fn next(&mut self) -> Result<Completion, LoadError> {
        match self {
            Self::Unary { calls, .. } => {
                calls.next().await.ok_or_else(|| LoadError::Drive("waiting for a result with no call in flight".into()))
            }
            Self::Streaming { responses, .. } => match responses.message().await {
                Ok(Some(response)) => Ok(Completion::streamed(response)),
                Ok(None) => Err(LoadError::Drive("the server ended the payment stream".into())),
                Err(status) => Err(LoadError::Drive(format!("payment stream: {}", describe(&status)))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_arrivals_average_the_requested_rate() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 20_000;
        let total: f64 = (0..n).map(|_| exponential(&mut rng, 500.0).as_secs_f64()).sum();
        let mean = total / f64::from(n);
        assert!((mean - 0.002).abs() < 0.0001, "mean inter-arrival {mean}");
    }

    #[test]
    fn an_interval_hands_over_its_counts_once() {
        let mut interval = Interval::new();
        interval.latency_us.record(1_500).unwrap();
        interval.confirmed = 1;
        interval.refused_by_reason.insert("REASON_INPUT_SPENT".into(), 2);
        let taken = interval.take();
        assert_eq!((taken.confirmed, taken.latency_us.len(), taken.refused_by_reason.len()), (1, 1, 1));
        assert_eq!((interval.confirmed, interval.latency_us.len(), interval.refused_by_reason.len()), (0, 0, 0));
    }
}
