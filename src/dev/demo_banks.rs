//! The demo's two operating banks: registered with their own credentials,
//! holding the demo's wallets and shops as customers, following their
//! movements live through `ReconciliationService.Subscribe` (with the
//! reference client in `follow`) while the terminals pay, and reconciling
//! at the end with a camt.053 statement and the net positions.

use hdrhistogram::Histogram;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::follow::{Cursor, Event, FollowError, Follower};
use crate::client::{Client, Credential};
use crate::core::amount::format_amount;
use crate::core::crypto::{Keypair, sha256};
use crate::core::types::Address;
use crate::dev::{DemoError, setup};
use crate::proto;

/// (id, name) of the demo's banks; shops and wallets alternate between them.
pub const DEMO_BANKS: [(&str, &str); 2] = [("bank-north", "North Commercial Bank"), ("bank-south", "South Rural Bank")];
/// Wallet registrations in flight at once.
const REGISTRATIONS_IN_FLIGHT_MAX: usize = 32;

/// The bank the `n`th shop or wallet belongs to.
#[must_use]
pub fn bank_of(n: usize) -> &'static str {
    DEMO_BANKS[n % DEMO_BANKS.len()].0
}

/// One bank's desk: its credential and where its follower is.
pub struct Desk {
    pub id: &'static str,
    pub token: String,
    pub cursor: Cursor,
    /// From a block's time to its checkpoint reaching the bank, in ms, for
    /// blocks sealed while the bank was following live.
    pub lag_ms: Histogram<u64>,
}

impl Desk {
    pub fn client(&self, admin: &Client) -> Client {
        admin.with_credential(Credential::token(&self.token))
    }
}

/// Registers the banks, each with a fresh bearer token (the ledger keeps
/// only its SHA-256).
///
/// # Errors
/// When a registration is refused.
pub async fn register_banks(admin: &mut Client) -> Result<Vec<Desk>, DemoError> {
    let mut desks = Vec::new();
    for (id, name) in DEMO_BANKS {
        let token = hex::encode(Keypair::generate().address().0);
        let bank = proto::Bank {
            id: id.into(),
            name: name.into(),
            credential_sha256: vec![sha256(token.as_bytes()).to_vec()],
        };
        admin
            .admin
            .register_bank(proto::RegisterBankRequest { bank: Some(bank) })
            .await
            .map_err(setup("register bank"))?;
        let lag_ms = Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds");
        desks.push(Desk { id, token, cursor: Cursor::new(id), lag_ms });
    }
    Ok(desks)
}

/// Registers every wallet at its bank, tier 1 (what an unregistered wallet
/// would get), a bounded number at a time. The bank follows from the address
/// (random keys: an even split that does not depend on which terminal pays
/// for which wallet).
///
/// # Errors
/// When a registration is refused.
pub async fn register_wallets(admin: &Client, wallets: &[Address]) -> Result<(), DemoError> {
    let mut tasks: tokio::task::JoinSet<Result<(), tonic::Status>> = tokio::task::JoinSet::new();
    for address in wallets {
        if tasks.len() == REGISTRATIONS_IN_FLIGHT_MAX
            && let Some(done) = tasks.join_next().await
        {
            done.map_err(setup("registration task"))?.map_err(setup("register wallet"))?;
        }
        let wallet = proto::Wallet {
            address: address.0.to_vec(),
            bank_id: bank_of(usize::from(address.0[0])).into(),
            tier: 1,
            frozen: String::new(),
        };
        let mut admin = admin.clone();
        tasks.spawn(async move {
            admin.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await.map(|_| ())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(setup("registration task"))?.map_err(setup("register wallet"))?;
    }
    Ok(())
}

/// A follower running live in the background.
pub struct Following {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(Follower, Histogram<u64>), FollowError>>,
    id: &'static str,
}

/// Starts following `desk`'s bank live from its cursor.
///
/// # Errors
/// When the follower cannot connect.
pub async fn follow_live(admin: &Client, desk: &Desk) -> Result<Following, DemoError> {
    let mut follower = Follower::new(desk.client(admin), desk.cursor.clone(), None).await.map_err(setup("follow"))?;
    let mut lag_ms = desk.lag_ms.clone();
    let (stop, stopped) = oneshot::channel();
    let started_ms = crate::core::clock::now_unix_ms();
    let task = tokio::spawn(async move {
        let live = follower.run(None, |event| {
            if let Event::Checkpoint { lag_ms: lag, block_time_unix_ms, .. } = event
                && block_time_unix_ms >= started_ms
            {
                lag_ms.saturating_record(lag.max(1));
            }
        });
        tokio::select! {
            result = live => result?,
            _ = stopped => {}
        }
        Ok((follower, lag_ms))
    });
    Ok(Following { stop, task, id: desk.id })
}

/// Stops following live, catches up to block `tip`, and keeps where the
/// follower got to in `desk`.
///
/// # Errors
/// A failed stream or a checkpoint that did not check out.
pub async fn catch_up(following: Following, desk: &mut Desk, tip: u64) -> Result<(), DemoError> {
    let _ = following.stop.send(());
    let (mut follower, lag_ms) = following
        .task
        .await
        .map_err(setup("follower task"))?
        .map_err(|e| DemoError::Check(format!("{} following: {e}", following.id)))?;
    follower.run(Some(tip), |_| {}).await.map_err(|e| DemoError::Check(format!("{} catching up: {e}", desk.id)))?;
    desk.cursor = follower.cursor.clone();
    desk.lag_ms = lag_ms;
    Ok(())
}

/// Each bank fetches today's camt.053, checks it adds up, and checks its
/// closing balance against what its follower counted; then the net
/// positions since genesis. Prints a summary of each.
///
/// # Errors
/// A statement that does not check out or does not match the follower.
pub async fn reconcile(
    admin: &mut Client,
    desks: &[Desk],
    exponent: u32,
    day_offset_minutes: i32,
) -> Result<(), DemoError> {
    let amount = |minor: i128| {
        let sign = if minor < 0 { "-" } else { "" };
        format!("{sign}{}", format_amount(u64::try_from(minor.unsigned_abs()).unwrap_or(u64::MAX), exponent))
    };
    let date = crate::api::statement::ledger_date(crate::core::clock::now_unix_ms(), day_offset_minutes);
    for desk in desks {
        let request = proto::GetStatementRequest {
            bank: String::new(),
            date: date.clone(),
            format: proto::StatementFormat::Camt053.into(),
        };
        let mut stream =
            desk.client(admin).reconciliation.get_statement(request).await.map_err(setup("statement"))?.into_inner();
        let mut xml = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(setup("statement"))? {
            xml.extend_from_slice(&chunk.data);
        }
        let checked = crate::api::statement::check_camt053(&xml, exponent)
            .map_err(|e| DemoError::Check(format!("{} statement: {e}", desk.id)))?;
        let followed = i128::from(desk.cursor.credits_minor) - i128::from(desk.cursor.debits_minor);
        if checked.closing_minor != followed {
            return Err(DemoError::Check(format!(
                "{}: the statement closes at {} but the stream adds up to {}",
                desk.id, checked.closing_minor, followed
            )));
        }
        let (p50, p99) = if desk.lag_ms.is_empty() {
            (0, 0)
        } else {
            (desk.lag_ms.value_at_quantile(0.5), desk.lag_ms.value_at_quantile(0.99))
        };
        println!(
            "{}: followed {} movements to block {} (checkpoints verified: signature, chain, totals); lag block -> bank p50 {p50} ms, p99 {p99} ms",
            desk.id,
            desk.cursor.movements,
            desk.cursor.after_height.unwrap_or(0),
        );
        println!(
            "{}: camt.053 for {date}: {} bytes, opening {}, {} credits {}, {} debits {}, closing {} = the stream's balance: OK",
            desk.id,
            xml.len(),
            amount(checked.opening_minor),
            checked.credit_entries,
            amount(i128::from(checked.credits_minor)),
            checked.debit_entries,
            amount(i128::from(checked.debits_minor)),
            amount(checked.closing_minor),
        );
    }
    let positions = admin
        .reconciliation
        .get_net_positions(proto::GetNetPositionsRequest { after_height: 0, until_height: 0, bank: String::new() })
        .await
        .map_err(setup("net positions"))?
        .into_inner();
    let mut net_sum = 0i128;
    for position in &positions.positions {
        net_sum += i128::from(position.net_minor);
        let bank = if position.bank.is_empty() { "(unbanked)" } else { position.bank.as_str() };
        println!(
            "net position {bank}: paid {}, received {}, issued {}, redeemed {}, net {}",
            amount(i128::from(position.paid_minor)),
            amount(i128::from(position.received_minor)),
            amount(i128::from(position.issued_minor)),
            amount(i128::from(position.redeemed_minor)),
            amount(i128::from(position.net_minor)),
        );
    }
    if net_sum != 0 {
        return Err(DemoError::Check(format!("net positions sum to {net_sum}, not zero")));
    }
    println!("net positions sum to zero across banks: OK");
    Ok(())
}

/// The bank of the first shop redeems up to a transaction's worth of its
/// takings into deposits. Returns what was burned.
///
/// # Errors
/// When the shop has nothing or the redemption is refused.
pub async fn redeem_takings(admin: &Client, desk: &Desk, shop: &Keypair) -> Result<u64, DemoError> {
    let mut bank = desk.client(admin);
    let chain = bank.chain_id().await.map_err(setup("chain id"))?;
    let request = proto::ListUnspentRequest {
        address: shop.address().0.to_vec(),
        page_size: u32::try_from(crate::core::limits::TX_INPUTS_MAX).expect("small"),
        page_token: String::new(),
    };
    let outputs = bank.wallets.list_unspent(request).await.map_err(setup("list unspent"))?.into_inner().outputs;
    let coins = outputs
        .iter()
        .filter_map(|u| {
            let outpoint = u.outpoint.as_ref()?;
            let output = u.output.as_ref()?;
            Some((
                crate::core::types::OutPoint {
                    txid: crate::core::types::TxId::from_slice(&outpoint.txid)?,
                    index: outpoint.index,
                },
                crate::core::types::Output {
                    owner: Address::from_slice(&output.address)?,
                    amount_minor: output.amount_minor,
                    programme: output.programme_id,
                },
            ))
        })
        .collect::<Vec<_>>();
    if coins.is_empty() {
        return Err(DemoError::Check("the shop took no payments to redeem".into()));
    }
    let burned: u64 = coins.iter().map(|(_, o)| o.amount_minor).sum();
    let tx = crate::client::redeem(&chain, shop, &coins, 0, b"demo-redemption");
    bank.submit(&tx).await.map_err(setup("redeem"))?;
    Ok(burned)
}
