//! What operators and issuers run: programmes (create, statistics,
//! clawback), registrations, disbursement, receipts.

use settled::client::{self, Client};

use settled::{Address, Keypair, ReceiptJson, proto};

use crate::cli::*;
use crate::output::{done, emit, item, note};
use crate::{connect, hex_address, read_keys, status_text, unix_ms};

pub(crate) async fn programme(command: ProgrammeCommand, server: &str, token: &str) -> Result<(), String> {
    // Arguments are checked before any server is asked.
    if let ProgrammeCommand::Create { valid_from, valid_until, treasury, .. } = &command {
        unix_ms(valid_from).map_err(|e| format!("--valid-from: {e}"))?;
        unix_ms(valid_until).map_err(|e| format!("--valid-until: {e}"))?;
        hex_address(treasury)?;
    }
    let mut client = connect(server, token).await?;
    match command {
        ProgrammeCommand::Create {
            id,
            name,
            mccs,
            valid_from,
            valid_until,
            treasury,
            transferable,
            per_payment_max,
            monthly,
            refund_window_days,
        } => {
            let info = client.info(false).await.map_err(|s| status_text(&s))?;
            let per_payment_max_minor = match per_payment_max {
                Some(text) => settled::parse_amount(&text, info.currency_exponent).map_err(|e| e.to_string())?,
                None => 0,
            };
            let programme = proto::Programme {
                id,
                name,
                allowed_mccs: mccs,
                valid_from_unix_ms: unix_ms(&valid_from).map_err(|e| format!("--valid-from: {e}"))?,
                valid_until_unix_ms: unix_ms(&valid_until).map_err(|e| format!("--valid-until: {e}"))?,
                transferable,
                treasury_address: hex_address(&treasury)?,
                per_payment_max_minor,
                payment_period: if monthly { proto::PaymentPeriod::Month } else { proto::PaymentPeriod::Unspecified }
                    as i32,
                refund_window_ms: refund_window_days.saturating_mul(86_400_000),
            };
            let response = client
                .admin
                .create_programme(proto::CreateProgrammeRequest { programme: Some(programme) })
                .await
                .map_err(|s| status_text(&s))?;
            let height = response.into_inner().height;
            done(height, &format!("programme {id} created in block {height}"));
        }
        ProgrammeCommand::Stats { id } => {
            let info = client.info(false).await.map_err(|s| status_text(&s))?;
            let stats = programme_stats(&mut client, id).await?;
            let amount = |minor| settled::format_amount(minor, info.currency_exponent);
            let name = stats.programme.as_ref().map(|p| p.name.clone()).unwrap_or_default();
            let mut text = format!("programme {id} ({name}) at block {}", stats.height);
            text.push_str(&format!("\n  disbursed   {}", amount(stats.disbursed_minor)));
            for spent in &stats.spent_by_mcc {
                text.push_str(&format!("\n  spent at MCC {:04}  {}", spent.mcc, amount(spent.amount_minor)));
            }
            text.push_str(&format!("\n  clawed back {}", amount(stats.clawed_back_minor)));
            text.push_str(&format!("\n  refunded    {}", amount(stats.refunded_minor)));
            if stats.refunded_to_treasury_minor > 0 {
                text.push_str(&format!("\n  refunded to the treasury {}", amount(stats.refunded_to_treasury_minor)));
            }
            for paid in &stats.paid_by_period {
                text.push_str(&format!(
                    "\n  period {}  {} beneficiaries paid, {}",
                    paid.period,
                    paid.beneficiaries,
                    amount(paid.amount_minor)
                ));
                if paid.duplicate_claims_refused > 0 {
                    text.push_str(&format!("; {} duplicate claims refused", paid.duplicate_claims_refused));
                }
            }
            text.push_str(&format!("\n  outstanding {}", amount(stats.outstanding_minor)));
            if !stats.top_merchants.is_empty() {
                text.push_str(&format!("\n  merchants paid {}; the most paid:", stats.merchants_paid));
                for merchant in &stats.top_merchants {
                    text.push_str(&format!("\n    {}", merchant_line(merchant, &amount)));
                }
            }
            let value = serde_json::json!({
                "programme": id,
                "name": name,
                "height": stats.height,
                "disbursed": amount(stats.disbursed_minor),
                "spent_by_mcc": stats.spent_by_mcc.iter().map(|s| serde_json::json!({"mcc": s.mcc, "amount": amount(s.amount_minor)})).collect::<Vec<_>>(),
                "spent": amount(stats.spent_minor),
                "clawed_back": amount(stats.clawed_back_minor),
                "refunded": amount(stats.refunded_minor),
                "refunded_to_treasury": amount(stats.refunded_to_treasury_minor),
                "outstanding": amount(stats.outstanding_minor),
                "spent_by_day": stats.spent_by_day.iter().map(|d| serde_json::json!({"day": d.day, "amount": amount(d.amount_minor)})).collect::<Vec<_>>(),
                "paid_by_period": stats.paid_by_period.iter().map(|p| serde_json::json!({"period": p.period, "beneficiaries": p.beneficiaries, "amount": amount(p.amount_minor), "duplicate_claims_refused": p.duplicate_claims_refused})).collect::<Vec<_>>(),
                "merchants_paid": stats.merchants_paid,
                "top_merchants": stats.top_merchants.iter().map(|m| merchant_json(m, &amount)).collect::<Vec<_>>(),
            });
            emit(&value, &text);
        }
        ProgrammeCommand::Merchants { id } => {
            let info = client.info(false).await.map_err(|s| status_text(&s))?;
            let amount = |minor| settled::format_amount(minor, info.currency_exponent);
            let mut page_token = String::new();
            loop {
                let request = proto::ListProgrammeMerchantsRequest { programme_id: id, page_size: 0, page_token };
                let page =
                    client.admin.list_programme_merchants(request).await.map_err(|s| status_text(&s))?.into_inner();
                for merchant in &page.merchants {
                    item(&merchant_json(merchant, &amount), &merchant_line(merchant, &amount));
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        ProgrammeCommand::Alerts { id, after, follow } => {
            let request = proto::WatchAlertsRequest { programme_id: id.unwrap_or(0), after_alert: after, follow };
            let mut stream = client.alerts.watch_alerts(request).await.map_err(|s| status_text(&s))?.into_inner();
            while let Some(response) = stream.message().await.map_err(|s| status_text(&s))? {
                let Some(alert) = response.alert else { continue };
                let mut text = format!(
                    "alert {} {} programme {} merchant {} at sequence {}: {}",
                    alert.number, alert.rule, alert.programme_id, alert.merchant_id, alert.sequence, alert.detail
                );
                for txid in &alert.txids {
                    text.push_str(&format!("\n  payment {}", hex::encode(txid)));
                }
                let value = serde_json::json!({
                    "number": alert.number,
                    "rule": alert.rule,
                    "programme": alert.programme_id,
                    "merchant": alert.merchant_id,
                    "sequence": alert.sequence,
                    "detail": alert.detail,
                    "payments": alert.txids.iter().map(hex::encode).collect::<Vec<_>>(),
                });
                item(&value, &text);
            }
        }
        ProgrammeCommand::Clawback { id, issuer_key_files } => {
            let issuers = read_keys(&issuer_key_files)?;
            let signers: Vec<&Keypair> = issuers.iter().collect();
            // The issuers authorise the programme as the ledger registered
            // it: this chain, this treasury, this end of validity.
            let chain = client.chain_id().await.map_err(|s| status_text(&s))?;
            let stats = programme_stats(&mut client, id).await?;
            let programme = stats.programme.ok_or_else(|| format!("no programme {id}"))?;
            let treasury = Address::from_slice(&programme.treasury_address)
                .ok_or_else(|| format!("programme {id} has no treasury address"))?;
            let terms =
                client::ClawbackTerms { chain, programme: id, treasury, valid_until_ms: programme.valid_until_unix_ms };
            note(&format!(
                "authorising the clawback of programme {id} on chain {chain}: leftovers to treasury {treasury}, valid \
                 until {}",
                settled::iso8601(programme.valid_until_unix_ms)
            ));
            let authorization = client::clawback_authorization(&terms, &signers);
            let mut resume_after = Vec::new();
            loop {
                let request = proto::ClawbackRequest {
                    programme_id: id,
                    authorization: authorization.clone(),
                    resume_after: std::mem::take(&mut resume_after),
                };
                let response = client.admin.clawback(request).await.map_err(|s| status_text(&s))?.into_inner();
                let value = serde_json::json!({
                    "programme": id,
                    "outputs_moved": response.outputs_moved,
                    "amount_minor": response.amount_minor,
                    "batches": response.batches,
                    "clawed_back_total_minor": response.clawed_back_total_minor,
                    "more": response.more,
                });
                item(
                    &value,
                    &format!(
                        "clawed back {} outputs ({} minor units) in {} batches; programme total {}",
                        response.outputs_moved,
                        response.amount_minor,
                        response.batches,
                        response.clawed_back_total_minor
                    ),
                );
                if !response.more {
                    break;
                }
                resume_after = response.resume_after;
            }
        }
    }
    Ok(())
}

/// One merchant's figures in a programme, for `--json`.
fn merchant_json(merchant: &proto::MerchantFigures, amount: &impl Fn(u64) -> String) -> serde_json::Value {
    serde_json::json!({
        "merchant": merchant.merchant_id,
        "mcc": merchant.mcc,
        "payments": merchant.payments,
        "spent": amount(merchant.spent_minor),
        "refunds": merchant.refunds,
        "refunded": amount(merchant.refunded_minor),
        "share_ppm": merchant.share_ppm,
        "last_payment": settled::iso8601(merchant.last_payment_unix_ms),
    })
}

/// One merchant's figures in a programme, on one line.
fn merchant_line(merchant: &proto::MerchantFigures, amount: &impl Fn(u64) -> String) -> String {
    let mut line = format!(
        "{} (MCC {:04}): {} payments, {} ({}.{:02}% of the programme's spending)",
        merchant.merchant_id,
        merchant.mcc,
        merchant.payments,
        amount(merchant.spent_minor),
        merchant.share_ppm / 10_000,
        merchant.share_ppm % 10_000 / 100
    );
    if merchant.refunds > 0 {
        line.push_str(&format!("; {} refunds, {}", merchant.refunds, amount(merchant.refunded_minor)));
    }
    line
}

pub(crate) async fn programme_stats(client: &mut Client, id: u32) -> Result<proto::GetProgrammeStatsResponse, String> {
    let request = proto::GetProgrammeStatsRequest { programme_id: id };
    Ok(client.admin.get_programme_stats(request).await.map_err(|s| status_text(&s))?.into_inner())
}

/// Credential hashes from tokens (hashed here) and from given hashes.
pub(crate) fn credential_hashes(tokens: &[String], hashes: &[String]) -> Result<Vec<Vec<u8>>, String> {
    let mut all: Vec<Vec<u8>> = tokens.iter().map(|t| settled::sha256(t.as_bytes()).to_vec()).collect();
    for text in hashes {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut hash).map_err(|e| format!("credential hash {text}: {e}"))?;
        all.push(hash.to_vec());
    }
    Ok(all)
}

pub(crate) async fn register(command: RegisterCommand, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    let response = match command {
        RegisterCommand::Bank { id, name, tokens, hashes } => {
            let credential_sha256 = credential_hashes(&tokens, &hashes)?;
            let bank = proto::Bank { id, name, credential_sha256 };
            client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await
        }
        RegisterCommand::Terminal { id, merchant, tokens, hashes } => {
            let credential_sha256 = credential_hashes(&tokens, &hashes)?;
            let terminal = proto::Terminal { id, merchant_id: merchant, credential_sha256, deactivated: false };
            client.admin.register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) }).await
        }
        RegisterCommand::Merchant { id, name, mcc, bank, payouts } => {
            let payout_addresses = payouts.iter().map(|p| hex_address(p)).collect::<Result<Vec<_>, _>>()?;
            let merchant = proto::Merchant { id, name, mcc, bank_id: bank, payout_addresses, deactivated: false };
            client.admin.register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) }).await
        }
        RegisterCommand::Wallet { address, bank, tier } => {
            let wallet = proto::Wallet { address: hex_address(&address)?, bank_id: bank, tier, frozen: String::new() };
            client.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await
        }
    };
    let height = response.map_err(|s| status_text(&s))?.into_inner().height;
    done(height, &format!("registered in block {height}"));
    Ok(())
}

pub(crate) async fn credentials(args: CredentialsArgs, token: &str) -> Result<(), String> {
    if !args.none && args.tokens.is_empty() && args.hashes.is_empty() {
        return Err("give the credentials to keep (--credential-token, --credential-sha256), or --none to revoke \
                    them all"
            .to_owned());
    }
    let mut client = connect(&args.server, token).await?;
    let credential_sha256 = credential_hashes(&args.tokens, &args.hashes)?;
    let (participant, name) = match (args.bank, args.terminal) {
        (Some(bank), _) => (proto::set_credentials_request::Participant::BankId(bank.clone()), format!("bank {bank}")),
        (None, Some(terminal)) => {
            (proto::set_credentials_request::Participant::TerminalId(terminal.clone()), format!("terminal {terminal}"))
        }
        (None, None) => return Err("name --bank or --terminal".to_owned()),
    };
    let count = credential_sha256.len();
    let request = proto::SetCredentialsRequest { participant: Some(participant), credential_sha256 };
    let height = client.admin.set_credentials(request).await.map_err(|s| status_text(&s))?.into_inner().height;
    done(height, &format!("{name} now has {count} credential(s), from block {height}"));
    Ok(())
}

pub(crate) async fn wallet(command: WalletCommand, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    let (height, what) = match command {
        WalletCommand::Tier { address, tier } => {
            let request = proto::SetWalletTierRequest { address: hex_address(&address)?, tier };
            let response = client.admin.set_wallet_tier(request).await;
            (response, format!("wallet {address} is at tier {tier}"))
        }
        WalletCommand::Freeze { address, reason } => {
            let request = proto::FreezeWalletRequest { address: hex_address(&address)?, reason };
            (client.admin.freeze_wallet(request).await, format!("wallet {address} is frozen"))
        }
        WalletCommand::Unfreeze { address } => {
            let request = proto::UnfreezeWalletRequest { address: hex_address(&address)? };
            (client.admin.unfreeze_wallet(request).await, format!("wallet {address} is unfrozen"))
        }
        WalletCommand::Frozen => {
            let mut page_token = String::new();
            loop {
                let request = proto::ListRequest { page_size: 0, page_token };
                let page = client.admin.list_frozen_wallets(request).await.map_err(|s| status_text(&s))?.into_inner();
                for wallet in &page.wallets {
                    let address = hex::encode(&wallet.address);
                    let recovered_to = hex::encode(&wallet.recovered_to);
                    let value =
                        serde_json::json!({"address": address, "reason": wallet.reason, "recovered_to": recovered_to});
                    if wallet.recovered_to.is_empty() {
                        item(&value, &format!("{address}  frozen: {}", wallet.reason));
                    } else {
                        item(&value, &format!("{address}  recovered to {recovered_to}"));
                    }
                }
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                page_token = page.next_page_token;
            }
        }
    };
    let height = height.map_err(|s| status_text(&s))?.into_inner().height;
    done(height, &format!("{what}, from block {height}"));
    Ok(())
}

pub(crate) async fn set_active(args: ParticipantArgs, active: bool, token: &str) -> Result<(), String> {
    use proto::set_active_request::Participant;
    let mut client = connect(&args.server, token).await?;
    let (participant, name) = match (args.merchant, args.terminal) {
        (Some(id), _) => (Participant::MerchantId(id.clone()), format!("merchant {id}")),
        (None, Some(id)) => (Participant::TerminalId(id.clone()), format!("terminal {id}")),
        (None, None) => return Err("name --merchant or --terminal".to_owned()),
    };
    let request = proto::SetActiveRequest { participant: Some(participant), active };
    let height = client.admin.set_active(request).await.map_err(|s| status_text(&s))?.into_inner().height;
    let state = if active { "reactivated" } else { "deactivated" };
    done(height, &format!("{name} {state}, from block {height}"));
    Ok(())
}

pub(crate) async fn registry_log(after: Option<u64>, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    let mut page_token = after.map(|a| a.to_string()).unwrap_or_default();
    loop {
        let request = proto::ListRequest { page_size: 0, page_token };
        let page = client.admin.list_registry_changes(request).await.map_err(|s| status_text(&s))?.into_inner();
        for change in &page.changes {
            let value = serde_json::json!({
                "index": change.index,
                "height": change.height,
                "kind": change.kind,
                "change": serde_json::from_str::<serde_json::Value>(&change.change_json).unwrap_or_default(),
                "by_role": change.by_role,
                "by_credential_sha256": hex::encode(&change.by_credential_sha256),
            });
            let text = format!(
                "{} block {} {} by {} (credential {}): {}",
                change.index,
                change.height,
                change.kind,
                change.by_role,
                hex::encode(change.by_credential_sha256.get(..8).unwrap_or_default()),
                change.change_json
            );
            item(&value, &text);
        }
        if page.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = page.next_page_token;
    }
}

pub(crate) async fn disburse(args: DisburseArgs, token: &str) -> Result<(), String> {
    let issuers = read_keys(&args.issuer_key_files)?;
    let mut client = connect(&args.server, token).await?;
    let info = client.info(false).await.map_err(|s| status_text(&s))?;
    client
        .admin
        .get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: args.programme })
        .await
        .map_err(|s| format!("programme {}: {}", args.programme, s.message()))?;
    let file = std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let (rows, bad) =
        settled::disburse::parse_file(std::io::BufReader::new(file), args.programme, info.currency_exponent)?;
    let started = std::time::Instant::now();
    let mut summary = settled::disburse::disburse(client, args.programme, rows, &issuers, std::io::stderr()).await?;
    summary.bad_lines = bad.len() as u64;
    let results = args.results.unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".results.csv");
        name.into()
    });
    let file = std::fs::File::create(&results).map_err(|e| format!("{}: {e}", results.display()))?;
    settled::disburse::write_results(std::io::BufWriter::new(file), &summary, &bad, info.currency_exponent)
        .map_err(|e| format!("{}: {e}", results.display()))?;
    let refused: u64 = summary.refused.values().sum();
    let value = serde_json::json!({
        "rows": summary.rows,
        "paid": summary.paid,
        "paid_amount": settled::format_amount(summary.paid_minor, info.currency_exponent),
        "already_paid": summary.already_paid,
        "refused": refused,
        "refused_by_reason": summary.refused,
        "unconfirmed": summary.unconfirmed,
        "malformed_lines": summary.bad_lines,
        "results_file": results,
    });
    let mut text = settled::disburse::render_summary(&summary, &bad, info.currency_exponent, started.elapsed());
    text.push_str(&format!("every row's outcome: {}", results.display()));
    crate::output::emit(&value, &text);
    if summary.unconfirmed > 0 {
        return Err(format!(
            "{} rows have no confirmed outcome (server unavailable or connection lost); run the same file again: \
             rows already paid are not paid twice",
            summary.unconfirmed
        ));
    }
    if refused > 0 || summary.bad_lines > 0 {
        return Err(format!(
            "{refused} rows refused and {} malformed lines: see {} (fix them and run the file again: rows already \
             paid are not paid twice)",
            summary.bad_lines,
            results.display()
        ));
    }
    Ok(())
}

pub(crate) async fn receipt(command: ReceiptCommand, token: &str) -> Result<(), String> {
    match command {
        ReceiptCommand::Verify { file, engine_key, engine_key_file, chain_id } => {
            let (key, from_file) = match (engine_key, engine_key_file) {
                (Some(hex), _) => (
                    Address::from_hex(hex.trim()).map_err(|e| crate::hex32_error("--engine-key", hex.trim(), &e))?,
                    None,
                ),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    let key = Address::from_hex(text.trim())
                        .map_err(|e| format!("{}: not an engine public key, 64 hex digits ({e})", path.display()))?;
                    (key, Some((path, text)))
                }
                (None, None) => {
                    return Err("give --engine-key or --engine-key-file (`settled info` prints it)".to_owned());
                }
            };
            let pinned = chain_id
                .map(|hex| {
                    settled::ChainId::from_hex(hex.trim()).map_err(|e| crate::hex32_error("--chain-id", hex.trim(), &e))
                })
                .transpose()?;
            let (receipt, chain) = match settled::client::verify_receipt_file(&file, &key, pinned.as_ref()) {
                Ok(verified) => verified,
                Err(e) => {
                    // A secret key file looks like a public one; say so
                    // rather than call a good receipt invalid.
                    if let Some((path, text)) = &from_file
                        && let Ok(secret) = Keypair::from_secret_hex(text)
                        && settled::client::verify_receipt_file(&file, &secret.address(), pinned.as_ref()).is_ok()
                    {
                        return Err(format!(
                            "{} holds the engine's SECRET key: give its public key ({}), which is all a verifier \
                             needs; keep the secret key on the server",
                            path.display(),
                            secret.address()
                        ));
                    }
                    return Err(format!("receipt INVALID: {e}"));
                }
            };
            let value = serde_json::json!({
                "valid": true,
                "txid": receipt.txid.to_string(),
                "sequence": receipt.sequence,
                "height": receipt.block.header.height,
                "engine_public_key": key.to_string(),
                "chain_id": chain.to_string(),
            });
            crate::output::emit(
                &value,
                &format!(
                    "receipt OK: txid {} sequence {} in block {} signed by {key} for chain {chain}",
                    receipt.txid, receipt.sequence, receipt.block.header.height
                ),
            );
            Ok(())
        }
        ReceiptCommand::Get { txid, server } => {
            let txid = settled::TxId::from_hex(&txid).map_err(|e| crate::hex32_error("txid", &txid, &e))?;
            let mut client = connect(&server, token).await?;
            let response = client
                .payments
                .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
                .await
                .map_err(|s| format!("{}: {}", s.code(), s.message()))?
                .into_inner();
            let receipt = response.receipt.ok_or_else(|| format!("payment {txid} is not confirmed"))?;
            let receipt = client::receipt_from_proto(&receipt)?;
            let chain = client.chain_id().await.map_err(|s| status_text(&s))?;
            let json = serde_json::to_string_pretty(&ReceiptJson::of(&receipt, &chain)).map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
    }
}

/// A person reference argument: 64 hex digits.
fn person_arg(text: &str) -> Result<settled::PersonRef, String> {
    settled::PersonRef::from_hex(text)
        .map_err(|e| format!("--person '{text}': {e} (64 hex digits from `settled person-ref`)"))
}

fn beneficiary_proto(person: &str, wallets: &[String], designations: &[String]) -> Result<proto::Beneficiary, String> {
    let mut designated = Vec::new();
    for text in designations {
        let (programme, wallet) =
            text.split_once('=').ok_or_else(|| format!("--designate '{text}': expected PROGRAMME=WALLET"))?;
        let programme_id = programme
            .trim()
            .parse()
            .map_err(|_| format!("--designate '{text}': '{programme}' is not a programme id"))?;
        designated.push(proto::Designation { programme_id, wallet: hex_address(wallet.trim())? });
    }
    Ok(proto::Beneficiary {
        person_ref: person_arg(person)?.0.to_vec(),
        wallets: wallets.iter().map(|w| hex_address(w)).collect::<Result<_, _>>()?,
        designations: designated,
    })
}

fn print_beneficiary(b: &proto::Beneficiary) {
    let mut text = format!("person {}", hex::encode(&b.person_ref));
    for wallet in &b.wallets {
        text.push_str(&format!("\n  wallet {}", hex::encode(wallet)));
    }
    for d in &b.designations {
        text.push_str(&format!("\n  programme {} pays {}", d.programme_id, hex::encode(&d.wallet)));
    }
    let value = serde_json::json!({
        "person": hex::encode(&b.person_ref),
        "wallets": b.wallets.iter().map(hex::encode).collect::<Vec<_>>(),
        "designations": b.designations.iter().map(|d| serde_json::json!({"programme": d.programme_id, "wallet": hex::encode(&d.wallet)})).collect::<Vec<_>>(),
    });
    item(&value, &text);
}

pub(crate) async fn beneficiary(command: BeneficiaryCommand, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    match command {
        BeneficiaryCommand::Register { person, wallets, designations } => {
            let beneficiary = Some(beneficiary_proto(&person, &wallets, &designations)?);
            let request = proto::RegisterBeneficiaryRequest { beneficiary };
            let height =
                client.admin.register_beneficiary(request).await.map_err(|s| status_text(&s))?.into_inner().height;
            done(height, &format!("beneficiary registered in block {height}"));
        }
        BeneficiaryCommand::Update { person, wallets, designations } => {
            let beneficiary = Some(beneficiary_proto(&person, &wallets, &designations)?);
            let request = proto::UpdateBeneficiaryRequest { beneficiary };
            let height =
                client.admin.update_beneficiary(request).await.map_err(|s| status_text(&s))?.into_inner().height;
            done(height, &format!("beneficiary updated in block {height}"));
        }
        BeneficiaryCommand::Show { person } => {
            let request = proto::GetBeneficiaryRequest { person_ref: person_arg(&person)?.0.to_vec() };
            let response = client.admin.get_beneficiary(request).await.map_err(|s| status_text(&s))?.into_inner();
            print_beneficiary(&response.beneficiary.unwrap_or_default());
        }
        BeneficiaryCommand::Recover { person, lost, replacement, issuer_key_files } => {
            let issuers = read_keys(&issuer_key_files)?;
            let signers: Vec<&Keypair> = issuers.iter().collect();
            let chain = client.chain_id().await.map_err(|s| status_text(&s))?;
            let (lost, replacement) = (
                Address::from_hex(&lost).map_err(|e| crate::hex32_error("--lost", &lost, &e))?,
                Address::from_hex(&replacement).map_err(|e| crate::hex32_error("--replacement", &replacement, &e))?,
            );
            let authorization = client::recovery_authorization(&chain, &lost, &replacement, &signers);
            loop {
                let request = proto::RecoverWalletRequest {
                    person_ref: person_arg(&person)?.0.to_vec(),
                    lost_wallet: lost.0.to_vec(),
                    replacement_wallet: replacement.0.to_vec(),
                    authorization: authorization.clone(),
                };
                let response = client.admin.recover_wallet(request).await.map_err(|s| status_text(&s))?.into_inner();
                let value = serde_json::json!({
                    "lost": lost.to_string(),
                    "replacement": replacement.to_string(),
                    "height": response.height,
                    "outputs_moved": response.outputs_moved,
                    "amount_minor": response.amount_minor,
                    "batches": response.batches,
                    "frozen_unrestricted_minor": response.frozen_unrestricted_minor,
                    "more": response.more,
                });
                let text = format!(
                    "wallet {lost} frozen (block {}); moved {} earmarked outputs ({} minor units) to {replacement} in \
                     {} batches; {} minor units of unrestricted money stay frozen in it",
                    response.height,
                    response.outputs_moved,
                    response.amount_minor,
                    response.batches,
                    response.frozen_unrestricted_minor
                );
                item(&value, &text);
                if !response.more {
                    break;
                }
            }
        }
        BeneficiaryCommand::List => {
            let mut page_token = String::new();
            loop {
                let request = proto::ListRequest { page_size: 0, page_token: std::mem::take(&mut page_token) };
                let page = client.admin.list_beneficiaries(request).await.map_err(|s| status_text(&s))?.into_inner();
                for b in &page.beneficiaries {
                    print_beneficiary(b);
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
    }
    Ok(())
}

/// `settled person-ref`: the person reference of each identity number,
/// from --id or one per line of stdin, under the administrator's key.
pub(crate) fn person_ref(key_file: &std::path::Path, id: Option<&str>) -> Result<(), String> {
    let text = std::fs::read_to_string(key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
    let key = hex::decode(text.trim()).map_err(|e| format!("{}: {e} (64 hex digits)", key_file.display()))?;
    if key.len() < 32 {
        return Err(format!(
            "{}: the key is {} bytes; use 32 random bytes (settled keygen --out)",
            key_file.display(),
            key.len()
        ));
    }
    match id {
        Some(id) => {
            let person = client::person_ref(&key, id)?.to_string();
            item(&serde_json::json!({ "person": person }), &person);
        }
        None => {
            for (number, line) in std::io::stdin().lines().enumerate() {
                let line = line.map_err(|e| e.to_string())?;
                if !line.trim().is_empty() {
                    let person = client::person_ref(&key, &line).map_err(|e| format!("line {}: {e}", number + 1))?;
                    let person = person.to_string();
                    item(&serde_json::json!({ "person": person }), &person);
                }
            }
        }
    }
    Ok(())
}
