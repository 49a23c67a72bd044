//! `PaymentService`: payments from terminals (unary and streaming), bank
//! redemptions, and a payment's status.

use super::*;

/// What `PaymentService` accepts: payments, and redemptions by a merchant's
/// bank.
const PAYMENT_KINDS: &[TxKind] = &[TxKind::Transfer, TxKind::Redeem, TxKind::Refund];

#[tonic::async_trait]
impl proto::payment_service_server::PaymentService for Api {
    async fn submit_payment(
        &self,
        request: Request<proto::SubmitPaymentRequest>,
    ) -> Result<Response<proto::SubmitPaymentResponse>, Status> {
        let principal = self.authorize(&request, &[Need::Terminal, Need::Bank])?;
        let request = request.into_inner();
        match self.submit(&principal, request.transaction.as_ref(), PAYMENT_KINDS).await {
            Ok((_, outcome)) => Ok(Response::new(proto::SubmitPaymentResponse {
                receipt: Some(receipt_to_proto(&outcome.receipt)),
                duplicate: outcome.duplicate,
            })),
            Err((_, refusal)) => Err(refusal_to_status(&refusal)),
        }
    }

    type SubmitPaymentsStream = ResponseStream<proto::SubmitPaymentsResponse>;

    async fn submit_payments(
        &self,
        request: Request<Streaming<proto::SubmitPaymentsRequest>>,
    ) -> Result<Response<Self::SubmitPaymentsStream>, Status> {
        let principal = self.authorize(&request, &[Need::Terminal, Need::Bank])?;
        let slot =
            self.open_stream(format!("payment streams of {principal:?}"), PAYMENT_STREAMS_PER_PARTICIPANT_MAX)?;
        let deadline = deadline_of(&request);
        let revocation = self.until_revoked(&request, &principal, ());
        let mut inbound = request.into_inner();
        let stall = self.stream_stall;
        let stalled = Arc::new(tokio::sync::Notify::new());
        // Each in-flight item holds a permit; at the limit the stream stops
        // reading, which pushes back through HTTP/2 flow control.
        let permits = Arc::new(Semaphore::new(STREAM_IN_FLIGHT_MAX));
        let (out, results) = mpsc::channel(STREAM_IN_FLIGHT_MAX);
        let opened = std::time::Instant::now();
        let last_read_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let results =
            ReadTracking { inner: ReceiverStream::new(results), opened, last_read_ms: Arc::clone(&last_read_ms) };
        let api = self.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let metrics = Arc::clone(api.engine.metrics());
            let _open = crate::metrics::GaugeGuard::new(&metrics.payment_streams);
            // One timer per stream, not one per payment: it looks every
            // `stall` whether results sit unread.
            let mut stall_check = tokio::time::interval_at(tokio::time::Instant::now() + stall, stall);
            stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                if *stopping.borrow() {
                    break;
                }
                let item = tokio::select! {
                    item = inbound.next() => item,
                    () = out.closed() => break,
                    _ = stopping.changed() => break,
                    // A client that stopped reading: end the stream, free it.
                    () = stalled.notified() => break,
                    _ = stall_check.tick() => {
                        let unread = out.capacity() < out.max_capacity();
                        let read_ms = last_read_ms.load(std::sync::atomic::Ordering::Relaxed);
                        let idle = opened.elapsed().saturating_sub(std::time::Duration::from_millis(read_ms));
                        if unread && idle >= stall {
                            break;
                        }
                        continue;
                    }
                };
                match item {
                    None => break,
                    Some(Err(status)) => {
                        drop(permit);
                        end_stream(status, &permits, &out).await;
                        break;
                    }
                    Some(Ok(item)) => {
                        let api = api.clone();
                        let out = out.clone();
                        let principal = principal.clone();
                        let stalled = Arc::clone(&stalled);
                        tokio::spawn(async move {
                            let response = stream_answer(&api, &principal, item).await;
                            if out.send_timeout(Ok(response), stall).await.is_err() {
                                stalled.notify_one();
                            }
                            drop(permit);
                        });
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(revocation.wrapping(UntilDeadline::new(results, deadline)))))
    }

    async fn get_payment(
        &self,
        request: Request<proto::GetPaymentRequest>,
    ) -> Result<Response<proto::GetPaymentResponse>, Status> {
        let principal = self.authorize(
            &request,
            &[Need::Operator, Need::Issuer, Need::ProgrammeAdministrator, Need::Auditor, Need::Bank, Need::Terminal],
        )?;
        let txid = txid_arg(&request.into_inner().txid)?;
        let store = self.engine.store();
        let Some(receipt) = store.receipt(&txid).map_err(|e| storage_status(&e))? else {
            return Ok(Response::new(proto::GetPaymentResponse {
                status: proto::PaymentStatus::Unknown as i32,
                receipt: None,
                transaction: None,
            }));
        };
        let tx = store.transaction(&txid).map_err(|e| storage_status(&e))?;
        // A bank or terminal sees only payments that pay or debit one of its
        // customers.
        if matches!(principal, Principal::Bank(_) | Principal::Terminal(_)) {
            let mut parties: Vec<Address> = tx.iter().flat_map(|tx| tx.outputs.iter().map(|o| o.owner)).collect();
            for input in tx.iter().flat_map(|tx| tx.inputs.iter()) {
                let parent = store.transaction(&input.txid).map_err(|e| storage_status(&e))?;
                if let Some(spent) = parent.as_ref().and_then(|p| p.outputs.get(input.index as usize)) {
                    parties.push(spent.owner);
                }
            }
            let registry = self.engine.registry();
            let concerns = parties.iter().any(|owner| auth::may_read(&principal, owner, &registry));
            if !concerns {
                return Err(Status::permission_denied(format!(
                    "payment {txid} does not concern {principal:?}'s customers"
                )));
            }
        }
        Ok(Response::new(proto::GetPaymentResponse {
            status: proto::PaymentStatus::Confirmed as i32,
            receipt: Some(receipt_to_proto(&receipt)),
            transaction: tx.as_ref().map(transaction_to_proto),
        }))
    }
}

/// One streamed payment's answer: its receipt, or the refusal, under the
/// caller's `client_id`.
async fn stream_answer(
    api: &Api,
    principal: &Principal,
    item: proto::SubmitPaymentsRequest,
) -> proto::SubmitPaymentsResponse {
    match api.submit(principal, item.transaction.as_ref(), PAYMENT_KINDS).await {
        Ok((txid, outcome)) => proto::SubmitPaymentsResponse {
            client_id: item.client_id,
            txid: txid.0.to_vec(),
            result: Some(proto::submit_payments_response::Result::Receipt(receipt_to_proto(&outcome.receipt))),
            duplicate: outcome.duplicate,
        },
        Err((txid, refusal)) => proto::SubmitPaymentsResponse {
            client_id: item.client_id,
            txid: txid.map(|t| t.0.to_vec()).unwrap_or_default(),
            result: Some(proto::submit_payments_response::Result::Refusal(refusal_to_proto(&refusal))),
            duplicate: false,
        },
    }
}

/// An undecodable or oversized item ends the stream (the framing is
/// lost). The error is the stream's last message: every payment already
/// admitted is answered first (all their permits come back).
async fn end_stream(
    status: Status,
    permits: &Semaphore,
    out: &mpsc::Sender<Result<proto::SubmitPaymentsResponse, Status>>,
) {
    let in_flight_max = u32::try_from(STREAM_IN_FLIGHT_MAX).expect("limit fits u32");
    let _ = permits.acquire_many(in_flight_max).await;
    let status = if status.code() == Code::OutOfRange { Status::resource_exhausted(status.message()) } else { status };
    let _ = out.send(Err(status)).await;
}
