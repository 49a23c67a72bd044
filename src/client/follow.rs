//! The bank side of `ReconciliationService.Subscribe`: follows one bank's
//! movements, checks every checkpoint (the engine's signature on the block
//! header, the hash chain from the last header seen, and the bank's running
//! totals against its own count of what it received), and keeps its cursor
//! in a file so that a follower killed at any moment resumes with no gap
//! and no duplicate. `settled bank follow` and the demo drive it; a bank
//! integrating Settled can read it as the reference client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::{Client, header_from_proto};
use crate::core::types::{Address, ChainId};
use crate::proto;
use crate::proto::subscribe_response::Item;

/// Where a follower is: what it has seen and what that adds up to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub bank: String,
    /// The last sequence whose movement (if any) was counted.
    pub after_sequence: u64,
    /// The last checkpoint verified, and its header hash (hex).
    pub after_height: Option<u64>,
    pub last_hash: Option<String>,
    pub movements: u64,
    pub credits_minor: u64,
    pub debits_minor: u64,
}

impl Cursor {
    #[must_use]
    pub fn new(bank: &str) -> Self {
        Self { bank: bank.to_owned(), ..Self::default() }
    }

    /// The cursor saved at `path`, or a fresh one when there is no file.
    ///
    /// # Errors
    /// An unreadable file, or one that belongs to another bank.
    pub fn load(path: &Path, bank: &str) -> Result<Self, FollowError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let cursor: Self = serde_json::from_slice(&bytes)
                    .map_err(|e| FollowError::Cursor(format!("{}: {e}", path.display())))?;
                if cursor.bank != bank {
                    return Err(FollowError::Cursor(format!(
                        "{} follows bank {}, not {bank}",
                        path.display(),
                        cursor.bank
                    )));
                }
                Ok(cursor)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new(bank)),
            Err(e) => Err(FollowError::Cursor(format!("{}: {e}", path.display()))),
        }
    }

    /// Replaces the file atomically (write, fsync, rename): a kill leaves
    /// the old cursor or the new one, never half of one.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), FollowError> {
        let write = || -> std::io::Result<()> {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let mut file = std::fs::File::create(&partial)?;
            std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(self).expect("a cursor serialises"))?;
            file.sync_all()?;
            std::fs::rename(&partial, path)?;
            // The rename itself is durable only once the directory is.
            if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(directory)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| FollowError::Cursor(format!("{}: {e}", path.display())))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("stream: {0}")]
    Rpc(#[from] tonic::Status),
    /// The ledger's word and the bank's count disagree: stop and investigate.
    #[error("checkpoint check failed: {0}")]
    Mismatch(String),
    #[error("cursor file: {0}")]
    Cursor(String),
}

/// What the follower reports as it goes.
pub enum Event<'a> {
    Movement(&'a proto::Movement),
    /// A verified checkpoint; `lag_ms` is from the block's time to now.
    Checkpoint {
        height: u64,
        cursor: &'a Cursor,
        lag_ms: u64,
        block_time_unix_ms: u64,
    },
}

pub struct Follower {
    client: Client,
    engine_key: Address,
    /// The ledger's chain id: every header is signed for it, and block 0
    /// hashes to it.
    chain: ChainId,
    /// The genesis block commits to it: block 0 must carry it.
    genesis_hash: Vec<u8>,
    pub cursor: Cursor,
    cursor_file: Option<PathBuf>,
}

fn now_unix_ms() -> u64 {
    crate::core::clock::now_unix_ms()
}

impl Follower {
    /// Follows through another connection from now on (another replica of
    /// a cluster: the cursor means the same on every one). The engine key
    /// pinned at the start still checks every block.
    pub fn set_client(&mut self, client: Client) {
        self.client = client;
    }

    /// A follower of `cursor.bank` through `client` (which carries the
    /// bank's credential), persisting to `cursor_file` if given.
    ///
    /// # Errors
    /// When the ledger's engine key cannot be fetched.
    pub async fn new(mut client: Client, cursor: Cursor, cursor_file: Option<PathBuf>) -> Result<Self, FollowError> {
        let info = client.info(false).await?;
        let engine_key = Address::from_slice(&info.engine_public_key)
            .ok_or_else(|| FollowError::Mismatch("the ledger's engine key is not 32 bytes".to_owned()))?;
        let chain = ChainId::from_slice(&info.chain_id)
            .ok_or_else(|| FollowError::Mismatch("the ledger's chain id is not 32 bytes".to_owned()))?;
        Ok(Self { client, engine_key, chain, genesis_hash: info.genesis_hash, cursor, cursor_file })
    }

    /// Refuses to follow a ledger whose chain id is not `pinned` (given
    /// out of band with the engine key).
    ///
    /// # Errors
    /// `Mismatch` when the server's chain id differs.
    pub fn pin_chain_id(&mut self, pinned: ChainId) -> Result<(), FollowError> {
        if pinned != self.chain {
            return Err(FollowError::Mismatch(format!(
                "the server's chain id {} is not the pinned chain id {pinned}",
                self.chain
            )));
        }
        Ok(())
    }

    /// Refuses to follow a ledger whose engine key is not `pinned` (the key
    /// the bank was given out of band), so that a server cannot vouch for
    /// itself.
    ///
    /// # Errors
    /// `Mismatch` when the server's engine key differs.
    pub fn pin_engine_key(&mut self, pinned: Address) -> Result<(), FollowError> {
        if pinned != self.engine_key {
            return Err(FollowError::Mismatch(format!(
                "the server's engine key {} is not the pinned key {pinned}",
                self.engine_key
            )));
        }
        Ok(())
    }

    /// Follows until the checkpoint of `until_height` (or for ever), calling
    /// `on_event` for each movement and each verified checkpoint. The cursor
    /// is saved at every checkpoint.
    ///
    /// # Errors
    /// The stream failing, a checkpoint that does not check out, or the
    /// cursor file failing.
    pub async fn run(
        &mut self,
        until_height: Option<u64>,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<(), FollowError> {
        if let (Some(until), Some(seen)) = (until_height, self.cursor.after_height)
            && seen >= until
        {
            return Ok(());
        }
        let request = proto::SubscribeRequest {
            bank: self.cursor.bank.clone(),
            after_sequence: self.cursor.after_sequence,
            until_height,
            after_height: self.cursor.after_height,
        };
        let mut stream = self.client.reconciliation.subscribe(request).await?.into_inner();
        while let Some(response) = stream.message().await? {
            match response.item {
                Some(Item::Movement(movement)) => {
                    self.count(&movement)?;
                    on_event(Event::Movement(&movement));
                }
                Some(Item::Checkpoint(checkpoint)) => {
                    let height = self.check(&checkpoint)?;
                    if let Some(path) = &self.cursor_file {
                        self.cursor.save(path)?;
                    }
                    let time_ms = checkpoint.block.as_ref().map_or(0, |b| b.time_unix_ms);
                    let lag_ms = now_unix_ms().saturating_sub(time_ms);
                    on_event(Event::Checkpoint { height, cursor: &self.cursor, lag_ms, block_time_unix_ms: time_ms });
                }
                None => return Err(FollowError::Mismatch("an empty stream item".to_owned())),
            }
        }
        match (until_height, self.cursor.after_height) {
            (Some(until), seen) if seen.is_none_or(|seen| seen < until) => {
                Err(FollowError::Rpc(tonic::Status::unavailable(format!("the stream ended before block {until}"))))
            }
            _ => Ok(()),
        }
    }

    fn count(&mut self, movement: &proto::Movement) -> Result<(), FollowError> {
        if movement.sequence <= self.cursor.after_sequence {
            return Err(FollowError::Mismatch(format!(
                "movement {} is not after sequence {} already seen",
                movement.sequence, self.cursor.after_sequence
            )));
        }
        self.cursor.after_sequence = movement.sequence;
        self.cursor.movements += 1;
        for entry in &movement.entries {
            match proto::Direction::try_from(entry.direction) {
                Ok(proto::Direction::Credit) => self.cursor.credits_minor += entry.amount_minor,
                Ok(proto::Direction::Debit) => self.cursor.debits_minor += entry.amount_minor,
                _ => return Err(FollowError::Mismatch(format!("movement {}: no direction", movement.sequence))),
            }
        }
        Ok(())
    }

    /// The header is the engine's, follows the last one seen, and the
    /// totals it carries are what this follower counted.
    fn check(&mut self, checkpoint: &proto::Checkpoint) -> Result<u64, FollowError> {
        let block = checkpoint.block.as_ref().ok_or_else(|| FollowError::Mismatch("no header".to_owned()))?;
        let signed = header_from_proto(block).map_err(FollowError::Mismatch)?;
        let height = signed.header.height;
        if !signed.verify(&self.engine_key, &self.chain) {
            return Err(FollowError::Mismatch(format!(
                "block {height} is not signed by engine key {} for chain {}",
                self.engine_key, self.chain
            )));
        }
        if height == 0
            && (signed.header.merkle_root.as_slice() != self.genesis_hash.as_slice()
                || signed.header.chain_id() != self.chain)
        {
            return Err(FollowError::Mismatch("block 0 is not this ledger's genesis block".to_owned()));
        }
        if let Some(seen) = self.cursor.after_height {
            if height != seen + 1 {
                return Err(FollowError::Mismatch(format!("block {height} does not follow block {seen}")));
            }
            let previous = hex::encode(signed.header.previous_hash);
            if self.cursor.last_hash.as_deref() != Some(previous.as_str()) {
                return Err(FollowError::Mismatch(format!("block {height} does not chain to block {seen}")));
            }
        }
        let totals = checkpoint.totals.as_ref().ok_or_else(|| FollowError::Mismatch("no totals".to_owned()))?;
        let counted = (self.cursor.movements, self.cursor.credits_minor, self.cursor.debits_minor);
        let stated = (totals.movements, totals.credits_minor, totals.debits_minor);
        if counted != stated {
            return Err(FollowError::Mismatch(format!(
                "at block {height} the ledger states (movements, credits, debits) {stated:?}, this bank counted {counted:?}"
            )));
        }
        self.cursor.after_sequence = self.cursor.after_sequence.max(signed.header.next_sequence() - 1);
        self.cursor.after_height = Some(height);
        self.cursor.last_hash = Some(hex::encode(signed.header.hash()));
        Ok(height)
    }
}

/// How long a follower waits before reconnecting after the stream broke.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Why a follower reconnects.
#[derive(Debug)]
pub enum Break<'a> {
    /// The server ended the stream before `until_height` (it stops; a
    /// restart is coming).
    Ended,
    /// The stream failed in a way a retry can get past (the server is
    /// unreachable, overloaded, shutting down).
    Failed(&'a tonic::Status),
}

/// A refusal of the request itself (a bank the server does not know, a
/// credential it does not accept, a cursor past its tip): asking again
/// cannot succeed.
#[must_use]
pub fn is_refusal(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
    )
}

impl Follower {
    /// Runs to `until_height` (or for ever), reconnecting `reconnect_delay`
    /// after the stream breaks or ends early, through the next of
    /// `replicas` when given (cursors mean the same on every replica). The
    /// follower resumes from its own cursor, so nothing is missed or
    /// counted twice. `on_break` hears of each break (the cursor has not
    /// moved past a break's own position). A checkpoint that does not check
    /// out, a cursor file that cannot be written and a request the server
    /// refuses ([`is_refusal`]) end it.
    ///
    /// # Errors
    /// As [`Follower::run`], but never a break a retry can get past.
    pub async fn run_reconnecting(
        &mut self,
        replicas: Option<&crate::client::Replicas>,
        until_height: Option<u64>,
        reconnect_delay: Duration,
        mut on_event: impl FnMut(Event<'_>),
        mut on_break: impl FnMut(Break<'_>, &Cursor),
    ) -> Result<(), FollowError> {
        loop {
            let result = self.run(until_height, &mut on_event).await;
            let reached =
                matches!((until_height, self.cursor.after_height), (Some(until), Some(seen)) if seen >= until);
            match &result {
                Ok(()) if reached => return Ok(()),
                Ok(()) => on_break(Break::Ended, &self.cursor),
                Err(FollowError::Rpc(status)) if !is_refusal(status) => on_break(Break::Failed(status), &self.cursor),
                Err(_) => return result,
            }
            tokio::time::sleep(reconnect_delay).await;
            if let Some(replicas) = replicas {
                replicas.rotate();
                self.set_client(replicas.current());
            }
        }
    }
}
