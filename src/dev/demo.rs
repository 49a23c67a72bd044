//! `settled demo`: the whole path of a payment on one machine, with no setup.
//! Starts a real server on loopback over a redb file, mints to a few thousand
//! wallets, drives payments from concurrent terminals over gRPC (unary and
//! streaming), shows the refusals a terminal can meet, restarts the server
//! mid-way and checks that every confirmed payment survived, verifies a
//! receipt offline, and reports throughput, latency and the supply check.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{self, Client};
use crate::config::{Config, DEV_ISSUERS, load_or_create_key};
use crate::core::amount::format_amount;
use crate::core::crypto::Keypair;
use crate::core::limits::STREAM_IN_FLIGHT_MAX;
use crate::core::receipt::{Receipt, ReceiptJson};
use crate::core::types::{Address, ChainId, OutPoint, Output, TxId};
use crate::dev::{DemoError, demo_banks, setup};
use crate::proto;
use crate::server::Server;

/// Bounds of the demo's own loops and sizes.
pub const DEMO_WALLETS_MAX: usize = 100_000;
pub const DEMO_TERMINALS_MAX: usize = 64;
pub const DEMO_SECONDS_MAX: u64 = 600;
/// Outputs per mint in the funding phase (the transaction output limit).
const MINTS_OUTPUTS: usize = crate::core::limits::TX_OUTPUTS_MAX;
/// Money each wallet starts with: 1,000.00 in a currency with exponent 2.
const WALLET_FUNDS_MINOR: u64 = 100_000;
/// Merchants the terminals pay.
const MERCHANTS: usize = 20;

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub wallets: usize,
    pub terminals: usize,
    /// Length of each of the two payment phases (before and after the restart).
    pub phase: Duration,
    /// Where the ledger lives; a temporary directory when `None`.
    pub data_dir: Option<PathBuf>,
    /// Payments each streaming terminal keeps in flight.
    pub stream_window: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { wallets: 2_000, terminals: 8, phase: Duration::from_secs(5), data_dir: None, stream_window: 32 }
    }
}

/// What the demo measured and checked.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub confirmed: u64,
    pub confirmed_per_second: f64,
    pub unary_p50_us: u64,
    pub unary_p99_us: u64,
    pub stream_p50_us: u64,
    pub stream_p99_us: u64,
    /// Refusals by proto reason name.
    pub refusals: BTreeMap<String, u64>,
    pub receipts_checked_after_restart: u64,
    pub minted_minor: u64,
    pub unspent_minor: u64,
    pub unspent_count: u64,
    /// From a block's time to its checkpoint reaching a following bank
    /// (the slower bank's figure).
    pub bank_lag_p50_ms: u64,
    pub bank_lag_p99_ms: u64,
    pub burned_minor: u64,
}

struct Wallet {
    key: Keypair,
    coin: Option<(OutPoint, Output)>,
}

/// One confirmed payment as the terminal saw it, checked again after the
/// restart.
struct Confirmation {
    txid: TxId,
    sequence: u64,
    block_hash: [u8; 32],
}

#[derive(Default)]
struct TerminalReport {
    latencies_us: Vec<u64>,
    confirmations: Vec<Confirmation>,
    refusals: BTreeMap<String, u64>,
}

/// Runs the demo and prints as it goes.
///
/// # Errors
/// A setup failure, or a check that did not hold.
pub async fn run(options: DemoOptions) -> Result<DemoReport, DemoError> {
    let wallets_n = options.wallets.clamp(1, DEMO_WALLETS_MAX);
    let terminals_n = options.terminals.clamp(1, DEMO_TERMINALS_MAX);
    let phase = options.phase.min(Duration::from_secs(DEMO_SECONDS_MAX));
    let temp = tempfile::tempdir().map_err(setup("temporary directory"))?;
    let data_dir = options.data_dir.clone().unwrap_or_else(|| temp.path().to_owned());
    println!("settled demo: data dir {}", data_dir.display());

    let mut server = start(&data_dir).await?;
    // Development mode: one generated token holds every role.
    let token = crate::config::load_or_create_token(&data_dir.join(crate::config::DEV_TOKEN_FILE))
        .map_err(setup("development token"))?;
    let mut admin = Target::of(&server, &token).connect().await?;
    let issuers = (1..=DEV_ISSUERS)
        .map(|i| load_or_create_key(&data_dir.join(format!("issuer-{i}.key"))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(setup("issuer keys"))?;
    // The engine key is pinned from the data dir, not taken from the server:
    // the offline receipt check below trusts only this.
    let engine_key = load_or_create_key(&data_dir.join("engine.key")).map_err(setup("engine key"))?.address();
    let info = admin.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await.map_err(setup("info"))?;
    let info = info.into_inner();
    let exponent = info.currency_exponent;
    // What the wallets sign for: this ledger.
    let chain = ChainId::from_slice(&info.chain_id).ok_or_else(|| DemoError::Check("no chain id".into()))?;
    // A reused data dir already holds money; the checks are about this run.
    let minted_before = info.tip.unwrap_or_default().minted_total_minor;
    println!("server on {}, engine key {engine_key}, issuers 2-of-{DEV_ISSUERS}", server.local_addr());

    // Fund the wallets: mints of up to 16 outputs, 2 of 3 issuer signatures.
    let started = Instant::now();
    let mut wallets: Vec<Wallet> = (0..wallets_n).map(|_| Wallet { key: Keypair::generate(), coin: None }).collect();
    let shop_keys: Vec<Keypair> = (0..MERCHANTS).map(|_| Keypair::generate()).collect();
    let merchants: Arc<Vec<Address>> = Arc::new(shop_keys.iter().map(Keypair::address).collect());
    // Two operating banks hold the shops and the wallets as customers.
    let mut desks = demo_banks::register_banks(&mut admin).await?;
    // The shops the terminals serve: registered merchants (wallet tiers do
    // not cap what a merchant takes in).
    register_shops(&mut admin, &merchants).await?;
    let addresses: Vec<Address> = wallets.iter().map(|w| w.key.address()).collect();
    demo_banks::register_wallets(&admin, &addresses).await?;
    println!(
        "registered {} shops and {wallets_n} wallets at {} banks ({:.2?})",
        merchants.len(),
        desks.len(),
        started.elapsed()
    );
    let mut minted_minor = 0u64;
    let mut mints = tokio::task::JoinSet::new();
    for (batch, chunk) in wallets.chunks(MINTS_OUTPUTS).enumerate() {
        let outputs: Vec<Output> =
            chunk.iter().map(|w| client::output(w.key.address(), WALLET_FUNDS_MINOR, 0)).collect();
        minted_minor += WALLET_FUNDS_MINOR * outputs.len() as u64;
        let tx = client::mint(
            &chain,
            outputs,
            format!("demo-disbursement-row-{batch}").as_bytes(),
            &[&issuers[0], &issuers[1]],
        );
        let mut admin = admin.clone();
        mints.spawn(async move { admin.mint(&tx).await.map(|_| tx) });
    }
    let mut minted = Vec::new();
    while let Some(result) = mints.join_next().await {
        minted.push(result.map_err(setup("mint task"))?.map_err(setup("mint"))?);
    }
    for tx in &minted {
        for index in 0..tx.outputs.len() {
            let (outpoint, output) = client::output_of(tx, u32::try_from(index).expect("bounded"));
            let wallet = wallets.iter_mut().find(|w| w.key.address() == output.owner).expect("minted to a wallet");
            wallet.coin = Some((outpoint, output));
        }
    }
    println!(
        "minted {} to {wallets_n} wallets in {} mints ({:.2?})",
        format_amount(minted_minor, exponent),
        minted.len(),
        started.elapsed()
    );

    // Phase 1, the banks following live.
    let following = follow_all(&admin, &desks).await?;
    let mut totals = TerminalReport::default();
    let mut stream_latencies = Vec::new();
    let load =
        Load { chain, merchants: Arc::clone(&merchants), terminals: terminals_n, phase, window: options.stream_window };
    let (report, streamed, wallets_back) =
        payments_phase(&Target::of(&server, &token), wallets, &load, "before restart").await?;
    wallets = wallets_back;
    merge(&mut totals, &mut stream_latencies, report, streamed);
    let phase1_confirmed = totals.confirmations.len();
    catch_up_all(&mut admin, following, &mut desks).await?;

    // The refusals a terminal meets, each with its status and reason.
    refusals_showcase(&mut admin, &chain, &mut wallets, &merchants, &mut totals.refusals).await?;

    // Restart: everything confirmed must still be there, at the same place.
    println!("restarting the server on the same data dir ...");
    server.shutdown().await;
    server = start(&data_dir).await?;
    let checked = check_confirmations(&Target::of(&server, &token), &totals.confirmations).await?;
    println!("after restart: all {checked} receipts given before it are in the ledger at the same sequence and block");

    // Phase 2: the banks resume from their cursors.
    let mut admin = Target::of(&server, &token).connect().await?;
    let following = follow_all(&admin, &desks).await?;
    let (report, streamed, _) = payments_phase(&Target::of(&server, &token), wallets, &load, "after restart").await?;
    merge(&mut totals, &mut stream_latencies, report, streamed);
    catch_up_all(&mut admin, following, &mut desks).await?;

    // A welfare programme from creation to clawback.
    minted_minor += welfare_showcase(&mut admin, &chain, &issuers, exponent, &mut totals.refusals).await?;
    // People rather than addresses: once a month, refunds, a lost wallet,
    // an integrity alert.
    minted_minor +=
        crate::dev::demo_people::people_showcase(&mut admin, &chain, &issuers, exponent, &mut totals.refusals).await?;

    // The first shop's bank redeems its takings into deposits; then each
    // bank reconciles: stream, statement, net positions.
    let burned_minor = demo_banks::redeem_takings(&admin, &desks[0], &shop_keys[0]).await?;
    println!(
        "{} redeemed {} of shop-00's takings into deposits: burned, out of circulation",
        desks[0].id,
        format_amount(burned_minor, exponent)
    );
    let following = follow_all(&admin, &desks).await?;
    catch_up_all(&mut admin, following, &mut desks).await?;
    let day_offset_minutes = crate::core::registry::TierPolicy::e_cny_default(exponent).day_offset_minutes;
    demo_banks::reconcile(&mut admin, &desks, exponent, day_offset_minutes).await?;
    let lag = |q: f64| desks.iter().filter(|d| !d.lag_ms.is_empty()).map(|d| d.lag_ms.value_at_quantile(q)).max();

    // Offline receipt check, through the same JSON a bank or terminal keeps.
    let last = totals.confirmations.last().ok_or_else(|| DemoError::Check("no payment confirmed".into()))?;
    let fetched = admin
        .payments
        .get_payment(proto::GetPaymentRequest { txid: last.txid.0.to_vec() })
        .await
        .map_err(setup("get payment"))?
        .into_inner();
    let receipt = client::receipt_from_proto(&fetched.receipt.unwrap_or_default()).map_err(DemoError::Check)?;
    let json = serde_json::to_string_pretty(&ReceiptJson::of(&receipt, &chain)).map_err(setup("receipt json"))?;
    let receipt_file = data_dir.join("receipt.json");
    std::fs::write(&receipt_file, &json).map_err(setup("write receipt"))?;
    client::verify_receipt_file(&receipt_file, &engine_key, Some(&chain)).map_err(DemoError::Check)?;
    let mut tampered = receipt.clone();
    tampered.sequence += 1;
    if tampered.verify(&engine_key, &chain).is_ok() {
        return Err(DemoError::Check("a tampered receipt verified".into()));
    }
    println!(
        "receipt of {} (sequence {}, block {}) verified offline against the pinned engine key; a tampered copy fails",
        receipt.txid, receipt.sequence, receipt.block.header.height
    );

    // Supply: minted = sum of unspent, counted from storage.
    let info =
        admin.ledger.get_info(proto::GetInfoRequest { count_unspent: true }).await.map_err(setup("info"))?.into_inner();
    let tip = info.tip.unwrap_or_default();
    let supply = tip.minted_total_minor - tip.burned_total_minor;
    if tip.minted_total_minor - minted_before != minted_minor || info.unspent_total_minor != supply {
        return Err(DemoError::Check(format!(
            "supply does not add up: minted by this run {minted_minor}, ledger minted {} (before: {minted_before}), \
             burned {}, unspent {}",
            tip.minted_total_minor, tip.burned_total_minor, info.unspent_total_minor
        )));
    }
    let minted_minor = tip.minted_total_minor;
    server.shutdown().await;

    let seconds = 2.0 * phase.as_secs_f64();
    let (unary_p50_us, unary_p99_us) = percentiles(&totals.latencies_us);
    let (stream_p50_us, stream_p99_us) = percentiles(&stream_latencies);
    let report = DemoReport {
        confirmed: totals.confirmations.len() as u64,
        confirmed_per_second: totals.confirmations.len() as f64 / seconds,
        unary_p50_us,
        unary_p99_us,
        stream_p50_us,
        stream_p99_us,
        refusals: totals.refusals,
        receipts_checked_after_restart: checked,
        minted_minor,
        unspent_minor: info.unspent_total_minor,
        unspent_count: info.unspent_count,
        bank_lag_p50_ms: lag(0.5).unwrap_or(0),
        bank_lag_p99_ms: lag(0.99).unwrap_or(0),
        burned_minor: tip.burned_total_minor,
    };
    println!();
    println!("== settled demo summary ==");
    println!(
        "confirmed payments: {} ({phase1_confirmed} before the restart), {:.0}/s over {seconds:.0} s of payment phases",
        report.confirmed, report.confirmed_per_second
    );
    println!(
        "latency, submission to durable receipt: unary p50 {:.2} ms, p99 {:.2} ms; streaming p50 {:.2} ms, p99 {:.2} ms",
        us_to_ms(unary_p50_us),
        us_to_ms(unary_p99_us),
        us_to_ms(stream_p50_us),
        us_to_ms(stream_p99_us)
    );
    println!("refusals by reason:");
    for (reason, count) in &report.refusals {
        println!("  {reason}: {count}");
    }
    println!(
        "bank streams: block to bank p50 {} ms, p99 {} ms (slower of the two banks, while following live)",
        report.bank_lag_p50_ms, report.bank_lag_p99_ms
    );
    println!(
        "supply check: minted {} - burned {} = sum of {} unspent outputs {} (counted from storage): OK",
        format_amount(minted_minor, exponent),
        format_amount(report.burned_minor, exponent),
        report.unspent_count,
        format_amount(report.unspent_minor, exponent)
    );
    drop(temp);
    Ok(report)
}

/// Where the demo's clients connect, and the credential they use.
struct Target {
    url: String,
    token: String,
}

impl Target {
    fn of(server: &Server, token: &str) -> Self {
        Self { url: server.url(), token: token.to_owned() }
    }

    async fn connect(&self) -> Result<Client, DemoError> {
        Client::connect_with_token(&self.url, &self.token).await.map_err(setup("connect"))
    }
}

async fn follow_all(admin: &Client, desks: &[demo_banks::Desk]) -> Result<Vec<demo_banks::Following>, DemoError> {
    let mut following = Vec::with_capacity(desks.len());
    for desk in desks {
        following.push(demo_banks::follow_live(admin, desk).await?);
    }
    Ok(following)
}

/// Stops the banks' live following and brings each to the tip.
async fn catch_up_all(
    admin: &mut Client,
    following: Vec<demo_banks::Following>,
    desks: &mut [demo_banks::Desk],
) -> Result<(), DemoError> {
    let info = admin.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await.map_err(setup("info"))?;
    let tip = info.into_inner().tip.unwrap_or_default().height;
    for (following, desk) in following.into_iter().zip(desks.iter_mut()) {
        demo_banks::catch_up(following, desk, tip).await?;
    }
    Ok(())
}

async fn start(data_dir: &Path) -> Result<Server, DemoError> {
    Server::start(Config::for_data_dir(data_dir.to_owned())).await.map_err(setup("server start"))
}

fn merge(totals: &mut TerminalReport, stream_latencies: &mut Vec<u64>, report: TerminalReport, streamed: Vec<u64>) {
    totals.latencies_us.extend(report.latencies_us);
    totals.confirmations.extend(report.confirmations);
    for (reason, count) in report.refusals {
        *totals.refusals.entry(reason).or_default() += count;
    }
    stream_latencies.extend(streamed);
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn percentiles(latencies_us: &[u64]) -> (u64, u64) {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for latency in latencies_us {
        histogram.saturating_record(*latency);
    }
    if histogram.is_empty() {
        return (0, 0);
    }
    (histogram.value_at_quantile(0.50), histogram.value_at_quantile(0.99))
}

/// The next payment of a wallet: a small amount to a merchant, change back.
fn next_payment(
    chain: &ChainId,
    wallet: &Wallet,
    merchants: &[Address],
    n: u64,
) -> Option<crate::core::types::Transaction> {
    let coin = wallet.coin?;
    let amount = (100 + n * 37 % 1_900).min(coin.1.amount_minor);
    let merchant = merchants[usize::try_from(n).unwrap_or(0) % merchants.len()];
    Some(client::pay(chain, &wallet.key, coin, merchant, amount, format!("inv-{n}").as_bytes()))
}

/// Half the terminals submit one payment at a time (unary), half keep one
/// payment per wallet in flight on a stream. Returns the unary report, the
/// streaming latencies and the wallets with their new coins.
/// The shape of a payment phase: who is paid, by how many terminals, for how
/// long, with how many payments in flight per streaming terminal.
struct Load {
    chain: ChainId,
    merchants: Arc<Vec<Address>>,
    terminals: usize,
    phase: Duration,
    window: usize,
}

async fn payments_phase(
    target: &Target,
    wallets: Vec<Wallet>,
    load: &Load,
    label: &str,
) -> Result<(TerminalReport, Vec<u64>, Vec<Wallet>), DemoError> {
    let Load { chain, merchants, terminals, phase, window } = load;
    let (chain, terminals, phase, window) = (*chain, *terminals, *phase, *window);
    let deadline = Instant::now() + phase;
    let mut shares: Vec<Vec<Wallet>> = (0..terminals).map(|_| Vec::new()).collect();
    for (i, wallet) in wallets.into_iter().enumerate() {
        shares[i % terminals].push(wallet);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (t, share) in shares.into_iter().enumerate() {
        let client = target.connect().await?;
        let merchants = Arc::clone(merchants);
        let streaming = t % 2 == 1;
        tasks.spawn(async move {
            if streaming {
                stream_terminal(client, share, (chain, &merchants), deadline, t as u64, window)
                    .await
                    .map(|(r, w)| (r, w, true))
            } else {
                unary_terminal(client, share, (chain, &merchants), deadline, t as u64).await.map(|(r, w)| (r, w, false))
            }
        });
    }
    let mut unary = TerminalReport::default();
    let mut streamed = Vec::new();
    let mut wallets = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (report, share, streaming) = result.map_err(setup("terminal task"))??;
        if streaming {
            streamed.extend(report.latencies_us);
            unary.confirmations.extend(report.confirmations);
            for (reason, count) in report.refusals {
                *unary.refusals.entry(reason).or_default() += count;
            }
        } else {
            merge(&mut unary, &mut streamed, report, Vec::new());
        }
        wallets.extend(share);
    }
    println!(
        "{label}: {} payments confirmed by {terminals} terminals in {:.1} s ({:.0}/s)",
        unary.confirmations.len(),
        phase.as_secs_f64(),
        unary.confirmations.len() as f64 / phase.as_secs_f64()
    );
    Ok((unary, streamed, wallets))
}

fn record(report: &mut TerminalReport, wallet: &mut Wallet, tx: &crate::core::types::Transaction, receipt: &Receipt) {
    report.confirmations.push(Confirmation {
        txid: receipt.txid,
        sequence: receipt.sequence,
        block_hash: receipt.block.header.hash(),
    });
    wallet.coin = tx
        .outputs
        .iter()
        .position(|o| o.owner == wallet.key.address())
        .map(|i| client::output_of(tx, u32::try_from(i).expect("bounded")));
}

fn count_refusal(report: &mut TerminalReport, name: &str) {
    *report.refusals.entry(name.to_owned()).or_default() += 1;
}

async fn unary_terminal(
    mut client: Client,
    mut wallets: Vec<Wallet>,
    (chain, merchants): (ChainId, &[Address]),
    deadline: Instant,
    terminal: u64,
) -> Result<(TerminalReport, Vec<Wallet>), DemoError> {
    let mut report = TerminalReport::default();
    let mut n = terminal * 1_000_000;
    'outer: while Instant::now() < deadline {
        let mut any = false;
        for wallet in &mut wallets {
            if Instant::now() >= deadline {
                break 'outer;
            }
            n += 1;
            let Some(tx) = next_payment(&chain, wallet, merchants, n) else {
                continue;
            };
            any = true;
            let sent = Instant::now();
            match client.submit(&tx).await {
                Ok((receipt, _)) => {
                    report.latencies_us.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                    record(&mut report, wallet, &tx, &receipt);
                }
                Err(status) => {
                    let name = client::status_reason(&status).map_or("transport", |r| r.as_str_name());
                    count_refusal(&mut report, name);
                    if status.code() == tonic::Code::ResourceExhausted {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        if !any {
            break;
        }
    }
    Ok((report, wallets))
}

async fn stream_terminal(
    mut client: Client,
    mut wallets: Vec<Wallet>,
    (chain, merchants): (ChainId, &[Address]),
    deadline: Instant,
    terminal: u64,
    window: usize,
) -> Result<(TerminalReport, Vec<Wallet>), DemoError> {
    let mut report = TerminalReport::default();
    let (requests, outbound) = mpsc::channel(wallets.len().max(1));
    let mut inbound = client
        .payments
        .submit_payments(ReceiverStream::new(outbound))
        .await
        .map_err(setup("open stream"))?
        .into_inner();
    let mut n = terminal * 1_000_000;
    // In flight: wallet index -> (transaction, time sent). client_id = index.
    let mut in_flight: Vec<Option<(crate::core::types::Transaction, Instant)>> =
        (0..wallets.len()).map(|_| None).collect();
    let mut send = |i: usize,
                    wallets: &[Wallet],
                    in_flight: &mut Vec<Option<(crate::core::types::Transaction, Instant)>>| {
        n += 1;
        let tx = next_payment(&chain, &wallets[i], merchants, n)?;
        let request =
            proto::SubmitPaymentsRequest { client_id: i as u64, transaction: Some(client::transaction_to_proto(&tx)) };
        in_flight[i] = Some((tx, Instant::now()));
        Some(request)
    };
    // At most `window` wallets pay at once; the others wait their turn, so
    // the latency measured is that of a terminal's stream, not of a queue the
    // demo builds itself.
    let window = window.clamp(1, STREAM_IN_FLIGHT_MAX);
    let mut ready: VecDeque<usize> = (0..wallets.len()).collect();
    let mut outstanding = 0;
    while outstanding < window {
        let Some(i) = ready.pop_front() else { break };
        if let Some(request) = send(i, &wallets, &mut in_flight) {
            requests.send(request).await.map_err(setup("stream send"))?;
            outstanding += 1;
        }
    }
    while outstanding > 0 {
        let Some(response) = inbound.next().await else { break };
        let response = response.map_err(setup("stream"))?;
        let i = usize::try_from(response.client_id).map_err(setup("client id"))?;
        let Some((tx, sent)) = in_flight.get_mut(i).and_then(Option::take) else {
            return Err(DemoError::Check(format!("a result for client_id {i} which has nothing in flight")));
        };
        outstanding -= 1;
        match response.result {
            Some(proto::submit_payments_response::Result::Receipt(receipt)) => {
                let receipt = client::receipt_from_proto(&receipt).map_err(DemoError::Check)?;
                report.latencies_us.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                record(&mut report, &mut wallets[i], &tx, &receipt);
            }
            Some(proto::submit_payments_response::Result::Refusal(refusal)) => {
                let name = proto::Reason::try_from(refusal.reason).map_or("unknown", |r| r.as_str_name());
                count_refusal(&mut report, name);
            }
            None => count_refusal(&mut report, "empty result"),
        }
        ready.push_back(i);
        while Instant::now() < deadline && outstanding < window {
            let Some(next) = ready.pop_front() else { break };
            if let Some(request) = send(next, &wallets, &mut in_flight) {
                requests.send(request).await.map_err(setup("stream send"))?;
                outstanding += 1;
            }
        }
    }
    drop(requests);
    Ok((report, wallets))
}

/// A double spend, a bad signature and a resubmission, each shown with the
/// status a terminal receives.
async fn refusals_showcase(
    client: &mut Client,
    chain: &ChainId,
    wallets: &mut [Wallet],
    merchants: &[Address],
    refusals: &mut BTreeMap<String, u64>,
) -> Result<(), DemoError> {
    let wallet = wallets
        .iter_mut()
        .find(|w| w.coin.is_some_and(|(_, output)| output.amount_minor > 100))
        .ok_or_else(|| DemoError::Check("no wallet holds more than 1.00".into()))?;
    let coin = wallet.coin.expect("found funded");
    let first = client::pay(chain, &wallet.key, coin, merchants[0], 100, b"showcase-1");
    let (receipt, _) = client.submit(&first).await.map_err(|s| DemoError::Check(format!("payment refused: {s}")))?;
    wallet.coin = Some(client::output_of(&first, 1));

    let (again, duplicate) =
        client.submit(&first).await.map_err(|s| DemoError::Check(format!("resubmission refused: {s}")))?;
    if !duplicate || again != receipt {
        return Err(DemoError::Check("a resubmitted payment did not return its original receipt".into()));
    }
    println!("resubmitted payment {}: original receipt returned (duplicate), not applied twice", receipt.txid);

    let double = client::pay(chain, &wallet.key, coin, merchants[1], 200, b"showcase-2");
    let status = client.submit(&double).await.err().ok_or_else(|| DemoError::Check("double spend confirmed".into()))?;
    let reason = client::status_reason(&status);
    if status.code() != tonic::Code::FailedPrecondition || reason != Some(proto::Reason::InputSpent) {
        return Err(DemoError::Check(format!("double spend refused with {status:?}")));
    }
    *refusals.entry(proto::Reason::InputSpent.as_str_name().to_owned()).or_default() += 1;
    println!(
        "double spend of {}: {:?} {} (spent by {})",
        coin.0,
        status.code(),
        proto::Reason::InputSpent.as_str_name(),
        receipt.txid
    );

    let mut forged = client::pay(chain, &wallet.key, wallet.coin.expect("change"), merchants[2], 300, b"showcase-3");
    forged.witnesses[0].signature[10] ^= 0x01;
    let status =
        client.submit(&forged).await.err().ok_or_else(|| DemoError::Check("forged payment confirmed".into()))?;
    let reason = client::status_reason(&status);
    if status.code() != tonic::Code::InvalidArgument || reason != Some(proto::Reason::BadSignature) {
        return Err(DemoError::Check(format!("bad signature refused with {status:?}")));
    }
    *refusals.entry(proto::Reason::BadSignature.as_str_name().to_owned()).or_default() += 1;
    println!("payment with an altered signature: {:?} {}", status.code(), proto::Reason::BadSignature.as_str_name());
    Ok(())
}

/// Every confirmation given before the restart is in the ledger with the
/// same sequence, in the same block.
async fn check_confirmations(target: &Target, confirmations: &[Confirmation]) -> Result<u64, DemoError> {
    const CHECKERS: usize = 8;
    let confirmations: Arc<Vec<(TxId, u64, [u8; 32])>> =
        Arc::new(confirmations.iter().map(|c| (c.txid, c.sequence, c.block_hash)).collect());
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..CHECKERS {
        let mut client = target.connect().await?;
        let confirmations = Arc::clone(&confirmations);
        tasks.spawn(async move {
            let mut checked = 0u64;
            for (txid, sequence, block_hash) in confirmations.iter().skip(k).step_by(CHECKERS) {
                let response = client
                    .payments
                    .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
                    .await
                    .map_err(setup("get payment"))?
                    .into_inner();
                let receipt = response
                    .receipt
                    .ok_or_else(|| DemoError::Check(format!("confirmed payment {txid} lost in the restart")))?;
                let receipt = client::receipt_from_proto(&receipt).map_err(DemoError::Check)?;
                if receipt.sequence != *sequence || receipt.block.header.hash() != *block_hash {
                    return Err(DemoError::Check(format!("payment {txid} moved in the restart")));
                }
                checked += 1;
            }
            Ok::<u64, DemoError>(checked)
        });
    }
    let mut checked = 0;
    while let Some(result) = tasks.join_next().await {
        checked += result.map_err(setup("check task"))??;
    }
    Ok(checked)
}

/// Beneficiaries in the welfare part of the demo, and what each receives.
const FOOD_BENEFICIARIES: usize = 10;
const FOOD_GRANT_MINOR: u64 = 50_000;
/// How long the demo's food programme runs before it expires.
const FOOD_PROGRAMME_MS: u64 = 2_000;
const FOOD_PROGRAMME: u32 = 9;

pub(crate) fn welfare_error(what: &'static str) -> impl Fn(tonic::Status) -> DemoError {
    move |status| DemoError::Check(format!("{what}: {status:?}"))
}

/// Registers the demo's bank and one grocery merchant per shop address.
async fn register_shops(admin: &mut Client, shops: &[Address]) -> Result<(), DemoError> {
    let bank =
        proto::Bank { id: "demo-bank".into(), name: "Demo Commercial Bank".into(), credential_sha256: Vec::new() };
    admin
        .admin
        .register_bank(proto::RegisterBankRequest { bank: Some(bank) })
        .await
        .map_err(welfare_error("register bank"))?;
    for (i, shop) in shops.iter().enumerate() {
        let merchant = proto::Merchant {
            id: format!("shop-{i:02}"),
            name: format!("Corner shop {i}"),
            mcc: 5411,
            bank_id: demo_banks::bank_of(i).into(),
            payout_addresses: vec![shop.0.to_vec()],
            deactivated: false,
        };
        admin
            .admin
            .register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) })
            .await
            .map_err(welfare_error("register merchant"))?;
    }
    Ok(())
}

/// Expects a refusal with `reason`, counts it, and says so.
pub(crate) async fn expect_refusal(
    outcome: Result<(Receipt, bool), tonic::Status>,
    reason: proto::Reason,
    what: &str,
    refusals: &mut BTreeMap<String, u64>,
) -> Result<(), DemoError> {
    match outcome {
        Err(status) if client::status_reason(&status) == Some(reason) => {
            *refusals.entry(reason.as_str_name().to_owned()).or_default() += 1;
            println!("{what}: {:?} {}", status.code(), reason.as_str_name());
            Ok(())
        }
        other => Err(DemoError::Check(format!("{what}: expected {}, got {other:?}", reason.as_str_name()))),
    }
}

/// A food programme (groceries, MCC 5411/5499) paid to beneficiaries,
/// accepted at a grocery, refused at an electronics shop, a tier limit,
/// expiry and clawback. Returns what it minted.
async fn welfare_showcase(
    admin: &mut Client,
    chain: &ChainId,
    issuers: &[Keypair],
    exponent: u32,
    refusals: &mut BTreeMap<String, u64>,
) -> Result<u64, DemoError> {
    let amount = |minor| format_amount(minor, exponent);
    let (grocery, electronics, treasury) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    for (id, mcc, key) in [("fresh-grocer", 5411, &grocery), ("gadget-store", 5732, &electronics)] {
        let merchant = proto::Merchant {
            id: id.into(),
            name: id.replace('-', " "),
            mcc,
            bank_id: "demo-bank".into(),
            payout_addresses: vec![key.address().0.to_vec()],
            deactivated: false,
        };
        admin
            .admin
            .register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) })
            .await
            .map_err(welfare_error("register merchant"))?;
    }
    let now = crate::core::clock::now_unix_ms();
    let programme = proto::Programme {
        id: FOOD_PROGRAMME,
        name: "Food support".into(),
        allowed_mccs: vec![5411, 5499],
        valid_from_unix_ms: now.saturating_sub(1_000),
        valid_until_unix_ms: now + FOOD_PROGRAMME_MS,
        transferable: false,
        treasury_address: treasury.address().0.to_vec(),
        per_payment_max_minor: 0,
        payment_period: 0,
        refund_window_ms: 0,
    };
    admin
        .admin
        .create_programme(proto::CreateProgrammeRequest { programme: Some(programme) })
        .await
        .map_err(welfare_error("create programme"))?;
    let beneficiaries: Vec<Keypair> = (0..FOOD_BENEFICIARIES).map(|_| Keypair::generate()).collect();
    let grants = client::mint(
        chain,
        beneficiaries.iter().map(|b| client::output(b.address(), FOOD_GRANT_MINOR, FOOD_PROGRAMME)).collect(),
        b"disb:9:demo-batch-1",
        &[&issuers[0], &issuers[1]],
    );
    admin.mint(&grants).await.map_err(welfare_error("disburse"))?;
    println!(
        "food programme {FOOD_PROGRAMME}: {} to each of {FOOD_BENEFICIARIES} beneficiaries, spendable at MCC 5411/5499 for {} s",
        amount(FOOD_GRANT_MINOR),
        FOOD_PROGRAMME_MS / 1000
    );
    let groceries =
        client::pay(chain, &beneficiaries[0], client::output_of(&grants, 0), grocery.address(), 20_000, b"basket");
    admin.submit(&groceries).await.map_err(welfare_error("groceries"))?;
    println!("beneficiary pays {} at the grocery (MCC 5411): confirmed", amount(20_000));
    let gadget =
        client::pay(chain, &beneficiaries[1], client::output_of(&grants, 1), electronics.address(), 20_000, b"tv");
    expect_refusal(
        admin.submit(&gadget).await,
        proto::Reason::MccNotAllowed,
        "the same at an electronics shop (MCC 5732)",
        refusals,
    )
    .await?;

    // Tier 1 (anonymous) pays at most 2,000.00 at once.
    let saver = Keypair::generate();
    let savings = client::mint(
        chain,
        vec![client::output(saver.address(), 300_000, 0)],
        b"demo-savings",
        &[&issuers[0], &issuers[1]],
    );
    admin.mint(&savings).await.map_err(welfare_error("savings"))?;
    let big = client::pay(chain, &saver, client::output_of(&savings, 0), grocery.address(), 250_000, b"big");
    expect_refusal(
        admin.submit(&big).await,
        proto::Reason::TierPaymentLimit,
        "an anonymous (tier 1) wallet paying 2,500.00 at once",
        refusals,
    )
    .await?;

    tokio::time::sleep(Duration::from_millis(FOOD_PROGRAMME_MS)).await;
    let late = client::pay(chain, &beneficiaries[2], client::output_of(&grants, 2), grocery.address(), 1_000, b"late");
    expect_refusal(admin.submit(&late).await, proto::Reason::ProgrammeExpired, "after the programme's end", refusals)
        .await?;
    let signers: Vec<&Keypair> = issuers.iter().take(2).collect();
    let clawback = admin
        .admin
        .clawback(proto::ClawbackRequest {
            programme_id: FOOD_PROGRAMME,
            authorization: client::clawback_authorization(
                &client::ClawbackTerms {
                    chain: *chain,
                    programme: FOOD_PROGRAMME,
                    treasury: treasury.address(),
                    valid_until_ms: now + FOOD_PROGRAMME_MS,
                },
                &signers,
            ),
            resume_after: Vec::new(),
        })
        .await
        .map_err(welfare_error("clawback"))?
        .into_inner();
    let stats = admin
        .admin
        .get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: FOOD_PROGRAMME })
        .await
        .map_err(welfare_error("stats"))?
        .into_inner();
    let expected_back = FOOD_GRANT_MINOR * FOOD_BENEFICIARIES as u64 - 20_000;
    if clawback.amount_minor != expected_back
        || stats.clawed_back_minor != expected_back
        || stats.outstanding_minor != 0
    {
        return Err(DemoError::Check(format!("clawback moved {} of {expected_back}", clawback.amount_minor)));
    }
    println!(
        "clawback: {} outputs, {} back to the treasury in {} batches; disbursed {}, spent at groceries {}, outstanding {}",
        clawback.outputs_moved,
        amount(clawback.amount_minor),
        clawback.batches,
        amount(stats.disbursed_minor),
        amount(stats.spent_minor),
        amount(stats.outstanding_minor)
    );
    Ok(FOOD_GRANT_MINOR * FOOD_BENEFICIARIES as u64 + 300_000)
}
