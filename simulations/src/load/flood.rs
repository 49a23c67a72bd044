//! `--flood-window N`: a terminal of its own (registered for the run's
//! first shop, with its own token) keeping N payments with bad signatures
//! in flight on one `SubmitPayments` stream for the whole load, so that
//! the honest terminals' rate is measured beside a flood (issue 16, "Bad
//! input"). Every forged payment must come back `BAD_SIGNATURE`: anything
//! else ends the run with an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use settled::client::{self, Client};
use settled::{Address, ChainId, Keypair, OutPoint, TxId, proto};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::LoadError;
use super::setup::describe;

/// Forged payments a flood keeps in flight, at most: the server's own
/// limit per stream.
pub const FLOOD_WINDOW_MAX: usize = settled::limits::STREAM_IN_FLIGHT_MAX;

/// A running flood.
pub struct Flood {
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    started: Instant,
    task: tokio::task::JoinHandle<Result<(), LoadError>>,
}

/// What a flood did.
pub struct FloodReport {
    pub refused: u64,
    pub per_s: f64,
}

/// Registers the flooding terminal for `merchant_id` (paid at `payee`) and
/// starts it on `url`.
///
/// # Errors
/// The registration or the stream refused.
pub async fn start(
    admin: &mut Client,
    url: &str,
    chain: &ChainId,
    (merchant_id, payee): (&str, Address),
    window: usize,
    run_tag: &str,
) -> Result<Flood, LoadError> {
    let token = crate::hex(&rand::random::<[u8; 32]>());
    let terminal = proto::Terminal {
        id: format!("load-{run_tag}-flood"),
        merchant_id: merchant_id.to_owned(),
        credential_sha256: vec![settled::sha256(token.as_bytes()).to_vec()],
        deactivated: false,
    };
    admin
        .admin
        .register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) })
        .await
        .map_err(|s| LoadError::Setup(format!("register the flooding terminal: {}", describe(&s))))?;
    // A payment of a coin nobody holds, its signature spoiled: the verify
    // stage refuses it before the ledger is read, every time it comes.
    let payer = Keypair::generate();
    let coin = (OutPoint { txid: TxId([0x66; 32]), index: 0 }, client::output(payer.address(), 1_000, 0));
    let mut forged = client::pay(chain, &payer, coin, payee, 100, b"flood");
    forged.witnesses[0].signature[9] ^= 0x20;
    let forged = client::transaction_to_proto(&forged);
    let mut flooder = Client::connect_with_token(url, &token)
        .await
        .map_err(|e| LoadError::Server(format!("flooding terminal connecting to {url}: {e}")))?;
    let window = window.clamp(1, FLOOD_WINDOW_MAX);
    let (requests, outbound) = mpsc::channel(window);
    for client_id in 0..window as u64 {
        let _ = requests.send(proto::SubmitPaymentsRequest { client_id, transaction: Some(forged.clone()) }).await;
    }
    let mut inbound = flooder
        .payments
        .submit_payments(ReceiverStream::new(outbound))
        .await
        .map_err(|s| LoadError::Server(format!("flood stream: {}", describe(&s))))?
        .into_inner();
    let (stop, refused) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let (stopping, counting) = (Arc::clone(&stop), Arc::clone(&refused));
    let task = tokio::spawn(async move {
        let mut requests = Some(requests);
        let mut next_id = window as u64;
        while let Some(response) = inbound.message().await.map_err(|s| LoadError::Drive(describe(&s)))? {
            let bad_signature = matches!(
                &response.result,
                Some(proto::submit_payments_response::Result::Refusal(r)) if r.reason == proto::Reason::BadSignature as i32
            );
            if !bad_signature {
                return Err(LoadError::Drive(format!("a forged payment was answered {:?}", response.result)));
            }
            counting.fetch_add(1, Ordering::Relaxed);
            if stopping.load(Ordering::Relaxed) {
                // Closing the stream: the server answers what is in
                // flight, then ends it.
                requests = None;
                continue;
            }
            let Some(sender) = &requests else { continue };
            let request = proto::SubmitPaymentsRequest { client_id: next_id, transaction: Some(forged.clone()) };
            next_id += 1;
            if sender.send(request).await.is_err() {
                break;
            }
        }
        Ok(())
    });
    Ok(Flood { stop, refused, started: Instant::now(), task })
}

impl Flood {
    /// Stops sending, waits (at most 10 s) for what is in flight, and
    /// reports.
    ///
    /// # Errors
    /// A forged payment answered other than `BAD_SIGNATURE`.
    pub async fn stop(self) -> Result<FloodReport, LoadError> {
        let elapsed = self.started.elapsed();
        let refused = self.refused.load(Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        match tokio::time::timeout(Duration::from_secs(10), self.task).await {
            Ok(Ok(outcome)) => outcome?,
            Ok(Err(join)) => return Err(LoadError::Drive(format!("flood task: {join}"))),
            Err(_) => {}
        }
        #[allow(clippy::cast_precision_loss)]
        let per_s = refused as f64 / elapsed.as_secs_f64().max(1e-9);
        Ok(FloodReport { refused, per_s })
    }
}
