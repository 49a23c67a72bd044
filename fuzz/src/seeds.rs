//! Valid inputs for each target, to start a corpus from: libFuzzer (and the
//! driver) find their way into a protobuf or a record much faster from a
//! well-formed example than from nothing.

use prost::Message;
use settled::client::{self, transaction_to_proto};
use settled::{Address, Keypair, Output, TX_VERSION, Transaction, TxKind, proto, tx_record_bytes};

use crate::fixture::{self, key};

/// What a clawback authorisation of the fixture ledger's programme names.
fn clawback_terms() -> client::ClawbackTerms {
    let programme = fixture::programme();
    client::ClawbackTerms {
        chain: fixture::chain(),
        programme: programme.id,
        treasury: programme.treasury,
        valid_until_ms: programme.valid_until_ms,
    }
}

/// One transaction of each kind, signed with fixed auxiliary randomness:
/// a mint by the issuer, a payment of the fixture's coin by its owner, a
/// redeem of the merchant's takings with change, and a clawback of the
/// coin.
#[must_use]
pub fn transactions() -> Vec<Transaction> {
    let (alice, bob, issuer) = (key(1), key(2), fixture::issuer());
    let chain = fixture::chain();
    let sign = |mut tx: Transaction, keys: &[&Keypair]| {
        let message = settled::witness_message(&chain, &settled::txid(&tx));
        for k in keys {
            tx.witnesses
                .push(settled::Witness { public_key: k.address(), signature: k.sign_with_aux(&message, &[0; 32]) });
        }
        tx
    };
    let (coin, _) = fixture::coin();
    let out = |owner: Address, amount_minor: u64, programme: u32| Output { owner, amount_minor, programme };
    let base = |kind, inputs, outputs, reference: &[u8]| Transaction {
        version: TX_VERSION,
        kind,
        inputs,
        outputs,
        reference: reference.to_vec(),
        witnesses: Vec::new(),
    };
    let mint = sign(base(TxKind::Mint, vec![], vec![out(alice.address(), 10_000, 0)], b"row-1"), &[issuer]);
    let pay = sign(
        base(
            TxKind::Transfer,
            vec![coin],
            vec![out(bob.address(), 2_500, 0), out(alice.address(), 7_500, 0)],
            b"inv-1",
        ),
        &[&alice],
    );
    let (takings, _) = fixture::takings();
    let change = out(issuer.address(), 1_000, 0);
    let redeem = sign(base(TxKind::Redeem, vec![takings], vec![change], b"payout-1"), &[issuer]);
    // A clawback's reference: the programme (u32 BE), then its valid_until
    // (u64 BE); its one output goes to the programme's treasury.
    let terms = clawback_terms();
    let reference = settled::clawback_reference(terms.programme, terms.valid_until_ms);
    let mut clawback = base(TxKind::Clawback, vec![coin], vec![out(terms.treasury, 10_000, 0)], &reference);
    clawback.witnesses = client::clawback_authorization(&terms, &[issuer])
        .into_iter()
        .map(|w| settled::Witness {
            public_key: Address(w.public_key.try_into().expect("32 bytes")),
            signature: w.signature.try_into().expect("64 bytes"),
        })
        .collect();
    vec![mint, pay, redeem, clawback]
}

/// Seeds for `target`.
#[must_use]
pub fn for_target(target: &str) -> Vec<Vec<u8>> {
    let txs = transactions();
    let protos = || txs.iter().map(transaction_to_proto);
    let key_bytes = key(1).address().0.to_vec();
    match target {
        "decode_tx_record" => txs.iter().map(tx_record_bytes).collect(),
        "verify_proto_transaction" => protos().map(|t| t.encode_to_vec()).collect(),
        "batch_verify" => signature_triples(&txs),
        "submit_payment_request" => {
            protos().map(|t| proto::SubmitPaymentRequest { transaction: Some(t) }.encode_to_vec()).collect()
        }
        "submit_payments_request" => protos()
            .map(|t| proto::SubmitPaymentsRequest { client_id: 7, transaction: Some(t) }.encode_to_vec())
            .collect(),
        "mint_request" => protos().map(|t| proto::MintRequest { transaction: Some(t) }.encode_to_vec()).collect(),
        "get_payment_request" => vec![proto::GetPaymentRequest { txid: vec![3; 32] }.encode_to_vec()],
        "get_balance_request" => vec![proto::GetBalanceRequest { address: key_bytes }.encode_to_vec()],
        // A page size at the limit, and one past it.
        "list_unspent_request" => [1000, 1001]
            .into_iter()
            .map(|page_size| {
                let request =
                    proto::ListUnspentRequest { address: key_bytes.clone(), page_size, page_token: hex_of(&[3u8; 36]) };
                request.encode_to_vec()
            })
            .collect(),
        "get_info_request" => vec![proto::GetInfoRequest { count_unspent: true }.encode_to_vec()],
        // The empty message is its only encoding.
        "audit_request" => vec![proto::AuditRequest {}.encode_to_vec()],
        "get_block_request" => vec![proto::GetBlockRequest { height: 3 }.encode_to_vec()],
        "add_replica_request" => vec![
            proto::AddReplicaRequest {
                id: 4,
                raft_addr: "127.0.0.1:7004".to_owned(),
                api_addr: "[::1]:50054".to_owned(),
            }
            .encode_to_vec(),
        ],
        "remove_replica_request" => vec![proto::RemoveReplicaRequest { id: 2 }.encode_to_vec()],
        "fetch_blocks_request" => vec![proto::FetchBlocksRequest { from_height: 9, max_blocks: 256 }.encode_to_vec()],
        "raft_messages" => raft_messages(),
        "get_programme_stats_request" => vec![proto::GetProgrammeStatsRequest { programme_id: 5 }.encode_to_vec()],
        "register_bank_request" => vec![
            proto::RegisterBankRequest {
                bank: Some(proto::Bank {
                    id: "bank-2".to_owned(),
                    name: "Bank Two".to_owned(),
                    credential_sha256: vec![vec![9; 32]],
                }),
            }
            .encode_to_vec(),
        ],
        "register_merchant_request" => vec![
            proto::RegisterMerchantRequest {
                merchant: Some(proto::Merchant {
                    id: "m-2".to_owned(),
                    name: "Merchant Two".to_owned(),
                    mcc: 5812,
                    bank_id: "bank-1".to_owned(),
                    payout_addresses: vec![key(2).address().0.to_vec()],
                    deactivated: false,
                }),
            }
            .encode_to_vec(),
        ],
        "register_terminal_request" => vec![
            proto::RegisterTerminalRequest {
                terminal: Some(proto::Terminal {
                    id: "t-1".to_owned(),
                    merchant_id: "m-1".to_owned(),
                    credential_sha256: vec![vec![8; 32]],
                    deactivated: false,
                }),
            }
            .encode_to_vec(),
        ],
        "register_wallet_request" => vec![
            proto::RegisterWalletRequest {
                wallet: Some(proto::Wallet {
                    address: key(3).address().0.to_vec(),
                    bank_id: "bank-1".to_owned(),
                    tier: 2,
                    frozen: String::new(),
                }),
            }
            .encode_to_vec(),
        ],
        "create_programme_request" => vec![
            proto::CreateProgrammeRequest {
                programme: Some(proto::Programme {
                    id: 6,
                    name: "Food".to_owned(),
                    allowed_mccs: vec![5411, 5812],
                    valid_from_unix_ms: 1,
                    valid_until_unix_ms: 2,
                    transferable: false,
                    treasury_address: key(6).address().0.to_vec(),
                    per_payment_max_minor: 1000,
                    payment_period: proto::PaymentPeriod::Month as i32,
                    refund_window_ms: 86_400_000,
                }),
            }
            .encode_to_vec(),
        ],
        "register_beneficiary_request" => vec![
            proto::RegisterBeneficiaryRequest {
                beneficiary: Some(proto::Beneficiary {
                    person_ref: vec![0x11; 32],
                    wallets: vec![key(5).address().0.to_vec()],
                    designations: vec![proto::Designation {
                        programme_id: fixture::MONTHLY_PROGRAMME,
                        wallet: key(5).address().0.to_vec(),
                    }],
                }),
            }
            .encode_to_vec(),
        ],
        "clawback_request" => vec![
            proto::ClawbackRequest {
                programme_id: 5,
                authorization: client::clawback_authorization(&clawback_terms(), &[fixture::issuer()]),
                resume_after: vec![3; 36],
            }
            .encode_to_vec(),
        ],
        "list_request" => vec![
            proto::ListRequest { page_size: 10, page_token: hex_of(&key(1).address().0) }.encode_to_vec(),
            proto::ListRequest { page_size: 1001, page_token: "17".to_owned() }.encode_to_vec(),
        ],
        "subscribe_request" => vec![
            proto::SubscribeRequest {
                bank: "bank-1".to_owned(),
                after_sequence: 3,
                until_height: Some(9),
                after_height: Some(u64::MAX),
            }
            .encode_to_vec(),
        ],
        "get_statement_request" => ["1970-01-01", "2024-02-29", "9999-12-31"]
            .into_iter()
            .map(|date| {
                proto::GetStatementRequest { bank: "bank-1".to_owned(), date: date.to_owned(), format: 2 }
                    .encode_to_vec()
            })
            .collect(),
        "get_net_positions_request" => {
            vec![
                proto::GetNetPositionsRequest { after_height: 1, until_height: 5, bank: String::new() }.encode_to_vec(),
            ]
        }
        _ => Vec::new(),
    }
}

/// The witnesses of the mint, the payment and the redeem (which sign the
/// witness message) as `batch_verify` reads them: key, message, signature;
/// all three, each alone, and the three with one signature spoiled.
fn signature_triples(txs: &[Transaction]) -> Vec<Vec<u8>> {
    let chain = fixture::chain();
    let triples: Vec<Vec<u8>> = txs[..3]
        .iter()
        .flat_map(|tx| {
            let message = settled::witness_message(&chain, &settled::txid(tx));
            tx.witnesses.iter().map(move |w| [&w.public_key.0[..], &message[..], &w.signature[..]].concat())
        })
        .collect();
    let mut spoiled = triples.concat();
    spoiled[128 + 64 + 5] ^= 1;
    let mut seeds = vec![triples.concat(), spoiled];
    seeds.extend(triples);
    seeds
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A vote, an append with one entry and a snapshot chunk from member 2,
/// each prefixed with its selector byte (`raft_messages`).
fn raft_messages() -> Vec<Vec<u8>> {
    use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta, Vote};
    use settled::cluster::TypeConfig;
    let log_id = LogId::new(CommittedLeaderId::new(3, 2), 7);
    let framed = |kind: u8, payload: Vec<u8>| [vec![(2 << 2) | kind], 3u64.to_be_bytes().to_vec(), payload].concat();
    let vote = VoteRequest::new(Vote::new(3, 2_u64), Some(log_id));
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(3, 2),
        prev_log_id: Some(log_id),
        entries: vec![Entry { log_id: LogId::new(CommittedLeaderId::new(3, 2), 8), payload: EntryPayload::Blank }],
        leader_commit: Some(log_id),
    };
    let snapshot = InstallSnapshotRequest::<TypeConfig> {
        vote: Vote::new_committed(3, 2),
        meta: SnapshotMeta { last_log_id: Some(log_id), last_membership: Default::default(), snapshot_id: "s".into() },
        offset: 0,
        data: vec![1, 2, 3],
        done: true,
    };
    vec![
        framed(0, postcard::to_allocvec(&vote).expect("encodes")),
        framed(1, postcard::to_allocvec(&append).expect("encodes")),
        framed(2, postcard::to_allocvec(&snapshot).expect("encodes")),
    ]
}
