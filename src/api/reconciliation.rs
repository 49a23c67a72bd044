//! `ReconciliationService`: what operating banks follow and reconcile with.
//! Every answer is read from the store (movements and totals persisted with
//! each block), never from an in-memory queue: a slow or absent bank costs
//! the ledger nothing, and a stream resumes from any sequence after a
//! disconnect or a restart.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::auth::Need;
use crate::api::statement::{self, StatementEntry, StatementInfo};
use crate::api::{Api, ResponseStream, UntilDeadline, blocking, checks, deadline_of, header_to_proto};
use crate::core::limits::{
    BANK_STREAMS_PER_BANK_MAX, STATEMENT_CHUNK_BYTES, SUBSCRIBE_BUFFER_ITEMS, SUBSCRIBE_MOVEMENTS_PER_READ,
};
use crate::core::movements::{BankTotals, Direction, Movement, UNBANKED};
use crate::core::types::TxKind;
use crate::proto;
use crate::store::{Store, StoreError};

fn kind_to_proto(kind: TxKind) -> proto::MovementKind {
    match kind {
        TxKind::Transfer => proto::MovementKind::Payment,
        TxKind::Mint => proto::MovementKind::Mint,
        TxKind::Redeem => proto::MovementKind::Redeem,
        TxKind::Clawback => proto::MovementKind::Clawback,
        TxKind::Refund => proto::MovementKind::Refund,
        TxKind::Recovery => proto::MovementKind::Recovery,
    }
}

fn movement_to_proto(movement: &Movement, height: u64) -> proto::Movement {
    proto::Movement {
        sequence: movement.sequence,
        height,
        txid: movement.txid.0.to_vec(),
        kind: kind_to_proto(movement.kind).into(),
        time_unix_ms: movement.time_unix_ms,
        merchant: movement.merchant.clone().unwrap_or_default(),
        terminal: movement.terminal.clone().unwrap_or_default(),
        entries: movement
            .entries
            .iter()
            .map(|e| proto::Entry {
                address: e.address.0.to_vec(),
                merchant: e.merchant.clone().unwrap_or_default(),
                programme_id: e.programme,
                direction: match e.direction {
                    Direction::Credit => proto::Direction::Credit,
                    Direction::Debit => proto::Direction::Debit,
                }
                .into(),
                amount_minor: e.amount_minor,
                counterparty: e.counterparty.map(|c| c.0.to_vec()).unwrap_or_default(),
                counterparty_bank: e.counterparty_bank.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

#[must_use]
pub fn totals_to_proto(totals: &BankTotals) -> proto::BankTotals {
    proto::BankTotals {
        movements: totals.movements,
        credit_entries: totals.credit_entries,
        debit_entries: totals.debit_entries,
        credits_minor: totals.credits_minor,
        debits_minor: totals.debits_minor,
        programmes: totals
            .programmes
            .iter()
            .map(|(programme, (credits, debits))| proto::ProgrammeTotals {
                programme_id: *programme,
                credits_minor: *credits,
                debits_minor: *debits,
            })
            .collect(),
    }
}

/// How long after a day's end, with no later block, its statement is still
/// interim: a block sealed just before midnight may still be committing.
const DAY_CLOSE_GRACE_MS: u64 = 10_000;

fn item(item: proto::subscribe_response::Item) -> Result<proto::SubscribeResponse, Status> {
    Ok(proto::SubscribeResponse { item: Some(item) })
}

/// Feeds one bank's subscription from `after_sequence`: for each block, the bank's
/// movements then a checkpoint; waits for the next durable block at the
/// tip. Ends when the bank hangs up, the server stops, or `until_height`
/// is passed.
async fn feed_subscriber(
    api: Api,
    bank: String,
    request: proto::SubscribeRequest,
    out: mpsc::Sender<Result<proto::SubscribeResponse, Status>>,
) {
    let stall = api.stream_stall;
    let _open = crate::metrics::GaugeGuard::new(&api.engine.metrics().bank_streams);
    let mut durable = api.engine.durable_heights();
    let mut stopping = api.stopping.clone();
    let mut after = request.after_sequence;
    let mut height = match first_height(&api, &request).await {
        Ok(height) => height,
        Err(status) => {
            let _ = out.send_timeout(Err(status), stall).await;
            return;
        }
    };
    let stopped = || Err(Status::unavailable("the server is stopping; resume from the last sequence seen"));
    loop {
        if request.until_height.is_some_and(|until| height > until) {
            return;
        }
        while *durable.borrow_and_update() < height {
            tokio::select! {
                changed = durable.changed() => if changed.is_err() { let _ = out.send_timeout(stopped(), stall).await; return },
                _ = stopping.changed() => { let _ = out.send_timeout(stopped(), stall).await; return },
                () = out.closed() => return,
            }
        }
        if *stopping.borrow() {
            let _ = out.send_timeout(stopped(), stall).await;
            return;
        }
        match send_block(&api, &bank, height, &mut after, &out).await {
            Ok(()) => height += 1,
            Err(Some(status)) => {
                let _ = out.send_timeout(Err(status), stall).await;
                return;
            }
            Err(None) => return,
        }
    }
}

/// The first block a subscription sends: the one holding the sequence after
/// `after_sequence` (the next block when it is past the tip's), and after
/// the block whose checkpoint the bank already saw (`after_height`).
async fn first_height(api: &Api, request: &proto::SubscribeRequest) -> Result<u64, Status> {
    let after = request.after_sequence;
    let store = Arc::clone(api.engine.store_arc());
    let height = match blocking(move || Ok((store.block_of_sequence(after)?, store.tip_height()?))).await? {
        (Some(height), _) => height,
        (None, tip) => {
            let last = api.engine.tip().block.header.next_sequence() - 1;
            if after > last {
                return Err(Status::out_of_range(format!(
                    "after_sequence {after} is past the ledger's last sequence {last}"
                )));
            }
            tip + 1
        }
    };
    Ok(checks::first_subscribed_height(height, request.after_height))
}

/// Sends `bank`'s movements in the durable block at `height` after
/// sequence `after` (read `SUBSCRIBE_MOVEMENTS_PER_READ` at a time), then
/// the block's checkpoint; `after` follows what was sent. `Err(None)`: the
/// bank hung up or stopped reading; `Err(Some(status))`: a read failed.
async fn send_block(
    api: &Api,
    bank: &str,
    height: u64,
    after: &mut u64,
    out: &mpsc::Sender<Result<proto::SubscribeResponse, Status>>,
) -> Result<(), Option<Status>> {
    let stall = api.stream_stall;
    loop {
        let (store, bank, from) = (Arc::clone(api.engine.store_arc()), bank.to_owned(), *after);
        let block = blocking(move || store.bank_block(&bank, height, from, SUBSCRIBE_MOVEMENTS_PER_READ))
            .await?
            .ok_or_else(|| Status::internal(format!("durable block {height} not found")))?;
        for movement in &block.movements {
            *after = movement.sequence;
            let movement = item(proto::subscribe_response::Item::Movement(movement_to_proto(movement, height)));
            out.send_timeout(movement, stall).await.map_err(|_| None)?;
        }
        if let Some(totals) = block.totals {
            *after = (*after).max(block.header.header.next_sequence() - 1);
            let lag_ms = api.engine.now_unix_ms().saturating_sub(block.header.header.time_unix_ms);
            #[allow(clippy::cast_precision_loss)]
            api.engine.metrics().bank_stream_lag_seconds.observe(lag_ms as f64 / 1000.0);
            let checkpoint = proto::Checkpoint {
                block: Some(header_to_proto(&block.header)),
                totals: Some(totals_to_proto(&totals)),
            };
            out.send_timeout(item(proto::subscribe_response::Item::Checkpoint(checkpoint)), stall)
                .await
                .map_err(|_| None)?;
            return Ok(());
        }
    }
}

/// One bank's position over a window, from its totals before and after
/// it; what it paid each other bank goes to `flows`.
fn net_position(
    bank: &str,
    before: &BankTotals,
    now: &BankTotals,
    flows: &mut Vec<proto::BankFlow>,
) -> Result<proto::NetPosition, Status> {
    // Totals only grow: one that went back is a corrupt store.
    let diff = |now: u64, before: u64| {
        now.checked_sub(before).ok_or_else(|| {
            tracing::error!(bank, now, before, "bank totals went backwards");
            Status::internal(format!("bank {bank}'s totals went backwards; run 'settled audit'"))
        })
    };
    let mut paid = 0u64;
    for (payee, amount) in &now.paid_to {
        let amount = diff(*amount, before.paid_to.get(payee).copied().unwrap_or(0))?;
        if amount > 0 {
            paid += amount;
            flows.push(proto::BankFlow {
                payer_bank: bank.to_owned(),
                payee_bank: payee.clone(),
                amount_minor: amount,
            });
        }
    }
    let mut received = 0u64;
    for (payer, amount) in &now.received_from {
        received += diff(*amount, before.received_from.get(payer).copied().unwrap_or(0))?;
    }
    let net = i128::from(received) - i128::from(paid);
    Ok(proto::NetPosition {
        bank: bank.to_owned(),
        paid_minor: paid,
        received_minor: received,
        issued_minor: diff(now.issued_minor, before.issued_minor)?,
        redeemed_minor: diff(now.redeemed_minor, before.redeemed_minor)?,
        net_minor: i64::try_from(net).map_err(|_| Status::internal("net position past 2^63"))?,
    })
}

/// Writes to a bounded channel in chunks: the statement is rendered on a
/// blocking thread while the client reads at its own pace.
struct ChunkWriter {
    buffer: Vec<u8>,
    out: mpsc::Sender<Result<proto::StatementChunk, Status>>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buffer, Vec::with_capacity(STATEMENT_CHUNK_BYTES));
        self.out
            .blocking_send(Ok(proto::StatementChunk { data }))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= STATEMENT_CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The statement's entries, read `SUBSCRIBE_MOVEMENTS_PER_READ` movements
/// per read transaction so that no read is held open while the client is
/// slow.
struct Entries {
    store: Arc<Store>,
    bank: String,
    next_sequence: u64,
    last_sequence: u64,
    /// The block the last movement read was in, and the first sequence
    /// after it.
    block: (u64, u64),
    page: std::collections::VecDeque<StatementEntry>,
    done: bool,
}

impl Entries {
    /// Sequences only grow, so the block walks forward header by header.
    fn height_of(&mut self, sequence: u64) -> Result<u64, StoreError> {
        while sequence >= self.block.1 {
            let height = self.block.0 + 1;
            let header = self.store.header(height)?.ok_or_else(|| StoreError::Corrupt(format!("no block {height}")))?;
            self.block = (height, header.header.next_sequence());
        }
        Ok(self.block.0)
    }

    fn fill(&mut self) -> Result<(), StoreError> {
        let mut movements = Vec::new();
        self.store.movements_between(&self.bank, self.next_sequence, self.last_sequence, |movement| {
            movements.push(movement);
            Ok(movements.len() < SUBSCRIBE_MOVEMENTS_PER_READ)
        })?;
        match movements.last() {
            Some(last) => self.next_sequence = last.sequence + 1,
            None => self.done = true,
        }
        for movement in movements {
            let height = self.height_of(movement.sequence)?;
            for entry in movement.entries {
                self.page.push_back(StatementEntry {
                    txid: movement.txid,
                    sequence: movement.sequence,
                    height,
                    time_unix_ms: movement.time_unix_ms,
                    kind: movement.kind,
                    address: entry.address,
                    merchant: entry.merchant,
                    programme: entry.programme,
                    direction: entry.direction,
                    amount_minor: entry.amount_minor,
                    counterparty: entry.counterparty,
                    terminal: movement.terminal.clone(),
                });
            }
        }
        Ok(())
    }
}

impl Iterator for Entries {
    type Item = Result<StatementEntry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.page.is_empty() && !self.done {
            if let Err(error) = self.fill() {
                self.done = true;
                return Some(Err(error));
            }
        }
        self.page.pop_front().map(Ok)
    }
}

#[tonic::async_trait]
impl proto::reconciliation_service_server::ReconciliationService for Api {
    type SubscribeStream = ResponseStream<proto::SubscribeResponse>;
    type GetStatementStream = ResponseStream<proto::StatementChunk>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let principal = self.authorize(&request, &[Need::Operator, Need::Auditor, Need::Bank])?;
        let deadline = deadline_of(&request);
        let revocation = self.until_revoked(&request, &principal, ());
        let request = request.into_inner();
        let bank = checks::bank_of_call(&principal, &request.bank, &self.engine.registry())?;
        let slot = self.open_stream(format!("bank streams of {bank}"), BANK_STREAMS_PER_BANK_MAX)?;
        let (out, items) = mpsc::channel(SUBSCRIBE_BUFFER_ITEMS);
        let api = self.clone();
        tokio::spawn(async move {
            let _slot = slot;
            feed_subscriber(api, bank, request, out).await;
        });
        Ok(Response::new(Box::pin(revocation.wrapping(UntilDeadline::new(ReceiverStream::new(items), deadline)))))
    }

    async fn get_statement(
        &self,
        request: Request<proto::GetStatementRequest>,
    ) -> Result<Response<Self::GetStatementStream>, Status> {
        let principal = self.authorize(&request, &[Need::Operator, Need::Auditor, Need::Bank])?;
        let deadline = deadline_of(&request);
        let request = request.into_inner();
        let bank = checks::bank_of_call(&principal, &request.bank, &self.engine.registry())?;
        let format = checks::statement_format(request.format)?;
        let day = checks::statement_day(&request.date)?;
        let offset_minutes = self.engine.tiers().day_offset_minutes;
        let (start_ms, end_ms) = checks::day_window_ms(day, offset_minutes);
        let store = Arc::clone(self.engine.store_arc());
        let (opening, closing, opening_totals, closing_totals) = {
            let (store, bank) = (Arc::clone(&store), bank.clone());
            blocking(move || {
                let opening = store.last_block_before(start_ms)?;
                let closing = store.last_block_before(end_ms)?;
                let banks = [bank];
                let opening_totals = store.totals_of_banks_at(&banks, opening.header.height)?.remove(0);
                let closing_totals = store.totals_of_banks_at(&banks, closing.header.height)?.remove(0);
                Ok((opening, closing, opening_totals, closing_totals))
            })
            .await?
        };
        // The day is over once a later block is durable (blocks are durable
        // in order) or well after its end by the clock, when nothing came.
        let closed = self.engine.tip().block.header.time_unix_ms >= end_ms
            || self.engine.now_unix_ms() >= end_ms.saturating_add(DAY_CLOSE_GRACE_MS);
        let credit_entries = closing_totals.credit_entries - opening_totals.credit_entries;
        let debit_entries = closing_totals.debit_entries - opening_totals.debit_entries;
        checks::statement_entries(&bank, &request.date, credit_entries + debit_entries)?;
        let genesis = self.engine.genesis();
        let info = StatementInfo {
            bank_name: self.engine.registry().banks.get(&bank).map(|b| b.name.clone()).unwrap_or_default(),
            bank_id: bank.clone(),
            currency: genesis.currency.clone(),
            exponent: genesis.exponent,
            date: request.date.clone(),
            day_offset_minutes: offset_minutes,
            created_unix_ms: self.engine.now_unix_ms(),
            opening_minor: opening_totals.balance_minor(),
            closing_minor: closing_totals.balance_minor(),
            credit_entries,
            credits_minor: closing_totals.credits_minor - opening_totals.credits_minor,
            debit_entries,
            debits_minor: closing_totals.debits_minor - opening_totals.debits_minor,
            from_height: opening.header.height + 1,
            until_height: closing.header.height,
            closed,
        };
        let entries = Entries {
            store,
            bank,
            next_sequence: opening.header.next_sequence(),
            last_sequence: closing.header.next_sequence() - 1,
            block: (opening.header.height, opening.header.next_sequence()),
            page: std::collections::VecDeque::new(),
            done: false,
        };
        let (out, chunks) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut writer = ChunkWriter { buffer: Vec::with_capacity(STATEMENT_CHUNK_BYTES), out: out.clone() };
            let written = match format {
                proto::StatementFormat::Csv => statement::write_csv(&info, entries, &mut writer),
                proto::StatementFormat::Camt052 => statement::write_camt052(&info, entries, &mut writer),
                proto::StatementFormat::Camt053 | proto::StatementFormat::Unspecified => {
                    statement::write_camt053(&info, entries, &mut writer)
                }
            };
            let flushed = written
                .map_err(|e| e.to_string())
                .and_then(|()| std::io::Write::flush(&mut writer).map_err(|e| e.to_string()));
            if let Err(error) = flushed {
                tracing::error!(%error, "statement failed");
                let _ = out.blocking_send(Err(Status::internal(format!("statement failed: {error}"))));
            }
        });
        Ok(Response::new(Box::pin(UntilDeadline::new(ReceiverStream::new(chunks), deadline))))
    }

    async fn get_net_positions(
        &self,
        request: Request<proto::GetNetPositionsRequest>,
    ) -> Result<Response<proto::GetNetPositionsResponse>, Status> {
        let caller = self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Auditor, Need::Bank])?;
        let request = request.into_inner();
        // A bank reads its own position and the flows it is part of.
        let only = match (&caller, request.bank.as_str()) {
            (crate::api::auth::Principal::Bank(own), "") => Some(own.clone()),
            (crate::api::auth::Principal::Bank(own), asked) if asked != own => {
                return Err(Status::permission_denied(format!(
                    "bank {own} may read only its own position, not bank {asked}'s"
                )));
            }
            (_, "") => None,
            (_, asked) => Some(asked.to_owned()),
        };
        if let Some(bank) = &only
            && !self.engine.registry().banks.contains_key(bank)
        {
            return Err(Status::not_found(format!("no bank {bank}")));
        }
        let tip = self.engine.tip().block.header.height;
        let (after, until) = checks::net_positions_window(request.after_height, request.until_height, tip)?;
        let mut banks: Vec<String> = self.engine.registry().banks.keys().cloned().collect();
        banks.push(UNBANKED.to_owned());
        banks.sort();
        let store = Arc::clone(self.engine.store_arc());
        let (from_block, until_block, before, after_totals) = {
            let banks = banks.clone();
            blocking(move || {
                let from_block =
                    store.header(after)?.ok_or_else(|| StoreError::Corrupt(format!("no block {after}")))?;
                let until_block =
                    store.header(until)?.ok_or_else(|| StoreError::Corrupt(format!("no block {until}")))?;
                Ok((
                    from_block,
                    until_block,
                    store.totals_of_banks_at(&banks, after)?,
                    store.totals_of_banks_at(&banks, until)?,
                ))
            })
            .await?
        };
        let mut flows = Vec::new();
        let mut positions = Vec::new();
        let (mut net_sum, mut issued_sum, mut redeemed_sum) = (0i128, 0i128, 0i128);
        for ((bank, before), now) in banks.iter().zip(&before).zip(&after_totals) {
            let position = net_position(bank, before, now, &mut flows)?;
            net_sum += i128::from(position.net_minor);
            issued_sum += i128::from(position.issued_minor);
            redeemed_sum += i128::from(position.redeemed_minor);
            positions.push(position);
        }
        // Money is conserved between banks: what one side paid the other
        // received, and issuance minus redemption is the supply change.
        let supply = |h: &crate::core::encoding::BlockHeader| {
            i128::from(h.minted_total_minor) - i128::from(h.burned_total_minor)
        };
        let supply_change = supply(&until_block.header) - supply(&from_block.header);
        if net_sum != 0 || issued_sum - redeemed_sum != supply_change {
            tracing::error!(net_sum, issued_sum, redeemed_sum, supply_change, "net positions do not add up");
            return Err(Status::internal("net positions do not add up; run 'settled audit'"));
        }
        if let Some(bank) = &only {
            flows.retain(|flow| flow.payer_bank == *bank || flow.payee_bank == *bank);
            positions.retain(|position| position.bank == *bank);
        }
        Ok(Response::new(proto::GetNetPositionsResponse {
            from_block: Some(header_to_proto(&from_block)),
            until_block: Some(header_to_proto(&until_block)),
            flows,
            positions,
        }))
    }
}
