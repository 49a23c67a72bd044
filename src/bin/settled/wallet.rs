//! What a wallet holder and a newcomer run: what the ledger is (`info`, the
//! facts a client pins), a balance, and a payment from a wallet key file.

use serde_json::json;
use settled::client::{self, Client};
use settled::limits::TX_INPUTS_MAX;
use settled::{Address, OutPoint, Output, proto};

use crate::cli::PayArgs;
use crate::output::emit;
use crate::{connect, read_key, status_text};

/// `settled info`: what a client pins (engine key, chain id, genesis hash)
/// and the ledger's currency, issuers and tip.
pub(crate) async fn info(server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    let info = client.info(false).await.map_err(|s| status_text(&s))?;
    let tip = info.tip.as_ref().map_or(0, |t| t.height);
    let issuers: Vec<String> = info.issuer_public_keys.iter().map(hex::encode).collect();
    let value = json!({
        "server": server,
        "engine_public_key": hex::encode(&info.engine_public_key),
        "chain_id": hex::encode(&info.chain_id),
        "genesis_hash": hex::encode(&info.genesis_hash),
        "protocol_version": info.protocol_version,
        "currency": info.currency,
        "currency_exponent": info.currency_exponent,
        "issuer_public_keys": issuers,
        "issuer_threshold": info.issuer_threshold,
        "day_offset_minutes": info.day_offset_minutes,
        "tip_height": tip,
        "supply": settled::format_amount(info.unspent_total_minor, info.currency_exponent),
    });
    let text = format!(
        "engine public key  {}\nchain id           {}\ngenesis hash       {}\nprotocol version   {}\ncurrency           \
         {} ({} decimals)\nissuers            {} of {}: {}\nledger day         UTC{:+03}:{:02}\ntip height         \
         {tip}\nsupply             {}\n\nPin the engine public key and the chain id: `settled receipt verify \
         --engine-key <key> --chain-id <id>`, `settled audit --engine-key <key> --chain-id <id>`.",
        hex::encode(&info.engine_public_key),
        hex::encode(&info.chain_id),
        hex::encode(&info.genesis_hash),
        info.protocol_version,
        info.currency,
        info.currency_exponent,
        info.issuer_threshold,
        issuers.len(),
        issuers.join(", "),
        info.day_offset_minutes / 60,
        info.day_offset_minutes.abs() % 60,
        settled::format_amount(info.unspent_total_minor, info.currency_exponent),
    );
    emit(&value, &text);
    Ok(())
}

/// `settled balance`: an address's money, per programme.
pub(crate) async fn balance(address: &str, server: &str, token: &str) -> Result<(), String> {
    let owner = Address::from_hex(address).map_err(|e| crate::hex32_error("--address", address, &e))?;
    let mut client = connect(server, token).await?;
    let exponent = client.info(false).await.map_err(|s| status_text(&s))?.currency_exponent;
    let request = proto::GetBalanceRequest { address: owner.0.to_vec() };
    let balance = client.wallets.get_balance(request).await.map_err(|s| status_text(&s))?.into_inner();
    let amount = |minor| settled::format_amount(minor, exponent);
    let by_programme: Vec<serde_json::Value> = balance
        .balances
        .iter()
        .map(|b| json!({"programme": b.programme_id, "amount": amount(b.amount_minor), "amount_minor": b.amount_minor}))
        .collect();
    let value = json!({
        "address": owner.to_string(),
        "total": amount(balance.total_minor),
        "total_minor": balance.total_minor,
        "balances": by_programme,
        "unspent_outputs": balance.unspent_count,
        "height": balance.height,
    });
    let mut text = format!("{owner} holds {} at block {}", amount(balance.total_minor), balance.height);
    for b in &balance.balances {
        let what =
            if b.programme_id == 0 { "unrestricted".to_owned() } else { format!("programme {}", b.programme_id) };
        text.push_str(&format!("\n  {what:<14} {}", amount(b.amount_minor)));
    }
    emit(&value, &text);
    Ok(())
}

/// The outputs of `owner` that `rank` takes (`None`: not at all), the
/// lowest rank first and the largest first within a rank, until they hold
/// `amount_minor` or there are `TX_INPUTS_MAX` of them; and what they hold
/// (less than `amount_minor` when the owner holds too little).
pub(crate) async fn largest_inputs(
    client: &mut Client,
    owner: Address,
    amount_minor: u64,
    rank: impl Fn(&Output) -> Option<u8>,
) -> Result<(Vec<(OutPoint, Output)>, u64), String> {
    let mut held = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = proto::ListUnspentRequest { address: owner.0.to_vec(), page_size: 0, page_token };
        let page = client.wallets.list_unspent(request).await.map_err(|s| status_text(&s))?.into_inner();
        for unspent in &page.outputs {
            let (outpoint, output) = client::unspent_from_proto(unspent)?;
            if let Some(rank) = rank(&output) {
                held.push((rank, outpoint, output));
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    held.sort_by_key(|(rank, _, output)| (*rank, std::cmp::Reverse(output.amount_minor)));
    let mut chosen = Vec::new();
    let mut total: u64 = 0;
    for (_, outpoint, output) in held {
        if total >= amount_minor || chosen.len() == TX_INPUTS_MAX {
            break;
        }
        total = total.saturating_add(output.amount_minor);
        chosen.push((outpoint, output));
    }
    Ok((chosen, total))
}

/// The wallet's unspent outputs of `programme`, largest first, enough to
/// pay `amount_minor` in at most `TX_INPUTS_MAX` inputs.
async fn inputs_for(
    client: &mut Client,
    owner: Address,
    programme: u32,
    amount_minor: u64,
) -> Result<Vec<(OutPoint, Output)>, String> {
    let (chosen, total) =
        largest_inputs(client, owner, amount_minor, |o| (o.programme == programme).then_some(0)).await?;
    if total < amount_minor {
        let what = if programme == 0 { "unrestricted money".to_owned() } else { format!("programme {programme}") };
        return Err(format!(
            "{owner} holds {total} minor units of {what} in its {} largest outputs, less than {amount_minor}",
            chosen.len()
        ));
    }
    Ok(chosen)
}

/// `settled pay`: a payment from a wallet key file, its change back to the
/// wallet, confirmed with a receipt.
pub(crate) async fn pay(args: PayArgs, token: &str) -> Result<(), String> {
    let payer = read_key(&args.key_file)?;
    let payee = Address::from_hex(&args.to).map_err(|e| crate::hex32_error("--to", &args.to, &e))?;
    let mut client = connect(&args.server, token).await?;
    let info = client.info(false).await.map_err(|s| status_text(&s))?;
    let amount_minor =
        settled::parse_amount(&args.amount, info.currency_exponent).map_err(|e| format!("--amount: {e}"))?;
    if amount_minor == 0 {
        return Err("--amount: a payment moves more than 0".to_owned());
    }
    let chain = settled::ChainId::from_slice(&info.chain_id).ok_or("the server sent no chain id")?;
    let inputs = inputs_for(&mut client, payer.address(), args.programme, amount_minor).await?;
    let reference = match args.reference {
        Some(text) => text.into_bytes(),
        None => {
            let now = settled::Clock::default().now_unix_ms();
            format!("pay-{now}-{}", hex::encode(&payee.0[..4])).into_bytes()
        }
    };
    let tx = client::pay_from(&chain, &payer, &inputs, payee, amount_minor, &reference);
    let txid = settled::txid(&tx);
    let (receipt, duplicate) = client.submit(&tx).await.map_err(|s| {
        format!(
            "{}\n(txid {txid}: if the outcome is unknown, `settled receipt get {txid}` says whether it was \
             confirmed)",
            status_text(&s)
        )
    })?;
    let amount = settled::format_amount(amount_minor, info.currency_exponent);
    let value = json!({
        "txid": receipt.txid.to_string(),
        "sequence": receipt.sequence,
        "height": receipt.block.header.height,
        "amount": amount,
        "amount_minor": amount_minor,
        "programme": args.programme,
        "from": payer.address().to_string(),
        "to": payee.to_string(),
        "duplicate": duplicate,
        "receipt": settled::ReceiptJson::of(&receipt, &chain),
    });
    let text = format!(
        "paid {amount} to {payee}: txid {} sequence {} in block {}{}",
        receipt.txid,
        receipt.sequence,
        receipt.block.header.height,
        if duplicate { " (already confirmed: this is its receipt)" } else { "" }
    );
    emit(&value, &text);
    Ok(())
}
