//! What a merchant runs: refunds of payments it took.

use settled::client::{self, Client};
use settled::{Address, Keypair, OutPoint, Output, ProgrammeId, TxId, proto};

use crate::cli::RefundArgs;
use crate::{connect, read_keys, status_text};

/// `settled refund`: pays back part of a payment the merchant took, from
/// its unspent money, to the payment's payer (or, with --to, to a
/// programme's treasury once the programme has ended).
pub(crate) async fn refund(args: RefundArgs, token: &str) -> Result<(), String> {
    let merchant = read_keys(std::slice::from_ref(&args.merchant_key_file))?.remove(0);
    let payment = TxId::from_hex(&args.payment).map_err(|e| crate::hex32_error("--payment", &args.payment, &e))?;
    let mut client = connect(&args.server, token).await?;
    let info = client.info(false).await.map_err(|s| status_text(&s))?;
    let amount_minor =
        settled::parse_amount(&args.amount, info.currency_exponent).map_err(|e| format!("--amount: {e}"))?;
    let original = transaction(&mut client, &payment).await?;
    let paid_here: Vec<&Output> = original.outputs.iter().filter(|o| o.owner == merchant.address()).collect();
    let programme: ProgrammeId = match (args.programme, paid_here.first()) {
        (Some(programme), _) => programme,
        (None, Some(output)) => output.programme,
        (None, None) => {
            return Err(format!("payment {payment} paid nothing to {}: give --programme", merchant.address()));
        }
    };
    let to = match &args.to {
        Some(hex) => Address::from_hex(hex).map_err(|e| crate::hex32_error("--to", hex, &e))?,
        None => payer_of(&mut client, &original).await?,
    };
    let paid_as = if args.to_treasury { 0 } else { programme };
    let inputs = funding(&mut client, &merchant, programme, amount_minor).await?;
    let chain = client.chain_id().await.map_err(|s| status_text(&s))?;
    let tx = client::refund(&chain, &merchant, &inputs, &payment, to, &[(paid_as, amount_minor)]);
    let (receipt, duplicate) = client.submit(&tx).await.map_err(|s| status_text(&s))?;
    let amount = settled::format_amount(amount_minor, info.currency_exponent);
    let value = serde_json::json!({
        "txid": receipt.txid.to_string(),
        "sequence": receipt.sequence,
        "height": receipt.block.header.height,
        "payment": payment.to_string(),
        "to": to.to_string(),
        "programme": programme,
        "amount": amount,
        "duplicate": duplicate,
    });
    crate::output::emit(
        &value,
        &format!(
            "refunded {amount} of programme {programme} of payment {payment} to {to}: txid {} sequence {} in block {}{}",
            receipt.txid,
            receipt.sequence,
            receipt.block.header.height,
            if duplicate { " (already confirmed)" } else { "" }
        ),
    );
    Ok(())
}

async fn transaction(client: &mut Client, txid: &TxId) -> Result<settled::Transaction, String> {
    let response = client
        .payments
        .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
        .await
        .map_err(|s| format!("payment {txid}: {}", status_text(&s)))?
        .into_inner();
    let tx = response.transaction.ok_or_else(|| format!("payment {txid} is not confirmed"))?;
    client::transaction_from_proto(&tx).map_err(|r| format!("payment {txid}: {r}"))
}

/// Who paid: the owner of the payment's first input.
async fn payer_of(client: &mut Client, original: &settled::Transaction) -> Result<Address, String> {
    let input = original.inputs.first().ok_or("the payment spends nothing: give --to")?;
    let creator = transaction(client, &input.txid).await?;
    creator
        .outputs
        .get(input.index as usize)
        .map(|o| o.owner)
        .ok_or_else(|| format!("input {input} names no output: give --to"))
}

/// The merchant's unspent outputs to pay `amount_minor` of `programme`
/// from: that programme's first, then unrestricted money.
async fn funding(
    client: &mut Client,
    merchant: &Keypair,
    programme: ProgrammeId,
    amount_minor: u64,
) -> Result<Vec<(OutPoint, Output)>, String> {
    // The programme's money first, then unrestricted money.
    let rank = |o: &Output| match o.programme {
        p if p == programme => Some(0),
        0 => Some(1),
        _ => None,
    };
    let (inputs, total) = crate::wallet::largest_inputs(client, merchant.address(), amount_minor, rank).await?;
    if total < amount_minor {
        return Err(format!(
            "the merchant holds {total} minor units of programme {programme} and unrestricted money; the refund is {amount_minor}"
        ));
    }
    Ok(inputs)
}
