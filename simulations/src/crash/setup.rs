//! The run's cast, registered once: a bank that authenticates with its own
//! token, merchants (whose keys the harness keeps, to redeem their takings)
//! and wallets at it; and the mints that fund the wallets before a round.

use std::sync::Arc;

use futures::StreamExt;
use settled::client::{self, Client};
use settled::{Keypair, proto};

use super::{
    CHECKS_IN_FLIGHT_MAX, CrashError, FUND_MINOR, Given, MERCHANTS, REFILL_BELOW_MINOR, Supply, WALLET_TIER, Wallet,
    World,
};
use crate::load::Target;

pub use crate::load::describe;

/// Programme ids of a run start above a random base below this, so that runs
/// on a kept data dir do not collide (each round takes
/// `programme::ATTEMPTS_MAX` ids).
const PROGRAMME_BASE_MAX: u32 = 1 << 30;

/// Registers a bank with a fresh token, `MERCHANTS` merchants and `wallets_n`
/// wallets (tier `WALLET_TIER`) at it. The wallets are funded by the first
/// `refill`. The world's supply is the ledger's before the registrations
/// (nothing but the harness mints or burns from then on).
///
/// # Errors
/// `GetInfo` fails, the issuer keys cannot make a mint, or a refused registration.
pub async fn create(admin: &mut Client, target: &Target, wallets_n: usize) -> Result<(World, Vec<Wallet>), CrashError> {
    let info = admin.info(false).await.map_err(|s| CrashError::Server(format!("GetInfo: {}", describe(&s))))?;
    let engine_key = settled::Address::from_slice(&info.engine_public_key)
        .ok_or_else(|| CrashError::Server("the engine key is not 32 bytes".into()))?;
    let chain = settled::ChainId::from_slice(&info.chain_id)
        .ok_or_else(|| CrashError::Server("the chain id is not 32 bytes".into()))?;
    let signers = crate::load::mint_signers(&info, &target.issuers).map_err(CrashError::Setup)?;
    let tip = info.tip.as_ref().ok_or_else(|| CrashError::Server("GetInfo without a tip".into()))?;
    let supply = Supply { minted_minor: tip.minted_total_minor, burned_minor: tip.burned_total_minor };
    let tag = crate::hex(&rand::random::<[u8; 5]>());
    let bank_id = format!("crash-{tag}");
    let bank_token = crate::hex(&rand::random::<[u8; 32]>());
    let bank = proto::Bank {
        id: bank_id.clone(),
        name: "Crash harness bank".into(),
        credential_sha256: vec![settled::sha256(bank_token.as_bytes()).to_vec()],
    };
    admin
        .admin
        .register_bank(proto::RegisterBankRequest { bank: Some(bank) })
        .await
        .map_err(|s| CrashError::Setup(format!("register bank {bank_id}: {}", describe(&s))))?;

    let merchant_keys =
        crate::load::register_shops(admin, &bank_id, MERCHANTS, &format!("{bank_id}-shop"), "Crash shop")
            .await
            .map_err(|(i, s)| CrashError::Setup(format!("register merchant {i}: {}", describe(&s))))?;
    let merchants = merchant_keys.iter().map(Keypair::address).collect();

    let wallets: Vec<Wallet> = (0..wallets_n)
        .map(|id| Wallet { id, key: Keypair::generate(), coin: None, pending: None, retired: false })
        .collect();
    // Concurrent, so that the registrations share blocks.
    let registrations = wallets.iter().map(|wallet| {
        let mut admin = admin.clone();
        let request = proto::RegisterWalletRequest {
            wallet: Some(proto::Wallet {
                address: wallet.address().0.to_vec(),
                bank_id: bank_id.clone(),
                tier: WALLET_TIER,
                frozen: String::new(),
            }),
        };
        async move { admin.admin.register_wallet(request).await }
    });
    let mut registered = futures::stream::iter(registrations).buffer_unordered(CHECKS_IN_FLIGHT_MAX);
    while let Some(result) = registered.next().await {
        result.map_err(|s| CrashError::Setup(format!("register wallet: {}", describe(&s))))?;
    }
    drop(registered);

    let world = World {
        tag,
        bank_id,
        bank_token,
        merchants: Arc::new(merchants),
        merchant_keys: Arc::new(merchant_keys),
        // Clear of the programmes of earlier runs on a kept data dir.
        programme_base: rand::random::<u32>() % PROGRAMME_BASE_MAX + 1,
        engine_key,
        chain,
        signers,
        supply,
    };
    Ok((world, wallets))
}

/// Mints `FUND_MINOR` to every active wallet whose coin is missing or below
/// `REFILL_BELOW_MINOR`, which then pays from the new coin; the mints'
/// receipts, to be checked after the next restart like any other, and what
/// they issued.
///
/// # Errors
/// A refused mint.
pub async fn refill(
    admin: &mut Client,
    world: &World,
    wallets: &mut [Wallet],
    round: u64,
) -> Result<(Vec<Given>, u64), CrashError> {
    let needy: Vec<usize> = wallets
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            !w.retired && w.pending.is_none() && w.coin.is_none_or(|(_, o)| o.amount_minor < REFILL_BELOW_MINOR)
        })
        .map(|(i, _)| i)
        .collect();
    let signers: Vec<&Keypair> = world.signers.iter().collect();
    let mut given = Vec::new();
    let mut minted_minor = 0u64;
    for (chunk, indices) in needy.chunks(settled::limits::TX_OUTPUTS_MAX).enumerate() {
        let outputs = indices.iter().map(|&i| client::output(wallets[i].address(), FUND_MINOR, 0)).collect();
        let reference = format!("crash-{}-r{round}-m{chunk}", world.tag);
        let mint = client::mint(&world.chain, outputs, reference.as_bytes(), &signers);
        let (receipt, _) =
            admin.mint(&mint).await.map_err(|s| CrashError::Setup(format!("funding mint: {}", describe(&s))))?;
        given.push(Given::from_receipt(&receipt));
        minted_minor += FUND_MINOR * indices.len() as u64;
        for (position, &i) in indices.iter().enumerate() {
            let index = u32::try_from(position).expect("a mint has at most TX_OUTPUTS_MAX outputs");
            wallets[i].coin = Some(client::output_of(&mint, index));
        }
    }
    Ok((given, minted_minor))
}
