//! One round's payment clients. A client owns a share of the wallets and one
//! connection: unary calls (one in flight per wallet) or one
//! `SubmitPayments` stream. Each wallet has at most one payment in flight,
//! signed when the change of the one before comes back, so that every coin
//! is spent by exactly one transaction the harness signed. A client pays
//! until it observes the kill (a call or its stream failing after it), so
//! that it always leaves payments whose answer never came; the clients count
//! their confirmations in a shared counter the kill waits on.
//! A client keeps every receipt it is given; when the kill cuts a payment
//! off, the payment stays pending in its wallet, its outcome unknown until
//! the checks look it up or resubmit it. Beside them, a minter issues small
//! mints one at a time.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client::{self, Client};
use settled::{Address, Keypair, Transaction, proto};
use tokio::sync::{mpsc, watch};

use super::setup::describe;
use super::{
    Check, DRAIN_TIMEOUT, Given, MINTS_PER_ROUND_MAX, PAYMENT_MINOR_MAX, RESOLVE_ATTEMPTS_MAX, Violation, Wallet,
};

/// Wait before resubmitting a payment refused as overloaded (the server's
/// retry hint).
const RETRY_DELAY: Duration = Duration::from_millis(settled::limits::OVERLOAD_RETRY_AFTER_MS as u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Unary,
    Streaming,
}

/// One client of one round.
pub struct RoundClient {
    pub index: usize,
    pub mode: Mode,
    pub seed: u64,
    pub round: u64,
    pub merchants: Arc<Vec<Address>>,
    pub engine_key: Address,
    pub chain: settled::ChainId,
    /// Set just before the kill: a failure seen after it is the kill's doing
    /// (the client has observed the kill).
    pub killing: Arc<AtomicBool>,
    /// Set just after the kill (the server is dead): a client with nothing to
    /// send is done.
    pub stop: watch::Receiver<bool>,
    /// Payments confirmed this round by all the clients; the kill waits on it.
    pub confirmations: Arc<watch::Sender<u64>>,
}

/// What a client hands back: its wallets (pending payments included), the
/// receipts it was given, and the first violation it saw.
pub struct ClientOutcome {
    pub mode: Mode,
    pub wallets: Vec<Wallet>,
    pub given: Vec<Given>,
    pub confirmed: u64,
    pub retired: u64,
    pub failure: Option<Violation>,
}

/// The server's answer to one payment, or its absence.
enum Answer {
    Confirmed {
        receipt: proto::Receipt,
        duplicate: bool,
    },
    Refused {
        reason: Option<proto::Reason>,
        message: String,
    },
    /// No answer: the connection broke (or the engine stopped) first.
    Lost(String),
}

impl RoundClient {
    pub async fn run(self, url: &str, token: &str, wallets: Vec<Wallet>) -> ClientOutcome {
        let mut state = State::new(self, wallets);
        match Client::connect_with_token(url, token).await {
            Ok(client) => match Wire::open(&client, state.client.mode, state.wallets.len()).await {
                Ok(wire) => state.drive(wire).await,
                Err(why) => state.lost_before_sending(&why),
            },
            Err(e) => state.lost_before_sending(&format!("connecting: {e}")),
        }
        state.into_outcome()
    }
}

struct State {
    client: RoundClient,
    wallets: Vec<Wallet>,
    /// Whether each wallet's payment is on the wire now.
    flying: Vec<bool>,
    in_flight: usize,
    /// Wallets free to pay.
    ready: VecDeque<usize>,
    /// Wallets whose payment was refused as overloaded, and when to resend it.
    parked: VecDeque<(usize, Instant)>,
    given: Vec<Given>,
    confirmed: u64,
    retired: u64,
    rng: StdRng,
    /// A call or the stream failed after the kill: send nothing more.
    kill_observed: bool,
    failure: Option<Violation>,
}

impl State {
    fn new(client: RoundClient, wallets: Vec<Wallet>) -> Self {
        let ready = (0..wallets.len()).filter(|&i| can_pay(&wallets[i])).collect();
        let rng = StdRng::seed_from_u64(client.seed);
        Self {
            flying: vec![false; wallets.len()],
            in_flight: 0,
            ready,
            parked: VecDeque::new(),
            given: Vec::new(),
            confirmed: 0,
            retired: 0,
            rng,
            kill_observed: false,
            failure: None,
            client,
            wallets,
        }
    }

    fn into_outcome(self) -> ClientOutcome {
        ClientOutcome {
            mode: self.client.mode,
            wallets: self.wallets,
            given: self.given,
            confirmed: self.confirmed,
            retired: self.retired,
            failure: self.failure,
        }
    }

    fn fail(&mut self, check: Check, detail: String) {
        if self.failure.is_none() {
            self.failure =
                Some(Violation::new(check, format!("client {} ({:?}): {detail}", self.client.index, self.client.mode)));
        }
    }

    /// A connection that failed before anything was sent: the kill's doing,
    /// or the server's failure.
    fn lost_before_sending(&mut self, why: &str) {
        if !self.client.killing.load(Ordering::SeqCst) {
            self.fail(Check::Server, format!("the server failed before the kill: {why}"));
        }
    }

    /// Pays until the client observes the kill (a call or the stream failing
    /// after it), so that it always leaves a payment whose answer never came;
    /// then collects what is in flight. After `stop` (the server is dead), a
    /// client with nothing to send is done, and `DRAIN_TIMEOUT` is the hang
    /// guard on answers still awaited.
    async fn drive(&mut self, mut wire: Wire) {
        let mut stop = self.client.stop.clone();
        let mut drain_until: Option<Instant> = None;
        loop {
            if drain_until.is_none() && *stop.borrow() {
                drain_until = Some(Instant::now() + DRAIN_TIMEOUT);
            }
            if self.paying(&wire) {
                self.fill(&mut wire).await;
            }
            let paying = self.paying(&wire);
            let nothing_to_send = self.ready.is_empty() && self.parked.is_empty();
            if self.in_flight == 0 && (!paying || (drain_until.is_some() && nothing_to_send)) {
                break;
            }
            let retry_at = self.parked.front().map(|&(_, at)| at);
            tokio::select! {
                answer = wire.next(), if self.in_flight > 0 => match answer {
                    Next::One(local, answer) => self.complete(local, answer),
                    Next::Broken(why) => self.broken(&why),
                },
                changed = stop.changed(), if drain_until.is_none() => {
                    if changed.is_err() {
                        drain_until = Some(Instant::now() + DRAIN_TIMEOUT);
                    }
                }
                () = sleep_until(retry_at), if paying && retry_at.is_some() => {}
                () = sleep_until(drain_until), if drain_until.is_some() => break,
            }
        }
    }

    /// Whether to send more: until the kill is observed or a violation seen.
    fn paying(&self, wire: &Wire) -> bool {
        !self.kill_observed && !wire.broken() && self.failure.is_none()
    }

    /// Resends what is due after an overload, then a new payment from every
    /// wallet free to pay.
    async fn fill(&mut self, wire: &mut Wire) {
        let now = Instant::now();
        while let Some(&(local, at)) = self.parked.front() {
            if at > now || !self.paying(wire) {
                break;
            }
            self.parked.pop_front();
            self.send(wire, local).await;
        }
        while self.paying(wire) {
            let Some(local) = self.ready.pop_front() else { break };
            let wallet = &mut self.wallets[local];
            let coin = wallet.coin.expect("a ready wallet has a coin");
            let amount = self.rng.gen_range(1..=PAYMENT_MINOR_MAX);
            let payee = self.client.merchants[self.rng.gen_range(0..self.client.merchants.len())];
            let reference = format!("crash r{}", self.client.round);
            wallet.pending =
                Some(client::pay(&self.client.chain, &wallet.key, coin, payee, amount, reference.as_bytes()));
            self.send(wire, local).await;
        }
    }

    async fn send(&mut self, wire: &mut Wire, local: usize) {
        let tx = self.wallets[local].pending.as_ref().expect("a payment to send");
        if let Err(why) = wire.send(local, tx).await {
            // Never reached the server: pending, and resolved as fresh.
            self.lost(&why);
            return;
        }
        self.flying[local] = true;
        self.in_flight += 1;
    }

    /// The stream broke: every payment on it is cut off.
    fn broken(&mut self, why: &str) {
        for local in 0..self.flying.len() {
            if std::mem::take(&mut self.flying[local]) {
                self.in_flight -= 1;
            }
        }
        self.lost(why);
    }

    /// A payment got no answer: after the kill, the client has observed it;
    /// before, the server failed.
    fn lost(&mut self, why: &str) {
        if self.client.killing.load(Ordering::SeqCst) {
            self.kill_observed = true;
        } else {
            self.fail(Check::Server, format!("the server failed before the kill: {why}"));
        }
    }

    fn complete(&mut self, local: usize, answer: Answer) {
        if !self.flying.get(local).copied().unwrap_or(false) {
            self.fail(Check::Server, format!("an answer for wallet slot {local}, which has nothing in flight"));
            return;
        }
        self.flying[local] = false;
        self.in_flight -= 1;
        let wallet = &mut self.wallets[local];
        let tx = wallet.pending.clone().expect("a wallet in flight has its payment");
        let txid = settled::txid(&tx);
        match answer {
            Answer::Confirmed { receipt, duplicate } => {
                let receipt = match client::receipt_from_proto(&receipt) {
                    Ok(receipt) => receipt,
                    Err(e) => {
                        return self.fail(Check::Receipts, format!("the receipt for {txid} does not decode: {e}"));
                    }
                };
                if receipt.txid != txid {
                    return self.fail(Check::Receipts, format!("the receipt for {txid} names {}", receipt.txid));
                }
                if let Err(e) = receipt.verify(&self.client.engine_key, &self.client.chain) {
                    return self.fail(Check::Receipts, format!("the receipt for {txid} does not verify: {e}"));
                }
                if duplicate {
                    return self.fail(
                        Check::Server,
                        format!("payment {txid}, never confirmed to this client, was answered as a duplicate"),
                    );
                }
                self.given.push(Given::from_receipt(&receipt));
                self.confirmed += 1;
                self.client.confirmations.send_modify(|n| *n += 1);
                // The payment is smaller than the coin: output 1 is the change.
                wallet.coin = Some(client::output_of(&tx, 1));
                wallet.pending = None;
                if can_pay(wallet) {
                    self.ready.push_back(local);
                }
            }
            Answer::Refused { reason: Some(proto::Reason::Overloaded), .. } => {
                self.parked.push_back((local, Instant::now() + RETRY_DELAY));
            }
            Answer::Refused { reason: Some(proto::Reason::TierDailyLimit), .. } => {
                wallet.retired = true;
                wallet.pending = None;
                self.retired += 1;
            }
            Answer::Refused { reason: Some(proto::Reason::InputSpent), message } => {
                let coin = tx.inputs[0];
                self.fail(
                    Check::DoubleSpend,
                    format!(
                        "payment {txid} was refused as spending {coin}, which no other payment of the harness \
                         spends: {message}"
                    ),
                );
            }
            Answer::Refused { reason, message } => {
                let reason = reason.map_or("(no reason)", |r| r.as_str_name());
                self.fail(Check::Server, format!("payment {txid} was refused, {reason}: {message}"));
            }
            Answer::Lost(why) => self.lost(&format!("payment {txid} got no answer: {why}")),
        }
    }
}

/// Whether a wallet can make its next payment: a coin larger than any
/// payment, so that there is always change to continue from.
fn can_pay(wallet: &Wallet) -> bool {
    !wallet.retired && wallet.pending.is_none() && wallet.coin.is_some_and(|(_, o)| o.amount_minor > PAYMENT_MINOR_MAX)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn answer_of_status(status: &tonic::Status) -> Answer {
    match client::status_reason(status) {
        // The engine stopped: nothing is confirmed, as after a kill.
        Some(proto::Reason::Unavailable) => Answer::Lost(describe(status)),
        Some(reason) => Answer::Refused { reason: Some(reason), message: status.message().to_owned() },
        None => Answer::Lost(describe(status)),
    }
}

type Payments = proto::payment_service_client::PaymentServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, client::Credential>,
>;
type Call = Pin<Box<dyn Future<Output = (usize, Answer)> + Send>>;

enum Next {
    One(usize, Answer),
    /// The stream ended or failed: nothing more will come on it.
    Broken(String),
}

/// A client's connection: unary calls in flight, or one stream.
enum Wire {
    Unary {
        payments: Payments,
        calls: FuturesUnordered<Call>,
    },
    Streaming {
        requests: mpsc::Sender<proto::SubmitPaymentsRequest>,
        responses: tonic::Streaming<proto::SubmitPaymentsResponse>,
        broken: bool,
    },
}

impl Wire {
    async fn open(client: &Client, mode: Mode, window: usize) -> Result<Self, String> {
        match mode {
            Mode::Unary => Ok(Self::Unary { payments: client.payments.clone(), calls: FuturesUnordered::new() }),
            Mode::Streaming => {
                // One payment in flight per wallet bounds the stream.
                let (requests, responses) = crate::load::open_payment_stream(client, window)
                    .await
                    .map_err(|s| format!("opening the payment stream: {}", describe(&s)))?;
                Ok(Self::Streaming { requests, responses, broken: false })
            }
        }
    }

    fn broken(&self) -> bool {
        matches!(self, Self::Streaming { broken: true, .. })
    }

    async fn send(&mut self, local: usize, tx: &Transaction) -> Result<(), String> {
        let transaction = Some(client::transaction_to_proto(tx));
        match self {
            Self::Unary { payments, calls } => {
                let mut payments = payments.clone();
                calls.push(Box::pin(async move {
                    let answer = match payments.submit_payment(proto::SubmitPaymentRequest { transaction }).await {
                        Ok(response) => {
                            let response = response.into_inner();
                            match response.receipt {
                                Some(receipt) => Answer::Confirmed { receipt, duplicate: response.duplicate },
                                None => Answer::Refused { reason: None, message: "a response without receipt".into() },
                            }
                        }
                        Err(status) => answer_of_status(&status),
                    };
                    (local, answer)
                }));
                Ok(())
            }
            Self::Streaming { requests, broken, .. } => {
                let client_id = local as u64;
                let sent = requests.send(proto::SubmitPaymentsRequest { client_id, transaction }).await;
                sent.map_err(|_| {
                    *broken = true;
                    "the payment stream closed".to_owned()
                })
            }
        }
    }

    /// The next answer; only called with something in flight.
    async fn next(&mut self) -> Next {
        match self {
            Self::Unary { calls, .. } => match calls.next().await {
                Some((local, answer)) => Next::One(local, answer),
                None => Next::Broken("no call in flight".into()),
            },
            Self::Streaming { responses, broken, .. } => {
                let message = responses.message().await;
                use proto::submit_payments_response::Result as Item;
                match message {
                    Ok(Some(response)) => {
                        let local = usize::try_from(response.client_id).unwrap_or(usize::MAX);
                        let answer = match response.result {
                            Some(Item::Receipt(receipt)) => {
                                Answer::Confirmed { receipt, duplicate: response.duplicate }
                            }
                            Some(Item::Refusal(refusal)) => {
                                let reason = proto::Reason::try_from(refusal.reason).ok();
                                if reason == Some(proto::Reason::Unavailable) {
                                    Answer::Lost(refusal.message)
                                } else {
                                    Answer::Refused { reason, message: refusal.message }
                                }
                            }
                            None => Answer::Refused { reason: None, message: "an empty result".into() },
                        };
                        Next::One(local, answer)
                    }
                    Ok(None) => {
                        *broken = true;
                        Next::Broken("the server ended the payment stream".into())
                    }
                    Err(status) => {
                        *broken = true;
                        Next::Broken(format!("payment stream: {}", describe(&status)))
                    }
                }
            }
        }
    }
}

/// Mints during a round, one at a time, each with a fresh reference and a
/// few minor units for a merchant, so that the kill cuts off mints (and
/// their reference bookkeeping) as it does payments.
pub struct Minter {
    pub round: u64,
    pub tag: String,
    pub signers: Vec<Keypair>,
    pub merchants: Arc<Vec<Address>>,
    pub engine_key: Address,
    pub chain: settled::ChainId,
    pub seed: u64,
    pub killing: Arc<AtomicBool>,
    pub stop: watch::Receiver<bool>,
}

pub struct MinterOutcome {
    pub given: Vec<Given>,
    pub confirmed: u64,
    /// What the confirmed mints issued.
    pub minted_minor: u64,
    /// The mint the kill cut off, if any.
    pub pending: Option<Transaction>,
    pub failure: Option<Violation>,
}

impl Minter {
    pub async fn run(self, url: &str, token: &str) -> MinterOutcome {
        let mut outcome =
            MinterOutcome { given: Vec::new(), confirmed: 0, minted_minor: 0, pending: None, failure: None };
        let killed = || self.killing.load(Ordering::SeqCst);
        let fail = |detail: String| Some(Violation::new(Check::Server, format!("minter: {detail}")));
        let mut admin = match Client::connect_with_token(url, token).await {
            Ok(admin) => admin,
            Err(e) => {
                if !killed() {
                    outcome.failure = fail(format!("the server failed before the kill: connecting: {e}"));
                }
                return outcome;
            }
        };
        let mut rng = StdRng::seed_from_u64(self.seed);
        let signers: Vec<&Keypair> = self.signers.iter().collect();
        for n in 0..MINTS_PER_ROUND_MAX {
            if *self.stop.borrow() {
                break;
            }
            let payee = self.merchants[rng.gen_range(0..self.merchants.len())];
            let output = client::output(payee, rng.gen_range(1..=PAYMENT_MINOR_MAX), 0);
            let reference = format!("crash-{}-r{}-live-{n}", self.tag, self.round);
            let tx = client::mint(&self.chain, vec![output], reference.as_bytes(), &signers);
            let txid = settled::txid(&tx);
            outcome.pending = Some(tx.clone());
            let mut attempts = 0u32;
            let answer = loop {
                attempts += 1;
                match admin.mint(&tx).await {
                    Err(status)
                        if client::status_reason(&status) == Some(proto::Reason::Overloaded)
                            && attempts < RESOLVE_ATTEMPTS_MAX =>
                    {
                        tokio::time::sleep(RETRY_DELAY).await;
                    }
                    answer => break answer,
                }
            };
            match answer {
                Ok((receipt, duplicate)) => {
                    if receipt.txid != txid || receipt.verify(&self.engine_key, &self.chain).is_err() || duplicate {
                        outcome.failure = Some(Violation::new(
                            Check::Receipts,
                            format!("minter: the receipt for mint {txid} does not verify, or calls it a duplicate"),
                        ));
                        return outcome;
                    }
                    outcome.given.push(Given::from_receipt(&receipt));
                    outcome.confirmed += 1;
                    outcome.minted_minor += output.amount_minor;
                    outcome.pending = None;
                }
                Err(status) => {
                    if let Answer::Refused { reason, message } = answer_of_status(&status) {
                        let reason = reason.map_or("(no reason)", |r| r.as_str_name());
                        outcome.failure = fail(format!("mint {txid} was refused, {reason}: {message}"));
                    } else if !killed() {
                        outcome.failure =
                            fail(format!("the server failed before the kill: mint {txid}: {}", describe(&status)));
                    }
                    return outcome;
                }
            }
        }
        outcome
    }
}
