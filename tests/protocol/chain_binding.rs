//! Signatures are bound to one ledger: two real ledgers sharing every key
//! (the same issuers, the same engine key), one in CNY and one in HKD, as
//! an outside tester set them up. A mint taken from ledger A through
//! `GetPayment` is refused by ledger B; so is a payment; the issuers'
//! clawback authorisation of A's programme is refused by B, which has a
//! programme of the same id, treasury and end; a receipt of A does not
//! verify for B's chain. Each is accepted by A.

use settled::client::{self, ClawbackTerms, Client};
use settled::config::{CredentialConfig, GenesisConfig};
use settled::{Clock, Config, Keypair, Rigs, Server, proto};
use tonic::Code;

const TOKEN: &str = "chain-binding-every-role";
const HOUR_MS: u64 = 3_600_000;

struct Ledger {
    _dir: tempfile::TempDir,
    /// The engine's clock, moved past a programme's end without waiting.
    clock: Clock,
    server: Server,
    client: Client,
}

async fn ledger(currency: &str, issuers: &[Keypair], engine_key: &std::path::Path) -> Ledger {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path().to_owned());
    config.development = false;
    config.engine_key_file = Some(engine_key.to_owned());
    config.genesis = GenesisConfig {
        currency: currency.to_owned(),
        exponent: 2,
        issuer_keys: issuers.iter().map(|k| k.address().to_string()).collect(),
        issuer_threshold: 2,
    };
    config.credentials = ["operator", "issuer"]
        .into_iter()
        .map(|role| CredentialConfig {
            role: role.to_owned(),
            token_sha256: Some(hex::encode(settled::sha256(format!("{TOKEN}-{role}").as_bytes()))),
            cert_sha256: None,
        })
        .collect();
    let clock = Clock::default();
    let server = Server::start_with(config, Rigs { clock: clock.clone(), ..Rigs::default() }).await.expect("starts");
    let client = Client::lazy_with_token(&server.url(), &format!("{TOKEN}-issuer")).expect("client");
    Ledger { _dir: dir, clock, server, client }
}

fn programme(id: u32, treasury: &Keypair, valid_until_unix_ms: u64) -> proto::CreateProgrammeRequest {
    proto::CreateProgrammeRequest {
        programme: Some(proto::Programme {
            id,
            name: "food".to_owned(),
            allowed_mccs: vec![5411],
            valid_from_unix_ms: 0,
            valid_until_unix_ms,
            transferable: false,
            treasury_address: treasury.address().0.to_vec(),
            per_payment_max_minor: 0,
            payment_period: 0,
            refund_window_ms: 0,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_signed_for_one_ledger_is_accepted_by_another_that_shares_its_keys() {
    let keys = tempfile::tempdir().expect("temp dir");
    let engine_key = keys.path().join("engine.key");
    settled::write_secret_key(&engine_key, &Keypair::generate()).expect("engine key");
    let issuers: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
    let signers = [&issuers[0], &issuers[1]];
    let mut a = ledger("CNY", &issuers, &engine_key).await;
    let mut b = ledger("HKD", &issuers, &engine_key).await;
    let (chain_a, chain_b) = (a.server.engine().chain_id(), b.server.engine().chain_id());
    assert_ne!(chain_a, chain_b, "two ledgers, two chains");
    assert_eq!(a.server.engine().engine_key(), b.server.engine().engine_key(), "the same engine key");

    // A mint of A, as anyone reads it back from A.
    let alice = Keypair::generate();
    let mint = client::mint(&chain_a, vec![client::output(alice.address(), 10_000, 0)], b"row-1", &signers);
    let (receipt_a, _) = a.client.mint(&mint).await.expect("A mints");
    let read = a
        .client
        .payments
        .get_payment(proto::GetPaymentRequest { txid: receipt_a.txid.0.to_vec() })
        .await
        .expect("readable")
        .into_inner()
        .transaction
        .expect("the transaction");
    let replayed = b.client.admin.mint(proto::MintRequest { transaction: Some(read) }).await.expect_err("refused");
    assert_eq!(replayed.code(), Code::InvalidArgument, "{replayed:?}");
    assert_eq!(client::status_reason(&replayed), Some(proto::Reason::BadSignature), "{replayed:?}");
    assert!(replayed.message().contains(&chain_b.to_string()), "the refusal names B's chain: {replayed:?}");

    // A payment of A's money signed for A, sent to B by a bank of both:
    // refused too.
    let operator = |ledger: &Ledger| Client::lazy_with_token(&ledger.server.url(), &format!("{TOKEN}-operator"));
    let bank = |ledger: &Ledger| Client::lazy_with_token(&ledger.server.url(), "bank-token-on-both");
    for ledger in [&a, &b] {
        let bank = proto::Bank {
            id: "bank-1".to_owned(),
            name: "Bank one".to_owned(),
            credential_sha256: vec![settled::sha256(b"bank-token-on-both").to_vec()],
        };
        let mut operator = operator(ledger).expect("client");
        operator.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("registered");
    }
    let payment = client::pay(&chain_a, &alice, client::output_of(&mint, 0), Keypair::generate().address(), 5, b"p");
    let status = bank(&b).expect("client").submit(&payment).await.expect_err("refused");
    assert_eq!(client::status_reason(&status), Some(proto::Reason::BadSignature), "{status:?}");
    bank(&a).expect("client").submit(&payment).await.expect("A takes it");

    // A receipt of A does not verify for B's chain, though the engine key
    // is the same.
    let engine = a.server.engine().engine_key();
    receipt_a.verify(&engine, &chain_a).expect("A's receipt on A");
    assert_eq!(
        receipt_a.verify(&engine, &chain_b),
        Err(settled::ReceiptError::BadEngineSignature(engine, chain_b)),
        "A's receipt verified for B"
    );

    // One programme on each, the same id, treasury and end.
    let treasury = Keypair::generate();
    let until = a.clock.now_unix_ms().max(b.clock.now_unix_ms()) + HOUR_MS;
    for ledger in [&a, &b] {
        let mut operator = operator(ledger).expect("client");
        operator.admin.create_programme(programme(7, &treasury, until)).await.expect("created");
    }
    let earmarked = client::mint(&chain_a, vec![client::output(alice.address(), 300, 7)], b"grant-1", &signers);
    a.client.mint(&earmarked).await.expect("granted");
    for ledger in [&a, &b] {
        ledger.clock.skew_by_ms(i64::try_from(2 * HOUR_MS).expect("fits"));
    }
    let terms = ClawbackTerms { chain: chain_a, programme: 7, treasury: treasury.address(), valid_until_ms: until };
    let authorization = client::clawback_authorization(&terms, &signers);
    let request = proto::ClawbackRequest { programme_id: 7, authorization, resume_after: Vec::new() };
    let status = b.client.admin.clawback(request.clone()).await.expect_err("A's authorisation on B");
    assert_eq!(client::status_reason(&status), Some(proto::Reason::BadSignature), "{status:?}");
    let clawed = a.client.admin.clawback(request).await.expect("A's authorisation on A").into_inner();
    assert_eq!(clawed.amount_minor, 300);

    a.server.shutdown().await;
    b.server.shutdown().await;
}
