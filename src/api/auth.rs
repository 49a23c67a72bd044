//! Who is calling, and what they may reach. A caller authenticates with a
//! bearer token (`authorization: Bearer <token>`); the engine knows only the
//! SHA-256 of each credential: operators and issuers from the configuration,
//! banks and terminals from the registry. Each RPC names the roles it admits;
//! data a bank or terminal asks for must concern its own customers.

use tonic::{Request, Status};

use crate::core::crypto::sha256;
use crate::core::limits::TOKEN_BYTES_MAX;
pub use crate::core::registry::{ConfiguredCredentials, Principal};
use crate::core::registry::{CredentialOwner, Registry, Role};
use crate::core::types::{Address, Hash32};

/// A role an RPC admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Operator,
    Issuer,
    Bank,
    Terminal,
    ProgrammeAdministrator,
    Auditor,
}

impl Principal {
    fn has(&self, need: Need) -> bool {
        matches!(
            (self, need),
            (Self::Development, _)
                | (Self::Operator, Need::Operator)
                | (Self::Issuer, Need::Issuer)
                | (Self::Bank(_), Need::Bank)
                | (Self::Terminal(_), Need::Terminal)
                | (Self::ProgrammeAdministrator, Need::ProgrammeAdministrator)
                | (Self::Auditor, Need::Auditor)
        )
    }
}

/// The caller of `request`, from its bearer token or, without one, its
/// client certificate (mTLS): either way the SHA-256 of the credential is
/// looked up.
///
/// # Errors
/// `UNAUTHENTICATED` when there is no credential or it is unknown.
pub fn authenticate<T>(
    request: &Request<T>,
    configured: &ConfiguredCredentials,
    registry: &Registry,
) -> Result<Principal, Status> {
    let (hash, certificate) = presented_credential(request)?;
    let principal = lookup(&hash, configured, registry).ok_or_else(|| {
        Status::unauthenticated(if certificate {
            "the client certificate is not a registered credential"
        } else {
            "unknown credential"
        })
    })?;
    match &principal {
        Principal::Terminal(id) if !registry.terminal_active(id) => {
            Err(Status::unauthenticated(format!("terminal {id} is deactivated (or its merchant is)")))
        }
        _ => Ok(principal),
    }
}

/// The SHA-256 of the credential `request` presents: its bearer token or,
/// without one, its client certificate (and whether it is the certificate).
///
/// # Errors
/// `UNAUTHENTICATED` when there is none, or the header is malformed.
pub fn presented_credential<T>(request: &Request<T>) -> Result<(Hash32, bool), Status> {
    let Some(value) = request.metadata().get("authorization") else {
        let certificate = request.peer_certs().and_then(|certs| certs.first().map(|c| sha256(c.as_ref())));
        return match certificate {
            Some(hash) => Ok((hash, true)),
            None => Err(Status::unauthenticated(
                "no credential: send 'authorization: Bearer <token>' or a client certificate",
            )),
        };
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Status::unauthenticated("the authorization header is not 'Bearer <token>'"))?;
    if token.is_empty() || token.len() > TOKEN_BYTES_MAX {
        return Err(Status::unauthenticated(format!("a token is 1-{TOKEN_BYTES_MAX} bytes")));
    }
    Ok((sha256(token.as_bytes()), false))
}

/// Whether the registered credential `hash` still authenticates
/// `principal` (a bank, or a terminal still active); a configured
/// principal's credential comes from the configuration and always does.
#[must_use]
pub fn still_authenticates(hash: &Hash32, principal: &Principal, registry: &Registry) -> bool {
    match (principal, registry.credential(hash)) {
        (Principal::Bank(id), Some(CredentialOwner::Bank(owner))) => id == owner,
        (Principal::Terminal(id), Some(CredentialOwner::Terminal(owner))) => {
            id == owner && registry.terminal_active(id)
        }
        (Principal::Bank(_) | Principal::Terminal(_), _) => false,
        _ => true,
    }
}

fn lookup(hash: &Hash32, configured: &ConfiguredCredentials, registry: &Registry) -> Option<Principal> {
    if let Some(principal) = configured.get(hash) {
        return Some(principal.clone());
    }
    match registry.credential(hash)? {
        CredentialOwner::Bank(id) => Some(Principal::Bank(id.clone())),
        CredentialOwner::Terminal(id) => Some(Principal::Terminal(id.clone())),
    }
}

/// The caller, if it holds one of `needs`.
///
/// # Errors
/// `UNAUTHENTICATED` without a known credential, `PERMISSION_DENIED` for a
/// role this RPC does not admit.
pub fn authorize<T>(
    request: &Request<T>,
    configured: &ConfiguredCredentials,
    registry: &Registry,
    needs: &[Need],
) -> Result<Principal, Status> {
    let principal = authenticate(request, configured, registry)?;
    if needs.iter().any(|need| principal.has(*need)) {
        Ok(principal)
    } else {
        Err(Status::permission_denied(format!("{principal:?} may not call this; it needs one of {needs:?}")))
    }
}

/// Whether `principal` may read what concerns `address`: the operator any
/// address; a bank its wallets and its merchants' payout addresses; a
/// terminal its own merchant's payout addresses.
#[must_use]
pub fn may_read(principal: &Principal, address: &Address, registry: &Registry) -> bool {
    match principal {
        Principal::Operator | Principal::Auditor | Principal::Development => true,
        Principal::Issuer | Principal::ProgrammeAdministrator => false,
        Principal::Bank(bank) => match registry.role(address) {
            Some(Role::Wallet { .. }) => registry.wallets.get(address).is_some_and(|w| &w.bank == bank),
            Some(Role::Merchant { id, .. }) => registry.merchants.get(id).is_some_and(|m| &m.bank == bank),
            _ => false,
        },
        Principal::Terminal(terminal) => match registry.role(address) {
            Some(Role::Merchant { id, .. }) => registry.terminals.get(terminal).is_some_and(|t| &t.merchant == id),
            _ => false,
        },
    }
}
