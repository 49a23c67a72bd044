//! Participants and programmes: who an address belongs to, what a programme's
//! earmarked money may be spent on, and the wallet tiers. Pure data and the
//! checks on changing it; the ledger applies the spending rules with it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::core::limits::{
    BENEFICIARY_PROGRAMMES_MAX, BENEFICIARY_WALLETS_MAX, CREDENTIALS_MAX, ID_BYTES_MAX, NAME_BYTES_MAX,
    PAYOUT_ADDRESSES_MAX, PROGRAMME_MCCS_MAX,
};
pub use crate::core::period::PaymentPeriod;
use crate::core::refusal::{Reason, Refusal};
use crate::core::types::{Address, AmountMinor, Hash32, PersonRef, ProgrammeId};

/// An ISO 18245 merchant category code, 0000-9999.
pub type Mcc = u16;
pub const MCC_MAX: Mcc = 9999;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bank {
    pub id: String,
    pub name: String,
    /// SHA-256 of each credential the bank authenticates with (a bearer
    /// token or a client certificate's DER bytes).
    #[serde(default)]
    pub credentials: Vec<Hash32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub mcc: Mcc,
    pub bank: String,
    /// Addresses the merchant is paid at; each belongs to this merchant only.
    pub payout_addresses: Vec<Address>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    pub id: String,
    pub merchant: String,
    /// SHA-256 of each credential the terminal authenticates with.
    #[serde(default)]
    pub credentials: Vec<Hash32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    pub address: Address,
    pub bank: String,
    pub tier: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Programme {
    pub id: ProgrammeId,
    pub name: String,
    /// Merchant categories where the earmarked money may be spent.
    pub allowed_mccs: Vec<Mcc>,
    pub valid_from_ms: u64,
    pub valid_until_ms: u64,
    /// Whether beneficiaries may pay each other with it.
    pub transferable: bool,
    /// Where clawed-back leftovers go.
    pub treasury: Address,
    /// Largest amount of this programme one payment may move, if any.
    pub per_payment_max_minor: Option<AmountMinor>,
    /// Set: the programme pays registered beneficiaries, each at most once
    /// a period, and only by claim (`encoding::claim_reference`). Unset:
    /// it pays addresses, each disbursement row once by its reference.
    #[serde(default)]
    pub payment_period: Option<PaymentPeriod>,
    /// How long after a payment a merchant may refund the programme's money
    /// to the payer (`None`: never).
    #[serde(default)]
    pub refund_window_ms: Option<u64>,
}

/// A person a programme pays, known by a pseudonymous reference, with the
/// wallets they hold and, per programme paid per person, the one wallet
/// that programme pays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beneficiary {
    pub person: PersonRef,
    /// Registered wallets, 1 to `BENEFICIARY_WALLETS_MAX`; a wallet belongs
    /// to one person at most.
    pub wallets: Vec<Address>,
    /// Programme -> the linked wallet its claims pay.
    pub designated: BTreeMap<ProgrammeId, Address>,
}

/// A wallet tier's limits, in minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub id: u8,
    pub balance_cap_minor: AmountMinor,
    pub per_payment_minor: AmountMinor,
    pub per_day_minor: AmountMinor,
}

/// The tier table and how days are counted. Fixed at genesis in a real
/// deployment; here from the configuration, the same on every start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierPolicy {
    pub tiers: Vec<Tier>,
    /// The tier of an address nobody registered (an anonymous wallet), or
    /// `None` for no limits on unregistered addresses.
    pub unregistered_tier: Option<u8>,
    /// Offset of the time zone whose calendar days bound daily limits
    /// (e.g. +480 for China Standard Time).
    pub day_offset_minutes: i32,
}

impl TierPolicy {
    /// The e-CNY-like default for a currency with `exponent` decimals:
    /// tier 1 (anonymous) 10,000 / 2,000 / 5,000; tier 2 50,000 / 10,000 /
    /// 20,000; tier 3 (full KYC) 500,000 / 50,000 / 100,000 (balance cap /
    /// per payment / per day, in currency units), days in UTC+8.
    #[must_use]
    pub fn e_cny_default(exponent: u32) -> Self {
        let unit = 10u64.pow(exponent);
        let tier = |id, cap: u64, payment: u64, day: u64| Tier {
            id,
            balance_cap_minor: cap * unit,
            per_payment_minor: payment * unit,
            per_day_minor: day * unit,
        };
        Self {
            tiers: vec![
                tier(1, 10_000, 2_000, 5_000),
                tier(2, 50_000, 10_000, 20_000),
                tier(3, 500_000, 50_000, 100_000),
            ],
            unregistered_tier: Some(1),
            day_offset_minutes: 8 * 60,
        }
    }

    #[must_use]
    pub fn tier(&self, id: u8) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.id == id)
    }

    /// The day number (since the epoch, in the policy's time zone) of a time.
    #[must_use]
    pub fn day_of(&self, time_unix_ms: u64) -> u64 {
        let offset_ms = i128::from(self.day_offset_minutes) * 60_000;
        let local = i128::from(time_unix_ms) + offset_ms;
        u64::try_from(local.max(0) / 86_400_000).unwrap_or(0)
    }
}

/// Where a programme's money went, kept as payments happen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeStats {
    /// Minted into the programme.
    pub disbursed_minor: AmountMinor,
    /// Paid to merchants, by merchant category.
    pub spent_by_mcc: BTreeMap<Mcc, AmountMinor>,
    /// Moved back to the treasury after the programme ended.
    pub clawed_back_minor: AmountMinor,
    /// Programmes paid per person: per period, the beneficiaries paid (one
    /// claim each) and how much.
    #[serde(default)]
    pub paid_by_period: BTreeMap<u32, PeriodPaid>,
    /// Refunded by merchants to beneficiaries, as the programme's money.
    #[serde(default)]
    pub refunded_minor: AmountMinor,
    /// Refunded after the programme ended, to its treasury.
    #[serde(default)]
    pub refunded_to_treasury_minor: AmountMinor,
}

/// What one merchant took of one programme, kept as payments happen: the
/// per-merchant figures of the programme statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantFigures {
    /// Payments that paid the merchant some of the programme's money.
    pub payments: u64,
    /// What they paid it, net of change (its part of `spent_by_mcc`).
    pub spent_minor: AmountMinor,
    /// Refunds the merchant made of the programme's money, and how much
    /// (to beneficiaries and, after the programme ended, to its treasury).
    pub refunds: u64,
    pub refunded_minor: AmountMinor,
    /// Block time of the last payment, unix milliseconds (0: none yet).
    pub last_payment_unix_ms: u64,
}

/// One period of a programme paid per person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodPaid {
    pub beneficiaries: u64,
    pub amount_minor: AmountMinor,
}

impl ProgrammeStats {
    /// Still held by beneficiaries: disbursed, not spent at a merchant (net
    /// of what merchants refunded to them), not clawed back.
    #[must_use]
    pub fn outstanding_minor(&self) -> AmountMinor {
        let spent: AmountMinor = self.spent_by_mcc.values().sum();
        self.disbursed_minor
            .saturating_add(self.refunded_minor)
            .saturating_sub(spent)
            .saturating_sub(self.clawed_back_minor)
    }
}

/// What an address is, for the spending rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Wallet { tier: u8 },
    Merchant { id: String, mcc: Mcc },
    Treasury { programme: ProgrammeId },
}

/// A change to the registry, ordered with payments by the sequencer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminOp {
    RegisterBank(Bank),
    RegisterMerchant(Merchant),
    RegisterTerminal(Terminal),
    RegisterWallet(Wallet),
    CreateProgramme(Programme),
    RegisterBeneficiary(Beneficiary),
    /// Replaces a registered beneficiary's wallets and designations.
    UpdateBeneficiary(Beneficiary),
    /// A beneficiary lost `lost`: it is frozen (it can spend nothing and
    /// receive nothing from now on), `replacement` is linked to the person
    /// if it was not, and takes over the lost wallet's designations. The
    /// issuers' authorisation is checked before it is sequenced; the
    /// recovery transactions that move the money carry it.
    RecoverWallet {
        person: PersonRef,
        lost: Address,
        replacement: Address,
    },
    /// Replaces a bank's or a terminal's credentials (SHA-256 of each): a
    /// rotation names the new one (and, for an overlap, the old); a
    /// revocation leaves a credential out; an empty list locks the
    /// participant out. Effective for new calls once durable; open streams
    /// authenticated by a credential left out end.
    SetCredentials {
        owner: CredentialOwner,
        credentials: Vec<Hash32>,
    },
}

/// Why a wallet is frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frozen {
    /// Reported lost; its earmarked money goes to `replacement`.
    Recovered { person: PersonRef, replacement: Address },
}

/// Who a registered credential belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialOwner {
    Bank(String),
    Terminal(String),
}

#[derive(Clone, Debug, Default)]
pub struct Registry {
    credentials: HashMap<Hash32, CredentialOwner>,
    pub banks: BTreeMap<String, Bank>,
    pub merchants: BTreeMap<String, Merchant>,
    pub terminals: BTreeMap<String, Terminal>,
    pub wallets: BTreeMap<Address, Wallet>,
    pub programmes: BTreeMap<ProgrammeId, Programme>,
    pub beneficiaries: BTreeMap<PersonRef, Beneficiary>,
    roles: HashMap<Address, Role>,
    /// The person each linked wallet belongs to.
    people: HashMap<Address, PersonRef>,
    /// Wallets that can spend and receive nothing.
    pub frozen: BTreeMap<Address, Frozen>,
}

fn invalid(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::InvalidRegistration, detail)
}

fn check_id(kind: &str, id: &str) -> Result<(), Refusal> {
    let ok = !id.is_empty()
        && id.len() <= ID_BYTES_MAX
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("{kind} id '{id}' must be 1-{ID_BYTES_MAX} characters of A-Z a-z 0-9 - _ . :")))
    }
}

fn check_name(kind: &str, name: &str) -> Result<(), Refusal> {
    if name.is_empty() || name.len() > NAME_BYTES_MAX {
        return Err(invalid(format!("{kind} name must be 1-{NAME_BYTES_MAX} bytes")));
    }
    if let Some(character) = name.chars().find(|c| !is_text_char(*c)) {
        return Err(invalid(format!(
            "{kind} name holds U+{:04X}: names go into statements (XML), CSV and logs, which cannot carry control \
             characters or non-characters",
            u32::from(character)
        )));
    }
    Ok(())
}

/// Whether `character` may stand in a name or any free text the ledger
/// hands on: not a control character (C0, DEL, C1: XML 1.0 cannot carry
/// most of them, and a newline or a tab would break a CSV row or a log
/// line), and not a Unicode non-character (U+FDD0..U+FDEF, U+xFFFE,
/// U+xFFFF: XML 1.0 excludes U+FFFE and U+FFFF).
#[must_use]
pub fn is_text_char(character: char) -> bool {
    let code = u32::from(character);
    !character.is_control() && !(0xFDD0..=0xFDEF).contains(&code) && code & 0xFFFE != 0xFFFE
}

impl Registry {
    /// Rebuilds the registry from its operations, in order.
    ///
    /// # Errors
    /// The first operation that does not apply: the stored registry is corrupt.
    pub fn replay(ops: impl IntoIterator<Item = AdminOp>) -> Result<Self, Refusal> {
        let mut registry = Self::default();
        for op in ops {
            registry.check(
                &op,
                &TierPolicy { tiers: Vec::new(), unregistered_tier: None, day_offset_minutes: 0 },
                true,
            )?;
            registry.apply(op);
        }
        Ok(registry)
    }

    /// The bank or terminal a credential hash belongs to.
    #[must_use]
    pub fn credential(&self, hash: &Hash32) -> Option<&CredentialOwner> {
        self.credentials.get(hash)
    }

    fn credentials_free(&self, credentials: &[Hash32]) -> Result<(), Refusal> {
        if credentials.len() > CREDENTIALS_MAX {
            return Err(invalid(format!("at most {CREDENTIALS_MAX} credentials per participant")));
        }
        for (i, credential) in credentials.iter().enumerate() {
            if credentials[..i].contains(credential) || self.credentials.contains_key(credential) {
                return Err(Refusal::new(
                    Reason::AlreadyRegistered,
                    format!("credential {} is already registered", hex::encode(credential)),
                ));
            }
        }
        Ok(())
    }

    #[must_use]
    pub fn role(&self, address: &Address) -> Option<&Role> {
        self.roles.get(address)
    }

    fn address_free(&self, address: &Address) -> Result<(), Refusal> {
        match self.roles.get(address) {
            None => Ok(()),
            Some(role) => {
                Err(Refusal::new(Reason::AlreadyRegistered, format!("address {address} already belongs to {role:?}")))
            }
        }
    }

    fn bank_known(&self, bank: &str) -> Result<(), Refusal> {
        if self.banks.contains_key(bank) {
            Ok(())
        } else {
            Err(Refusal::new(Reason::UnknownParticipant, format!("no bank '{bank}'")))
        }
    }

    /// Whether `op` may be applied. `replaying` skips the checks that depend
    /// on the tier table (which is configuration, checked when first applied).
    ///
    /// # Errors
    /// Why it may not.
    pub fn check(&self, op: &AdminOp, tiers: &TierPolicy, replaying: bool) -> Result<(), Refusal> {
        match op {
            AdminOp::RegisterBank(bank) => {
                check_id("bank", &bank.id)?;
                check_name("bank", &bank.name)?;
                if self.banks.contains_key(&bank.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("bank '{}' exists", bank.id)));
                }
                self.credentials_free(&bank.credentials)?;
            }
            AdminOp::RegisterMerchant(merchant) => {
                check_id("merchant", &merchant.id)?;
                check_name("merchant", &merchant.name)?;
                if merchant.mcc > MCC_MAX {
                    return Err(invalid(format!("MCC {} is outside 0000-{MCC_MAX}", merchant.mcc)));
                }
                if merchant.payout_addresses.is_empty() || merchant.payout_addresses.len() > PAYOUT_ADDRESSES_MAX {
                    return Err(invalid(format!("a merchant has 1-{PAYOUT_ADDRESSES_MAX} payout addresses")));
                }
                if self.merchants.contains_key(&merchant.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("merchant '{}' exists", merchant.id)));
                }
                self.bank_known(&merchant.bank)?;
                for (i, address) in merchant.payout_addresses.iter().enumerate() {
                    if !crate::core::crypto::is_valid_key(address) {
                        return Err(Refusal::new(Reason::BadAddress, format!("payout address {address} is not a key")));
                    }
                    if merchant.payout_addresses[..i].contains(address) {
                        return Err(invalid(format!("payout address {address} listed twice")));
                    }
                    self.address_free(address)?;
                }
            }
            AdminOp::RegisterTerminal(terminal) => {
                check_id("terminal", &terminal.id)?;
                if self.terminals.contains_key(&terminal.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("terminal '{}' exists", terminal.id)));
                }
                if !self.merchants.contains_key(&terminal.merchant) {
                    return Err(Refusal::new(
                        Reason::UnknownParticipant,
                        format!("no merchant '{}'", terminal.merchant),
                    ));
                }
                self.credentials_free(&terminal.credentials)?;
            }
            AdminOp::RegisterWallet(wallet) => {
                if !crate::core::crypto::is_valid_key(&wallet.address) {
                    return Err(Refusal::new(Reason::BadAddress, format!("{} is not a key", wallet.address)));
                }
                self.bank_known(&wallet.bank)?;
                if !replaying && tiers.tier(wallet.tier).is_none() {
                    return Err(invalid(format!("no wallet tier {}", wallet.tier)));
                }
                self.address_free(&wallet.address)?;
            }
            AdminOp::CreateProgramme(programme) => {
                if programme.id == 0 {
                    return Err(invalid("programme 0 is unrestricted money and cannot be created"));
                }
                check_name("programme", &programme.name)?;
                if self.programmes.contains_key(&programme.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("programme {} exists", programme.id)));
                }
                if programme.allowed_mccs.is_empty() || programme.allowed_mccs.len() > PROGRAMME_MCCS_MAX {
                    return Err(invalid(format!("a programme allows 1-{PROGRAMME_MCCS_MAX} merchant categories")));
                }
                if let Some(mcc) = programme.allowed_mccs.iter().find(|m| **m > MCC_MAX) {
                    return Err(invalid(format!("MCC {mcc} is outside 0000-{MCC_MAX}")));
                }
                if programme.valid_until_ms <= programme.valid_from_ms {
                    return Err(invalid("valid_until must be after valid_from"));
                }
                if programme.per_payment_max_minor == Some(0) {
                    return Err(invalid("a per-payment maximum of 0 would forbid every payment"));
                }
                if !crate::core::crypto::is_valid_key(&programme.treasury) {
                    return Err(Refusal::new(
                        Reason::BadAddress,
                        format!("treasury {} is not a key", programme.treasury),
                    ));
                }
                self.address_free(&programme.treasury)?;
            }
            AdminOp::RegisterBeneficiary(beneficiary) => {
                if self.beneficiaries.contains_key(&beneficiary.person) {
                    return Err(Refusal::new(
                        Reason::AlreadyRegistered,
                        format!("beneficiary {} is registered; change it with UpdateBeneficiary", beneficiary.person),
                    ));
                }
                self.check_beneficiary(beneficiary)?;
            }
            AdminOp::RecoverWallet { person, lost, replacement } => self.check_recovery(person, lost, replacement)?,
            AdminOp::SetCredentials { owner, credentials } => {
                let current = match owner {
                    CredentialOwner::Bank(id) => self.banks.get(id).map(|b| &b.credentials),
                    CredentialOwner::Terminal(id) => self.terminals.get(id).map(|t| &t.credentials),
                }
                .ok_or_else(|| Refusal::new(Reason::UnknownParticipant, format!("no {owner:?} registered")))?;
                if credentials.len() > CREDENTIALS_MAX {
                    return Err(invalid(format!("at most {CREDENTIALS_MAX} credentials per participant")));
                }
                if credentials.iter().enumerate().any(|(i, c)| credentials[..i].contains(c)) {
                    return Err(invalid("a credential listed twice"));
                }
                // Its own credentials may stay; anybody else's may not be taken.
                let others: Vec<Hash32> = credentials.iter().filter(|c| !current.contains(c)).copied().collect();
                self.credentials_free(&others)?;
            }
            AdminOp::UpdateBeneficiary(beneficiary) => {
                if !self.beneficiaries.contains_key(&beneficiary.person) {
                    return Err(Refusal::new(
                        Reason::UnknownParticipant,
                        format!("no beneficiary {}", beneficiary.person),
                    ));
                }
                self.check_beneficiary(beneficiary)?;
            }
        }
        Ok(())
    }

    /// A recovery: `lost` is one of the person's wallets and not frozen
    /// yet; `replacement` is another registered wallet, not frozen, of
    /// nobody or of this person (linked now if it was not, within the
    /// wallets a person may link).
    fn check_recovery(&self, person: &PersonRef, lost: &Address, replacement: &Address) -> Result<(), Refusal> {
        let not_allowed = |detail: String| Refusal::new(Reason::RecoveryNotAllowed, detail);
        let beneficiary = self
            .beneficiaries
            .get(person)
            .ok_or_else(|| Refusal::new(Reason::UnknownParticipant, format!("no beneficiary {person}")))?;
        if !beneficiary.wallets.contains(lost) {
            return Err(not_allowed(format!("wallet {lost} is not one of beneficiary {person}'s")));
        }
        if let Some(Frozen::Recovered { replacement: to, .. }) = self.frozen.get(lost) {
            return Err(not_allowed(format!("wallet {lost} was already recovered, to {to}")));
        }
        if replacement == lost {
            return Err(not_allowed("a wallet is not its own replacement".to_owned()));
        }
        if !matches!(self.roles.get(replacement), Some(Role::Wallet { .. })) {
            return Err(Refusal::new(
                Reason::UnknownParticipant,
                format!("{replacement} is not a registered wallet (RegisterWallet first)"),
            ));
        }
        if self.frozen.contains_key(replacement) {
            return Err(not_allowed(format!("the replacement {replacement} is frozen")));
        }
        match self.people.get(replacement) {
            Some(other) if other != person => {
                Err(not_allowed(format!("the replacement {replacement} belongs to beneficiary {other}")))
            }
            None if beneficiary.wallets.len() >= BENEFICIARY_WALLETS_MAX => Err(not_allowed(format!(
                "beneficiary {person} links {BENEFICIARY_WALLETS_MAX} wallets already: unlink one to link the \
                 replacement"
            ))),
            _ => Ok(()),
        }
    }

    /// Whether `address` is frozen: it can spend and receive nothing.
    #[must_use]
    pub fn is_frozen(&self, address: &Address) -> bool {
        !self.frozen.is_empty() && self.frozen.contains_key(address)
    }

    /// A beneficiary's wallets are registered wallets of nobody else, and
    /// each designation names a programme paid per person and one of them.
    fn check_beneficiary(&self, beneficiary: &Beneficiary) -> Result<(), Refusal> {
        let person = &beneficiary.person;
        if person.0 == [0; 32] {
            return Err(invalid(
                "a person reference of 32 zero bytes is no HMAC output; derive it (settled person-ref)",
            ));
        }
        if beneficiary.wallets.is_empty() || beneficiary.wallets.len() > BENEFICIARY_WALLETS_MAX {
            return Err(invalid(format!("a beneficiary links 1-{BENEFICIARY_WALLETS_MAX} wallets")));
        }
        for (i, wallet) in beneficiary.wallets.iter().enumerate() {
            if beneficiary.wallets[..i].contains(wallet) {
                return Err(invalid(format!("wallet {wallet} listed twice")));
            }
            if !matches!(self.roles.get(wallet), Some(Role::Wallet { .. })) {
                return Err(Refusal::new(
                    Reason::UnknownParticipant,
                    format!("{wallet} is not a registered wallet (RegisterWallet first)"),
                ));
            }
            if let Some(other) = self.people.get(wallet).filter(|other| *other != person) {
                return Err(Refusal::new(
                    Reason::AlreadyRegistered,
                    format!("wallet {wallet} belongs to beneficiary {other}"),
                ));
            }
            if self.is_frozen(wallet) && self.people.get(wallet) != Some(person) {
                return Err(invalid(format!("wallet {wallet} is frozen: it cannot be linked")));
            }
        }
        if beneficiary.designated.len() > BENEFICIARY_PROGRAMMES_MAX {
            return Err(invalid(format!("at most {BENEFICIARY_PROGRAMMES_MAX} designated programmes")));
        }
        for (programme, wallet) in &beneficiary.designated {
            let Some(registered) = self.programmes.get(programme) else {
                return Err(Refusal::new(Reason::UnknownProgramme, format!("no programme {programme}")));
            };
            if registered.payment_period.is_none() {
                return Err(invalid(format!("programme {programme} pays addresses, not people: nothing to designate")));
            }
            if !beneficiary.wallets.contains(wallet) {
                return Err(invalid(format!("designated wallet {wallet} is not one of the beneficiary's wallets")));
            }
            if self.is_frozen(wallet) {
                return Err(invalid(format!("designated wallet {wallet} is frozen")));
            }
        }
        Ok(())
    }

    /// Applies an operation that passed `check`.
    pub fn apply(&mut self, op: AdminOp) {
        match op {
            AdminOp::RegisterBank(bank) => {
                for credential in &bank.credentials {
                    self.credentials.insert(*credential, CredentialOwner::Bank(bank.id.clone()));
                }
                self.banks.insert(bank.id.clone(), bank);
            }
            AdminOp::RegisterMerchant(merchant) => {
                for address in &merchant.payout_addresses {
                    self.roles.insert(*address, Role::Merchant { id: merchant.id.clone(), mcc: merchant.mcc });
                }
                self.merchants.insert(merchant.id.clone(), merchant);
            }
            AdminOp::RegisterTerminal(terminal) => {
                for credential in &terminal.credentials {
                    self.credentials.insert(*credential, CredentialOwner::Terminal(terminal.id.clone()));
                }
                self.terminals.insert(terminal.id.clone(), terminal);
            }
            AdminOp::RegisterWallet(wallet) => {
                self.roles.insert(wallet.address, Role::Wallet { tier: wallet.tier });
                self.wallets.insert(wallet.address, wallet);
            }
            AdminOp::CreateProgramme(programme) => {
                self.roles.insert(programme.treasury, Role::Treasury { programme: programme.id });
                self.programmes.insert(programme.id, programme);
            }
            AdminOp::RegisterBeneficiary(beneficiary) | AdminOp::UpdateBeneficiary(beneficiary) => {
                if let Some(old) = self.beneficiaries.get(&beneficiary.person) {
                    for wallet in &old.wallets {
                        self.people.remove(wallet);
                    }
                }
                for wallet in &beneficiary.wallets {
                    self.people.insert(*wallet, beneficiary.person);
                }
                self.beneficiaries.insert(beneficiary.person, beneficiary);
            }
            AdminOp::RecoverWallet { person, lost, replacement } => self.apply_recovery(person, lost, replacement),
            AdminOp::SetCredentials { owner, credentials } => {
                let held = match &owner {
                    CredentialOwner::Bank(id) => self.banks.get_mut(id).map(|b| &mut b.credentials),
                    CredentialOwner::Terminal(id) => self.terminals.get_mut(id).map(|t| &mut t.credentials),
                }
                .expect("a checked participant exists");
                let old = std::mem::replace(held, credentials.clone());
                for credential in old {
                    self.credentials.remove(&credential);
                }
                for credential in credentials {
                    self.credentials.insert(credential, owner.clone());
                }
            }
        }
    }

    /// Applies a checked recovery: the lost wallet frozen, the replacement
    /// linked and designated instead of it.
    fn apply_recovery(&mut self, person: PersonRef, lost: Address, replacement: Address) {
        self.frozen.insert(lost, Frozen::Recovered { person, replacement });
        let beneficiary = self.beneficiaries.get_mut(&person).expect("a checked recovery's beneficiary exists");
        if !beneficiary.wallets.contains(&replacement) {
            beneficiary.wallets.push(replacement);
        }
        for wallet in beneficiary.designated.values_mut().filter(|w| **w == lost) {
            *wallet = replacement;
        }
        self.people.insert(replacement, person);
    }

    /// The beneficiary a wallet is linked to, if any.
    #[must_use]
    pub fn person_of(&self, wallet: &Address) -> Option<&Beneficiary> {
        self.people.get(wallet).and_then(|person| self.beneficiaries.get(person))
    }

    /// The tier that limits `address`, if any: registered wallets have their
    /// own, unregistered addresses the policy's default; merchants and
    /// treasuries are exempt.
    #[must_use]
    pub fn tier_of<'a>(&self, address: &Address, policy: &'a TierPolicy) -> Option<&'a Tier> {
        match self.roles.get(address) {
            Some(Role::Wallet { tier }) => policy.tier(*tier),
            Some(Role::Merchant { .. } | Role::Treasury { .. }) => None,
            None => policy.unregistered_tier.and_then(|t| policy.tier(t)),
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Runs the registry (admin API).
    Operator,
    /// Mints and claws back (with the issuer keys' signatures on top).
    Issuer,
    /// Runs welfare programmes day to day: watches their integrity alerts.
    ProgrammeAdministrator,
    /// Reads everything the ledger holds (blocks, payments, statements,
    /// the registry, statistics) and changes nothing.
    Auditor,
    Bank(String),
    Terminal(String),
    /// Development mode only: every role at once, so the demo and tests can
    /// drive everything with one generated token.
    Development,
}

/// Credentials from the configuration: hash -> operator, issuer, development.
pub type ConfiguredCredentials = std::collections::HashMap<crate::core::types::Hash32, Principal>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_no_control_characters_or_non_characters() {
        for refused in
            ["Bank\u{1}", "Line\nbreak", "Tab\there", "Del\u{7f}", "C1\u{85}", "\u{FFFE}", "\u{FDD0}", "\u{10FFFF}"]
        {
            let refusal = check_name("bank", refused).expect_err(refused);
            assert_eq!(refusal.reason, Reason::InvalidRegistration, "{refused:?}");
        }
        for accepted in ["Bank of Shenzhen", "深圳农商银行", "Café & Co. <Ltd>", "O'Brien \"Grocer\""] {
            check_name("bank", accepted).expect(accepted);
        }
    }
}
