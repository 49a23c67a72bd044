//! Every bound the engine enforces, in one place. Each is checked where the
//! thing it bounds is built or received, and tested at its edge.

/// Inputs in one transaction.
pub const TX_INPUTS_MAX: usize = 16;
/// Outputs in one transaction.
pub const TX_OUTPUTS_MAX: usize = 16;
/// Witnesses in one transaction (one per distinct input owner, or issuer).
pub const TX_WITNESSES_MAX: usize = 16;
/// Bytes in a transaction's reference.
pub const TX_REFERENCE_BYTES_MAX: usize = 64;
/// Wallets one beneficiary links (a phone wallet, a hard wallet card, a
/// replacement after a loss).
pub const BENEFICIARY_WALLETS_MAX: usize = 4;
/// Programmes one beneficiary has a designated wallet for.
pub const BENEFICIARY_PROGRAMMES_MAX: usize = 32;
/// Bytes of one decoded gRPC message. A transaction at every limit above is
/// about 3 KiB, so this leaves room without letting a client make the server
/// buffer megabytes.
pub const GRPC_MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Payments a single `SubmitPayments` stream may have in flight (submitted,
/// not yet answered). The stream stops reading until one completes.
pub const STREAM_IN_FLIGHT_MAX: usize = 1024;
/// Transactions waiting for the verify stage, across all clients.
pub const VERIFY_QUEUE_MAX: usize = 16 * 1024;
/// Signatures one BIP340 batch verification checks at once
/// (`core/batch.rs`): past a few dozen the shared doublings are paid for
/// and a bigger batch only costs more to redo singly when it fails.
pub const BATCH_SIGNATURES_MAX: usize = 256;
/// Signatures a verify thread takes from its queue at once and checks in
/// one batch: what is queued, never waiting for more. On this machine a
/// signature costs least in batches of about 64 (benches/signatures.rs:
/// at 256 the tables outgrow the cache).
pub const VERIFY_BATCH_SIGNATURES_MAX: usize = 64;
/// How long a source (terminal, bank) that sent a bad signature is
/// verified singly, apart from the batches, after its last bad signature:
/// a failed batch is verified again one by one, and one source must not
/// make every honest payment pay twice.
pub const SUSPECT_SINGLY_MS: u64 = 60_000;
/// Sources remembered as suspect at once; with more, every source is
/// verified singly until some expire.
pub const SUSPECTS_MAX: usize = 4_096;
/// Verified transactions waiting for the sequencer.
pub const SEQUENCER_QUEUE_MAX: usize = 16 * 1024;
/// Transactions in one block. Bounds the work of one redb write transaction
/// and the latency of everything in it.
pub const BLOCK_TXS_MAX: usize = 8 * 1024;
/// Entries of the random-key indexes (unspent outputs by owner, spenders,
/// txids, daily totals: about 7 per retail payment, 18 per mint of 16
/// outputs) gathered in memory and in the index log before they are merged
/// into the tables (`store/unmerged.rs`). With the layer being merged, at
/// most about twice this is held (some 150 bytes each): bounds that memory
/// and what a restart replays.
pub const INDEX_UNMERGED_ENTRIES_MAX: u64 = 128 * 1024;
/// redb's page cache for the ledger file (redb's default is 1 GiB). The
/// reads that matter (recent blocks, a bank's movements, the merge's
/// B-tree paths) are small; the rest comes from the OS page cache.
pub const LEDGER_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Blocks gathered before a merge (at low load blocks are small): bounds
/// the index log rows a restart reads.
pub const INDEX_UNMERGED_BLOCKS_MAX: u64 = 1024;
/// Entries a block's commit writes, at least, of a frozen layer being
/// merged (twice what the block adds when that is more): the merge's share
/// of one commit's latency.
pub const INDEX_MERGE_SLICE_MIN: usize = 256;
/// Default and largest page of `ListUnspent`.
pub const PAGE_SIZE_DEFAULT: usize = 100;
pub const PAGE_SIZE_MAX: usize = 1000;
/// `LedgerService.ExportBlocks` streams served at once (each reads the
/// whole chain).
pub const EXPORT_STREAMS_MAX: usize = 4;
/// Bytes of one `ExportChunk`.
pub const EXPORT_CHUNK_BYTES: usize = 32 * 1024;
/// `AdminService.Backup` calls served at once (each writes a copy of the
/// whole ledger beside it).
pub const BACKUPS_AT_ONCE_MAX: usize = 1;
/// Bytes of one `BackupChunk` (with its framing, within
/// `GRPC_MESSAGE_BYTES_MAX`, which clients also apply).
pub const BACKUP_CHUNK_BYTES: usize = 32 * 1024;
/// Merchants `GetProgrammeStats` names as a programme's top merchants.
pub const PROGRAMME_TOP_MERCHANTS: usize = 10;
/// Days a programme's spending by day keeps (the latest days that had
/// any; an older day is dropped when a new one comes): about a quarter.
/// They add at most about 2.2 KB (JSON, 24 bytes a day) to the statistics
/// row each block that changes the programme writes.
pub const PROGRAMME_DAYS_KEPT: usize = 92;
/// Issuer keys in a genesis, and the exponent of the ledger's currency.
pub const ISSUER_KEYS_MAX: usize = 16;
pub const CURRENCY_EXPONENT_MAX: u32 = 8;
/// Retry hint given with RESOURCE_EXHAUSTED: the least, and the most (the
/// hint is the time the engine needs to clear what it holds).
pub const OVERLOAD_RETRY_AFTER_MS: u32 = 50;
/// Retry hint given with `REASON_TOO_MANY_STREAMS`: a stream of the caller
/// has to end first, which takes longer than a queue to drain.
pub const STREAM_LIMIT_RETRY_AFTER_MS: u32 = 1_000;
pub const OVERLOAD_RETRY_AFTER_MAX_MS: u32 = 2_000;
/// Admission control: the engine holds (verify queue, sequencer queue, open
/// and committing blocks) at most what its writer confirms in this long of
/// commit time at its recent peak, and never fewer than `ADMITTED_FLOOR`
/// payments (also the limit until the first measurement); the excess is
/// refused at once, before it is decoded.
pub const ADMITTED_WAIT_TARGET_MS: u64 = 100;
pub const ADMITTED_FLOOR: u64 = 2_048;
/// How often the writer re-measures its confirmation rate per second of
/// commit time for admission control, and how much of the previous peak
/// each measurement keeps.
pub const ADMISSION_WINDOW_MS: u64 = 500;
pub const ADMISSION_PEAK_DECAY: f64 = 0.95;
/// Bytes of a participant id (bank, merchant, terminal) and of a name.
pub const ID_BYTES_MAX: usize = 64;
pub const NAME_BYTES_MAX: usize = 128;
/// Bytes of the reason a wallet is frozen for (`FreezeWallet`).
pub const FREEZE_REASON_BYTES_MAX: usize = 256;
/// Credentials (token or certificate hashes) of one bank or terminal.
pub const CREDENTIALS_MAX: usize = 8;
/// Bytes of a bearer token.
pub const TOKEN_BYTES_MAX: usize = 256;
/// Payout addresses of one merchant.
pub const PAYOUT_ADDRESSES_MAX: usize = 16;
/// Steps of one `AdminService.Clawback` call (each reads up to
/// `TX_INPUTS_MAX` earmarked outputs and submits them as one transaction)
/// before it answers with `more`.
pub const CLAWBACK_BATCHES_PER_CALL_MAX: usize = 4096;
/// Merchant categories one programme allows.
pub const PROGRAMME_MCCS_MAX: usize = 64;
/// Movements and checkpoints a `Subscribe` stream buffers ahead of a slow
/// bank; past it the stream stops reading the store until the bank catches up.
pub const SUBSCRIBE_BUFFER_ITEMS: usize = 256;
/// Movements one read transaction of a stream or a statement takes before
/// it lets go (so that no read stays open while a bank is slow).
pub const SUBSCRIBE_MOVEMENTS_PER_READ: usize = 1024;
/// Bytes of one `GetStatement` chunk.
pub const STATEMENT_CHUNK_BYTES: usize = 32 * 1024;
/// Entries of one statement (one bank, one day). A day beyond it is refused
/// with FAILED_PRECONDITION.
pub const STATEMENT_ENTRIES_MAX: u64 = 2_000_000;
/// `SubmitPayments` streams one participant (a terminal, a bank, the
/// operator) may hold open at once; more are RESOURCE_EXHAUSTED.
pub const PAYMENT_STREAMS_PER_PARTICIPANT_MAX: usize = 64;
/// `Subscribe` streams open at once for one bank.
pub const BANK_STREAMS_PER_BANK_MAX: usize = 16;
/// `AlertService.WatchAlerts` streams one caller (credential) may hold open.
pub const ALERT_STREAMS_PER_CALLER_MAX: usize = 16;
/// `LedgerService.WatchLedger` streams one caller (credential) may hold
/// open, the least time between two statuses of one, and the window its
/// rates are taken over (at most `LEDGER_RATE_WINDOW_MS /
/// LEDGER_STATUS_INTERVAL_MS + 1` samples kept).
pub const LEDGER_WATCH_STREAMS_PER_CALLER_MAX: usize = 16;
pub const LEDGER_STATUS_INTERVAL_MS: u64 = 500;
pub const LEDGER_RATE_WINDOW_MS: u64 = 60_000;
/// How long a stream may fail to hand a result to a client that stopped
/// reading before the server ends it and frees what it holds.
pub const STREAM_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Blocks the check at open always covers, back from the tip, on top of
/// every block written since the last clean shutdown.
pub const OPEN_CHECK_RECENT_BLOCKS: u64 = 256;
/// Header hashes the store remembers as verified (written by this process
/// or checked once), about 48 bytes each: a header read back with a
/// remembered hash needs no second signature check.
pub const VERIFIED_HEADERS_MAX: usize = 64 * 1024;
/// HTTP/2 streams (calls) open at once on one connection.
pub const CALLS_PER_CONNECTION_MAX: u32 = 256;
/// TCP connections the server holds open at once (default of
/// `connections_max`); a connection past it is closed at once.
pub const CONNECTIONS_MAX: usize = 1024;
/// The Raft port: a request of `PeerService` (a vote, a status or fetch
/// request; each a few dozen bytes) is at most this large, so that no
/// caller makes a node read megabytes to refuse a vote.
pub const RAFT_SMALL_MESSAGE_BYTES_MAX: usize = 16 * 1024;
/// How far ahead of a node's current term a Raft message's term may be:
/// an honest partitioned node gains one term per election timeout (more
/// than a century to get this far); a member pushing terms up gains no
/// more per message, and leaves the next honest term within reach.
pub const RAFT_TERM_STEP_MAX: u64 = 1 << 32;
/// The highest Raft term a message may carry: far enough from `u64::MAX`
/// that openraft's `term + 1` (when it stands for election) never
/// overflows. A stored vote past it was forged.
pub const RAFT_TERM_MAX: u64 = u64::MAX - (1 << 32);
/// The highest Raft log index a message may carry (openraft adds one to
/// an index it is given).
pub const RAFT_LOG_INDEX_MAX: u64 = u64::MAX - (1 << 32);
/// The console port (`src/console/`): connections held open at once; a
/// browser holds about six per tab over HTTP/1.1, one per open stream.
pub const CONSOLE_CONNECTIONS_MAX: usize = 512;
/// The console port: connections held open at once from one address (an
/// office behind one NAT address: a few dozen users, a few each).
pub const CONSOLE_CONNECTIONS_PER_ADDRESS_MAX: usize = 128;
/// The console port: calls open at once on one (HTTP/2) connection.
pub const CONSOLE_CALLS_PER_CONNECTION_MAX: u32 = 32;
/// The Raft port: connections held open at once (a cluster of at most
/// `CLUSTER_MEMBERS_MAX` members uses a few per peer); one past it is
/// closed at once.
pub const RAFT_CONNECTIONS_MAX: usize = 64;
/// The Raft port: connections held open at once from one address (a
/// member opens a few per peer): one address alone cannot fill the port.
pub const RAFT_CONNECTIONS_PER_ADDRESS_MAX: usize = 16;
/// The Raft port: calls open at once on one connection.
pub const RAFT_CALLS_PER_CONNECTION_MAX: u32 = 64;
/// The Raft port: time for an accepted connection to send its first bytes
/// and to finish the TLS handshake; a silent one is closed then.
pub const RAFT_TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The public API's HTTP/2 keepalive for long-lived streams (server and
/// client alike): a ping every interval, the connection dropped if
/// unanswered within the timeout.
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(20);
pub const KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The Raft port: HTTP/2 ping interval, and the wait for its answer before
/// the connection is dropped.
pub const RAFT_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
pub const RAFT_KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The Raft port: a connection older than this is closed gracefully (its
/// calls finish; the peer reconnects on its next call), so that none is
/// held for ever.
pub const RAFT_CONNECTION_AGE_MAX: std::time::Duration = std::time::Duration::from_secs(3600);
/// Cluster (Raft) storage: log entries one `limited_get_log_entries` call
/// returns, so that a replication batch read for a far-behind follower is
/// bounded whatever range openraft asks for.
pub const RAFT_LOG_ENTRIES_PER_READ_MAX: u64 = 1024;
/// Bytes of one Raft snapshot (the state machine's state, encoded). Checked
/// when one is built and when one is received from a peer, before it is
/// decoded: a peer cannot make this node hold more.
pub const RAFT_SNAPSHOT_BYTES_MAX: usize = 1024 * 1024 * 1024;
/// Applied proposals one `RaftStateMachineStore::proposals` call returns.
pub const RAFT_PROPOSALS_PAGE_MAX: usize = 1000;
/// Bytes of one encoded Raft message between nodes (an AppendEntries batch, a
/// vote, one snapshot chunk), set on the Raft service's server and client
/// codecs in both directions. Twice the largest block a proposal may carry
/// (`replica::REPLICATED_BLOCK_BYTES_MAX`), so one entry always fits; a
/// batch that does not is refused before sending as openraft's
/// `PayloadTooLarge`, and openraft sends fewer entries.
pub const RAFT_MESSAGE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Snapshot bytes per `InstallSnapshot` chunk (openraft's
/// `snapshot_max_chunk_size`), well under `RAFT_MESSAGE_BYTES_MAX` with
/// room for the request's envelope.
pub const RAFT_SNAPSHOT_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// How long the Raft log waits, before purging entries, for the state
/// machine to make a snapshot covering them durable (openraft asks for the
/// purge as it hands a received snapshot over; `cluster::DurableSnapshot`).
/// An install that fails ends the wait at once; past it the purge fails and
/// the node stops, as on a storage error. Long enough for the largest
/// snapshot (`RAFT_SNAPSHOT_BYTES_MAX`) to be written on a slow disk.
pub const RAFT_PURGE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a Raft client waits for a TCP connection to a peer before the
/// call fails as `Unreachable` (openraft then backs off and retries).
pub const RAFT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
/// How long a stopping node waits for the Raft calls it is serving to finish
/// before it closes their connections.
pub const RAFT_SERVER_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// Replicas in a cluster's membership (Raft voters).
pub const CLUSTER_MEMBERS_MAX: usize = 7;
/// How long a leader's writer waits for a block to be committed by the
/// cluster before it steps down, answering the block's payments that their
/// outcome is unknown (a partitioned leader must not hold them forever).
pub const REPLICATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a cluster node looks at its Raft state even when openraft
/// reports no change (leadership, blocks to apply).
pub const CLUSTER_POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// How long a cluster client (`client::Replicas`) keeps looking for a
/// replica that confirms a submission: past a leader election
/// (`ELECTION_TIMEOUT_MAX_MS`) and a deposed leader's `REPLICATE_TIMEOUT`.
pub const FAILOVER_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);
/// A cluster client's pause before it tries the next replica, when none
/// named the leader.
pub const FAILOVER_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(50);
/// Bytes of entries in one AppendEntries call past which a batch of more
/// than one entry is sent in halves (openraft's `PayloadTooLarge`): the
/// call's time limit is the heartbeat interval, and it includes the
/// follower's fsync.
pub const RAFT_APPEND_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Committed blocks a follower reads from its Raft state machine at once to
/// hand to its engine.
pub const CLUSTER_FEED_PAGE: usize = 64;
/// Bytes of blocks one `FetchBlocks` reply carries (at least one block,
/// whatever its size, within `RAFT_MESSAGE_BYTES_MAX`).
pub const RAFT_FETCH_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Blocks one `FetchBlocks` call asks for.
pub const RAFT_FETCH_BLOCKS_MAX: u32 = 256;
/// How long a replica waits for a peer's `FetchBlocks` answer.
pub const RAFT_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A node forgets the committed blocks its own ledger has written from its
/// Raft state machine once this many more are written: the ledger holds the
/// chain, the state machine (and so its snapshots) only what is not yet in
/// it.
pub const CLUSTER_PRUNE_EVERY_BLOCKS: u64 = 64;
/// How long `AddReplica` waits for the new replica to catch up with the
/// log as a learner and for the membership change to commit.
pub const MEMBERSHIP_CHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// How long a replica waits before asking its peers again when none could
/// give it the committed blocks it lacks (all behind, or unreachable).
pub const RAFT_FETCH_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(500);
