//! Participants and programmes: who an address belongs to, what a programme's
//! earmarked money may be spent on, and the wallet tiers. Pure data and the
//! checks on changing it; the ledger applies the spending rules with it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::core::limits::{
    BENEFICIARY_PROGRAMMES_MAX, BENEFICIARY_WALLETS_MAX, CREDENTIALS_MAX, FREEZE_REASON_BYTES_MAX, ID_BYTES_MAX,
    NAME_BYTES_MAX, PAYOUT_ADDRESSES_MAX, PROGRAMME_DAYS_KEPT, PROGRAMME_MCCS_MAX,
};
pub use crate::core::period::PaymentPeriod;
use crate::core::refusal::{Field, Reason, Refusal};
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
    /// Most a payer of this tier may pay in a calendar year (the policy's
    /// time zone), if the table sets a limit.
    #[serde(default)]
    pub per_year_minor: Option<AmountMinor>,
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
            per_year_minor: None,
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

    /// The calendar year (in the policy's time zone) of day number `day`.
    #[must_use]
    pub fn year_of_day(day: u64) -> u64 {
        const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
        let julian = i64::try_from(day).unwrap_or(i64::MAX).saturating_add(UNIX_EPOCH_JULIAN_DAY);
        i32::try_from(julian)
            .ok()
            .and_then(|julian| time::Date::from_julian_day(julian).ok())
            .map_or(u64::MAX, |date| u64::try_from(date.year()).unwrap_or(0))
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
    /// Paid to merchants by ledger day (`YYYYMMDD`, in the tier policy's
    /// time zone), as `spent_by_mcc` counts it (refunds do not take from
    /// it): the latest `PROGRAMME_DAYS_KEPT` days that had any. Rows
    /// written before it was kept have none: their days begin at the
    /// first payment after the upgrade.
    #[serde(default)]
    pub spent_by_day: BTreeMap<u32, AmountMinor>,
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
    /// Claims for the period refused because it was paid already
    /// (`REASON_CLAIM_ALREADY_PAID`), as the sequencer that refused them
    /// counted: a refusal is in no block, so a replica replaying blocks
    /// does not count it.
    #[serde(default)]
    pub duplicate_claims_refused: u64,
}

impl ProgrammeStats {
    /// Counts `amount` paid to merchants on `day` (`YYYYMMDD`), keeping
    /// only the latest `PROGRAMME_DAYS_KEPT` days. Allocates only for a
    /// day not seen yet.
    pub fn add_spent_on_day(&mut self, day: u32, amount: AmountMinor) {
        if let Some(spent) = self.spent_by_day.get_mut(&day) {
            *spent = spent.saturating_add(amount);
            return;
        }
        self.spent_by_day.insert(day, amount);
        while self.spent_by_day.len() > PROGRAMME_DAYS_KEPT {
            self.spent_by_day.pop_first();
        }
    }

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

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Wallet { tier } => write!(f, "a wallet (tier {tier})"),
            Self::Merchant { id, .. } => write!(f, "merchant '{id}' (a payout address)"),
            Self::Treasury { programme } => {
                write!(f, "the treasury of programme {programme} (each programme has a treasury of its own)")
            }
        }
    }
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
    /// Moves a registered wallet to another tier of the table (an upgrade
    /// after more KYC, a downgrade). The new limits apply from the next
    /// payment, with what the wallet paid today and this year counted; a
    /// balance above the new cap stays, and the wallet receives nothing
    /// until it is under the cap.
    SetWalletTier {
        address: Address,
        tier: u8,
    },
    /// Freezes a wallet (a registered or an anonymous one; not a merchant's
    /// payout address nor a treasury) for `reason`: it can spend nothing
    /// (but an issuer's clawback moves its expired programme money) and
    /// can still receive, so money owed to its holder is not bounced.
    FreezeWallet {
        address: Address,
        reason: String,
    },
    /// Lifts a `FreezeWallet` freeze (a wallet frozen for its recovery
    /// stays frozen).
    UnfreezeWallet {
        address: Address,
    },
    /// Deactivates (`active` false) or reactivates a merchant or a terminal.
    /// A deactivated merchant's payout addresses receive nothing (they can
    /// still pay out what they hold, their change coming back to them) and its terminals, like a deactivated
    /// terminal, authenticate no more: open streams end.
    SetActive {
        participant: Participant,
        active: bool,
    },
}

/// A merchant or a terminal, for `AdminOp::SetActive`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Participant {
    Merchant(String),
    Terminal(String),
}

/// A registry change as the chain carries it: what changed and who changed
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryChange {
    pub op: AdminOp,
    pub by: Actor,
}

/// Who made a registry change: the caller's role and the SHA-256 of the
/// credential it presented (its bearer token or client certificate), which
/// names one operator's or issuer's credential in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub principal: Principal,
    pub credential: Hash32,
}

/// Why a wallet is frozen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frozen {
    /// Reported lost; its earmarked money goes to `replacement`. It spends
    /// and receives nothing, for good.
    Recovered { person: PersonRef, replacement: Address },
    /// Frozen by an operator or issuer (`AdminOp::FreezeWallet`): it spends
    /// nothing and can receive, until unfrozen.
    Held { reason: String },
}

impl Frozen {
    /// What the freeze is, in words.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Recovered { replacement, .. } => format!("frozen after a loss, recovered to {replacement}"),
            Self::Held { reason } => format!("frozen: {reason}"),
        }
    }
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
    /// Frozen wallets: they spend nothing; those recovered receive nothing.
    pub frozen: BTreeMap<Address, Frozen>,
    /// Deactivated merchants and terminals.
    pub inactive_merchants: BTreeSet<String>,
    pub inactive_terminals: BTreeSet<String>,
}

fn invalid(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::InvalidRegistration, detail)
}

fn check_id(kind: &str, id: &str, field: Field) -> Result<(), Refusal> {
    let ok = !id.is_empty()
        && id.len() <= ID_BYTES_MAX
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("{kind} id '{id}' must be 1-{ID_BYTES_MAX} characters of A-Z a-z 0-9 - _ . :")).at(field))
    }
}

fn check_name(kind: &str, name: &str, field: Field) -> Result<(), Refusal> {
    check_text(&format!("{kind} name"), name, NAME_BYTES_MAX).map_err(|r| r.at(field))
}

fn check_text(what: &str, text: &str, bytes_max: usize) -> Result<(), Refusal> {
    if text.is_empty() || text.len() > bytes_max {
        return Err(invalid(format!("{what} must be 1-{bytes_max} bytes")));
    }
    if let Some(character) = text.chars().find(|c| !is_text_char(*c)) {
        return Err(invalid(format!(
            "{what} holds U+{:04X}: names go into statements (XML), CSV and logs, which cannot carry control \
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
            Some(role) => Err(Refusal::new(Reason::AlreadyRegistered, format!("address {address} is already {role}"))),
        }
    }

    /// A frozen address cannot become a merchant's payout address or a
    /// treasury (which a freeze may not touch).
    fn not_frozen(&self, address: &Address) -> Result<(), Refusal> {
        match self.frozen.get(address) {
            Some(frozen) => Err(invalid(format!("{address} is {}: it cannot take that role", frozen.describe()))),
            None => Ok(()),
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
                check_id("bank", &bank.id, Field::BankId)?;
                check_name("bank", &bank.name, Field::BankName)?;
                if self.banks.contains_key(&bank.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("bank '{}' exists", bank.id)));
                }
                self.credentials_free(&bank.credentials).map_err(|r| r.at(Field::BankCredentials))?;
            }
            AdminOp::RegisterMerchant(merchant) => {
                check_id("merchant", &merchant.id, Field::MerchantId)?;
                check_name("merchant", &merchant.name, Field::MerchantName)?;
                if merchant.mcc > MCC_MAX {
                    return Err(
                        invalid(format!("MCC {} is outside 0000-{MCC_MAX}", merchant.mcc)).at(Field::MerchantMcc)
                    );
                }
                if merchant.payout_addresses.is_empty() || merchant.payout_addresses.len() > PAYOUT_ADDRESSES_MAX {
                    return Err(invalid(format!("a merchant has 1-{PAYOUT_ADDRESSES_MAX} payout addresses"))
                        .at(Field::MerchantPayoutAddresses));
                }
                if self.merchants.contains_key(&merchant.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("merchant '{}' exists", merchant.id)));
                }
                self.bank_known(&merchant.bank)?;
                for (i, address) in merchant.payout_addresses.iter().enumerate() {
                    if !crate::core::crypto::is_valid_key(address) {
                        return Err(Refusal::new(Reason::BadAddress, format!("payout address {address} is not a key"))
                            .at(Field::MerchantPayoutAddresses));
                    }
                    if merchant.payout_addresses[..i].contains(address) {
                        return Err(invalid(format!("payout address {address} listed twice"))
                            .at(Field::MerchantPayoutAddresses));
                    }
                    self.address_free(address)?;
                    self.not_frozen(address).map_err(|r| r.at(Field::MerchantPayoutAddresses))?;
                }
            }
            AdminOp::RegisterTerminal(terminal) => {
                check_id("terminal", &terminal.id, Field::TerminalId)?;
                if self.terminals.contains_key(&terminal.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("terminal '{}' exists", terminal.id)));
                }
                if !self.merchants.contains_key(&terminal.merchant) {
                    return Err(Refusal::new(
                        Reason::UnknownParticipant,
                        format!("no merchant '{}'", terminal.merchant),
                    ));
                }
                if self.inactive_merchants.contains(&terminal.merchant) {
                    return Err(Refusal::new(
                        Reason::ParticipantInactive,
                        format!("merchant '{}' is deactivated", terminal.merchant),
                    ));
                }
                self.credentials_free(&terminal.credentials).map_err(|r| r.at(Field::TerminalCredentials))?;
            }
            AdminOp::RegisterWallet(wallet) => {
                if !crate::core::crypto::is_valid_key(&wallet.address) {
                    return Err(Refusal::new(Reason::BadAddress, format!("{} is not a key", wallet.address))
                        .at(Field::WalletAddress));
                }
                self.bank_known(&wallet.bank)?;
                if !replaying && tiers.tier(wallet.tier).is_none() {
                    return Err(invalid(format!("no wallet tier {}", wallet.tier)).at(Field::WalletTier));
                }
                self.address_free(&wallet.address)?;
            }
            AdminOp::CreateProgramme(programme) => {
                if programme.id == 0 {
                    return Err(
                        invalid("programme 0 is unrestricted money and cannot be created").at(Field::ProgrammeId)
                    );
                }
                check_name("programme", &programme.name, Field::ProgrammeName)?;
                if self.programmes.contains_key(&programme.id) {
                    return Err(Refusal::new(Reason::AlreadyRegistered, format!("programme {} exists", programme.id)));
                }
                if programme.allowed_mccs.is_empty() || programme.allowed_mccs.len() > PROGRAMME_MCCS_MAX {
                    return Err(invalid(format!("a programme allows 1-{PROGRAMME_MCCS_MAX} merchant categories"))
                        .at(Field::ProgrammeAllowedMccs));
                }
                if let Some(mcc) = programme.allowed_mccs.iter().find(|m| **m > MCC_MAX) {
                    return Err(invalid(format!("MCC {mcc} is outside 0000-{MCC_MAX}")).at(Field::ProgrammeAllowedMccs));
                }
                if programme.valid_until_ms <= programme.valid_from_ms {
                    return Err(invalid("valid_until must be after valid_from").at(Field::ProgrammeValidUntil));
                }
                if programme.per_payment_max_minor == Some(0) {
                    return Err(invalid("a per-payment maximum of 0 would forbid every payment")
                        .at(Field::ProgrammePerPaymentMax));
                }
                if !crate::core::crypto::is_valid_key(&programme.treasury) {
                    return Err(Refusal::new(
                        Reason::BadAddress,
                        format!("treasury {} is not a key", programme.treasury),
                    )
                    .at(Field::ProgrammeTreasury));
                }
                self.address_free(&programme.treasury)?;
                self.not_frozen(&programme.treasury).map_err(|r| r.at(Field::ProgrammeTreasury))?;
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
                    return Err(invalid(format!("at most {CREDENTIALS_MAX} credentials per participant"))
                        .at(Field::CredentialSha256));
                }
                if credentials.iter().enumerate().any(|(i, c)| credentials[..i].contains(c)) {
                    return Err(invalid("a credential listed twice").at(Field::CredentialSha256));
                }
                // Its own credentials may stay; anybody else's may not be taken.
                let others: Vec<Hash32> = credentials.iter().filter(|c| !current.contains(c)).copied().collect();
                self.credentials_free(&others)?;
            }
            AdminOp::SetWalletTier { address, tier } => {
                let wallet = self.wallets.get(address).ok_or_else(|| {
                    Refusal::new(
                        Reason::UnknownParticipant,
                        format!("{address} is not a registered wallet (RegisterWallet registers it at a tier)"),
                    )
                })?;
                if wallet.tier == *tier {
                    return Err(invalid(format!("wallet {address} is at tier {tier} already")).at(Field::Tier));
                }
                if !replaying && tiers.tier(*tier).is_none() {
                    return Err(invalid(format!("no wallet tier {tier}")).at(Field::Tier));
                }
            }
            AdminOp::FreezeWallet { address, reason } => {
                check_text("a freeze's reason", reason, FREEZE_REASON_BYTES_MAX)
                    .map_err(|r| r.at(Field::FreezeReason))?;
                if !crate::core::crypto::is_valid_key(address) {
                    return Err(Refusal::new(Reason::BadAddress, format!("{address} is not a key")).at(Field::Address));
                }
                match self.roles.get(address) {
                    Some(Role::Merchant { id, .. }) => {
                        return Err(invalid(format!(
                            "{address} is a payout address of merchant '{id}': deactivate the merchant instead"
                        ))
                        .at(Field::Address));
                    }
                    Some(Role::Treasury { programme }) => {
                        return Err(
                            invalid(format!("{address} is the treasury of programme {programme}")).at(Field::Address)
                        );
                    }
                    Some(Role::Wallet { .. }) | None => {}
                }
                if let Some(frozen) = self.frozen.get(address) {
                    return Err(Refusal::new(
                        Reason::WalletFrozen,
                        format!("wallet {address} is frozen already ({})", frozen.describe()),
                    ));
                }
            }
            AdminOp::UnfreezeWallet { address } => match self.frozen.get(address) {
                Some(Frozen::Held { .. }) => {}
                Some(recovered @ Frozen::Recovered { .. }) => {
                    return Err(Refusal::new(
                        Reason::WalletFrozen,
                        format!("wallet {address} is {}: it stays frozen", recovered.describe()),
                    ));
                }
                None => return Err(invalid(format!("wallet {address} is not frozen")).at(Field::Address)),
            },
            AdminOp::SetActive { participant, active } => {
                let (known, inactive) = match participant {
                    Participant::Merchant(id) => {
                        (self.merchants.contains_key(id), self.inactive_merchants.contains(id))
                    }
                    Participant::Terminal(id) => {
                        (self.terminals.contains_key(id), self.inactive_terminals.contains(id))
                    }
                };
                if !known {
                    return Err(Refusal::new(Reason::UnknownParticipant, format!("no {participant:?} registered")));
                }
                if inactive != *active {
                    let state = if *active { "active" } else { "deactivated" };
                    return Err(invalid(format!("{participant:?} is {state} already")).at(Field::Participant));
                }
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
        match self.frozen.get(lost) {
            Some(Frozen::Recovered { replacement: to, .. }) => {
                return Err(not_allowed(format!("wallet {lost} was already recovered, to {to}")));
            }
            Some(held @ Frozen::Held { .. }) => {
                return Err(not_allowed(format!(
                    "wallet {lost} is {}: its money stays until it is unfrozen",
                    held.describe()
                )));
            }
            None => {}
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

    /// Whether `address` is frozen: it can spend nothing.
    #[must_use]
    pub fn is_frozen(&self, address: &Address) -> bool {
        !self.frozen.is_empty() && self.frozen.contains_key(address)
    }

    /// Why `address` can receive nothing, if it cannot: a wallet frozen for
    /// its recovery (pay its replacement), or a deactivated merchant's
    /// payout address.
    #[must_use]
    pub fn receiving_refused(&self, address: &Address) -> Option<Refusal> {
        if !self.frozen.is_empty()
            && let Some(frozen @ Frozen::Recovered { .. }) = self.frozen.get(address)
        {
            return Some(Refusal::new(
                Reason::WalletFrozen,
                format!("wallet {address} is {}: pay its replacement", frozen.describe()),
            ));
        }
        if !self.inactive_merchants.is_empty()
            && let Some(Role::Merchant { id, .. }) = self.roles.get(address)
            && self.inactive_merchants.contains(id)
        {
            return Some(Refusal::new(
                Reason::ParticipantInactive,
                format!("{address} is a payout address of merchant '{id}', which is deactivated"),
            ));
        }
        None
    }

    /// Whether registered terminal `id` may submit: active, and of an
    /// active merchant.
    #[must_use]
    pub fn terminal_active(&self, id: &str) -> bool {
        self.terminals
            .get(id)
            .is_some_and(|t| !self.inactive_terminals.contains(id) && !self.inactive_merchants.contains(&t.merchant))
    }

    /// A beneficiary's wallets are registered wallets of nobody else, and
    /// each designation names a programme paid per person and one of them.
    fn check_beneficiary(&self, beneficiary: &Beneficiary) -> Result<(), Refusal> {
        let person = &beneficiary.person;
        if person.0 == [0; 32] {
            return Err(invalid(
                "a person reference of 32 zero bytes is no HMAC output; derive it (settled person-ref)",
            )
            .at(Field::BeneficiaryPersonRef));
        }
        if beneficiary.wallets.is_empty() || beneficiary.wallets.len() > BENEFICIARY_WALLETS_MAX {
            return Err(invalid(format!("a beneficiary links 1-{BENEFICIARY_WALLETS_MAX} wallets"))
                .at(Field::BeneficiaryWallets));
        }
        for (i, wallet) in beneficiary.wallets.iter().enumerate() {
            if beneficiary.wallets[..i].contains(wallet) {
                return Err(invalid(format!("wallet {wallet} listed twice")).at(Field::BeneficiaryWallets));
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
            if self.is_recovered(wallet) && self.people.get(wallet) != Some(person) {
                return Err(invalid(format!("wallet {wallet} was recovered after a loss: it cannot be linked"))
                    .at(Field::BeneficiaryWallets));
            }
        }
        if beneficiary.designated.len() > BENEFICIARY_PROGRAMMES_MAX {
            return Err(invalid(format!("at most {BENEFICIARY_PROGRAMMES_MAX} designated programmes"))
                .at(Field::BeneficiaryDesignations));
        }
        for (programme, wallet) in &beneficiary.designated {
            let Some(registered) = self.programmes.get(programme) else {
                return Err(Refusal::new(Reason::UnknownProgramme, format!("no programme {programme}")));
            };
            if registered.payment_period.is_none() {
                return Err(invalid(format!("programme {programme} pays addresses, not people: nothing to designate"))
                    .at(Field::BeneficiaryDesignations));
            }
            if !beneficiary.wallets.contains(wallet) {
                return Err(invalid(format!("designated wallet {wallet} is not one of the beneficiary's wallets"))
                    .at(Field::BeneficiaryDesignations));
            }
            if self.is_recovered(wallet) {
                return Err(invalid(format!("designated wallet {wallet} was recovered after a loss"))
                    .at(Field::BeneficiaryDesignations));
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
            AdminOp::SetWalletTier { address, tier } => {
                self.roles.insert(address, Role::Wallet { tier });
                self.wallets.get_mut(&address).expect("a checked wallet exists").tier = tier;
            }
            AdminOp::FreezeWallet { address, reason } => {
                self.frozen.insert(address, Frozen::Held { reason });
            }
            AdminOp::UnfreezeWallet { address } => {
                self.frozen.remove(&address);
            }
            AdminOp::SetActive { participant, active } => {
                let (set, id) = match participant {
                    Participant::Merchant(id) => (&mut self.inactive_merchants, id),
                    Participant::Terminal(id) => (&mut self.inactive_terminals, id),
                };
                if active {
                    set.remove(&id);
                } else {
                    set.insert(id);
                }
            }
        }
    }

    fn is_recovered(&self, address: &Address) -> bool {
        matches!(self.frozen.get(address), Some(Frozen::Recovered { .. }))
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    fn key(byte: u8) -> Address {
        crate::core::crypto::Keypair::from_secret(&[byte; 32]).expect("a key").address()
    }

    /// A registry with a bank, a wallet `a` of person 1 and another `b`.
    fn with_person() -> (Registry, Address, Address) {
        let mut registry = Registry::default();
        let (a, b) = (key(1), key(2));
        let ops = [
            AdminOp::RegisterBank(Bank { id: "bank".into(), name: "Bank".into(), credentials: Vec::new() }),
            AdminOp::RegisterWallet(Wallet { address: a, bank: "bank".into(), tier: 1 }),
            AdminOp::RegisterWallet(Wallet { address: b, bank: "bank".into(), tier: 1 }),
            AdminOp::RegisterBeneficiary(Beneficiary {
                person: PersonRef([9; 32]),
                wallets: vec![a, b],
                designated: BTreeMap::new(),
            }),
        ];
        for op in ops {
            registry.check(&op, &TierPolicy::e_cny_default(2), false).expect("valid");
            registry.apply(op);
        }
        (registry, a, b)
    }

    fn apply(registry: &mut Registry, op: AdminOp) -> Result<(), Refusal> {
        registry.check(&op, &TierPolicy::e_cny_default(2), false)?;
        registry.apply(op);
        Ok(())
    }

    #[test]
    fn spending_by_day_keeps_the_latest_days_and_drops_the_oldest_past_the_bound() {
        let mut stats = ProgrammeStats::default();
        // Day numbers as dates: 92 days from 2026-10-01 reach 2026-12-31.
        let start = time::Date::from_calendar_date(2026, time::Month::October, 1).expect("a date");
        let name = |offset: i64| {
            let date = start + time::Duration::days(offset);
            u32::try_from(date.year()).expect("a year") * 10_000
                + u32::from(u8::from(date.month())) * 100
                + u32::from(date.day())
        };
        let days = i64::try_from(PROGRAMME_DAYS_KEPT).expect("small");
        for offset in 0..days {
            stats.add_spent_on_day(name(offset), 100);
            stats.add_spent_on_day(name(offset), 5);
        }
        assert_eq!(stats.spent_by_day.len(), PROGRAMME_DAYS_KEPT, "every day kept up to the bound");
        assert_eq!(stats.spent_by_day.first_key_value(), Some((&20_261_001, &105)));
        assert_eq!(stats.spent_by_day.last_key_value(), Some((&20_261_231, &105)));
        assert_eq!(stats.spent_by_day.values().sum::<u64>(), 105 * 92);
        // The 93rd day drops the first; the day kept longest is counted on.
        stats.add_spent_on_day(name(days), 7);
        assert_eq!(stats.spent_by_day.len(), PROGRAMME_DAYS_KEPT);
        assert_eq!(stats.spent_by_day.first_key_value(), Some((&20_261_002, &105)));
        assert_eq!(stats.spent_by_day.last_key_value(), Some((&20_270_101, &7)));
        stats.add_spent_on_day(name(1), 1);
        assert_eq!(stats.spent_by_day.get(&20_261_002), Some(&106));
        // A day older than every day kept, once the bound is reached, is
        // not kept (only the latest days are).
        stats.add_spent_on_day(20_260_101, 50);
        assert_eq!(stats.spent_by_day.len(), PROGRAMME_DAYS_KEPT);
        assert!(!stats.spent_by_day.contains_key(&20_260_101));
        assert_eq!(stats.spent_by_day.first_key_value(), Some((&20_261_002, &106)));
    }

    #[test]
    fn a_statistics_row_written_before_days_and_refused_claims_were_kept_still_reads() {
        // As the store held a programme's row before: no spending by day,
        // no refused claims in its periods.
        let old = br#"{"disbursed_minor":9000,"spent_by_mcc":{"5411":3000},"clawed_back_minor":0,
            "paid_by_period":{"202612":{"beneficiaries":3,"amount_minor":9000}},
            "refunded_minor":0,"refunded_to_treasury_minor":0}"#;
        let stats: ProgrammeStats = serde_json::from_slice(old).expect("an old row reads");
        assert!(stats.spent_by_day.is_empty());
        assert_eq!(
            stats.paid_by_period.get(&202_612),
            Some(&PeriodPaid { beneficiaries: 3, amount_minor: 9000, duplicate_claims_refused: 0 })
        );
        let mut now = stats.clone();
        now.add_spent_on_day(20_261_207, 40);
        now.paid_by_period.get_mut(&202_612).expect("paid").duplicate_claims_refused = 2;
        let row = serde_json::to_vec(&now).expect("serialises");
        assert_eq!(serde_json::from_slice::<ProgrammeStats>(&row).expect("reads back"), now);
    }

    #[test]
    fn a_held_wallet_is_neither_recovered_nor_a_replacement_and_a_recovered_one_is_never_unfrozen() {
        let (mut registry, a, b) = with_person();
        let person = PersonRef([9; 32]);
        apply(&mut registry, AdminOp::FreezeWallet { address: a, reason: "fraud".into() }).expect("frozen");
        assert!(registry.is_frozen(&a) && registry.receiving_refused(&a).is_none(), "held: pays nothing, receives");
        let refused = apply(&mut registry, AdminOp::RecoverWallet { person, lost: a, replacement: b });
        assert_eq!(refused.expect_err("held").reason, Reason::RecoveryNotAllowed);
        let refused = apply(&mut registry, AdminOp::RecoverWallet { person, lost: b, replacement: a });
        assert_eq!(refused.expect_err("a held replacement").reason, Reason::RecoveryNotAllowed);
        apply(&mut registry, AdminOp::UnfreezeWallet { address: a }).expect("unfrozen");
        apply(&mut registry, AdminOp::RecoverWallet { person, lost: a, replacement: b }).expect("recovered");
        assert_eq!(registry.receiving_refused(&a).expect("recovered").reason, Reason::WalletFrozen);
        let refused = apply(&mut registry, AdminOp::UnfreezeWallet { address: a });
        assert_eq!(refused.expect_err("for good").reason, Reason::WalletFrozen);
        let refused = apply(&mut registry, AdminOp::FreezeWallet { address: a, reason: "again".into() });
        assert_eq!(refused.expect_err("frozen already").reason, Reason::WalletFrozen);
        // A frozen anonymous address becomes neither a payout address nor a treasury.
        let anonymous = key(7);
        apply(&mut registry, AdminOp::FreezeWallet { address: anonymous, reason: "court order".into() })
            .expect("frozen");
        let merchant = Merchant {
            id: "m".into(),
            name: "M".into(),
            mcc: 5411,
            bank: "bank".into(),
            payout_addresses: vec![anonymous],
        };
        let refused = apply(&mut registry, AdminOp::RegisterMerchant(merchant)).expect_err("frozen payout");
        assert_eq!(
            (refused.reason, refused.field),
            (Reason::InvalidRegistration, Some(Field::MerchantPayoutAddresses))
        );
    }

    #[test]
    fn a_wallets_tier_changes_in_the_registry_and_its_role() {
        let (mut registry, a, _) = with_person();
        apply(&mut registry, AdminOp::SetWalletTier { address: a, tier: 3 }).expect("upgraded");
        assert_eq!(registry.wallets[&a].tier, 3);
        assert_eq!(registry.role(&a), Some(&Role::Wallet { tier: 3 }));
        let policy = TierPolicy::e_cny_default(2);
        assert_eq!(registry.tier_of(&a, &policy).map(|t| t.id), Some(3), "the rules read the new tier");
        let refused = apply(&mut registry, AdminOp::SetWalletTier { address: a, tier: 4 });
        assert_eq!(refused.expect_err("no tier 4").reason, Reason::InvalidRegistration);
        let refused = apply(&mut registry, AdminOp::SetWalletTier { address: key(3), tier: 2 });
        assert_eq!(refused.expect_err("not registered").reason, Reason::UnknownParticipant);
    }

    #[test]
    fn the_year_of_a_day_follows_the_calendar() {
        // 2024-12-31 and 2025-01-01 (days since 1970-01-01), a leap year's last day.
        assert_eq!(TierPolicy::year_of_day(20_088), 2024);
        assert_eq!(TierPolicy::year_of_day(20_089), 2025);
        assert_eq!(TierPolicy::year_of_day(0), 1970);
        let policy = TierPolicy::e_cny_default(2);
        // 2025-12-31T16:00:00Z is 2026-01-01 00:00 in UTC+8.
        let new_year_in_beijing = 1_767_196_800_000;
        assert_eq!(TierPolicy::year_of_day(policy.day_of(new_year_in_beijing)), 2026);
        assert_eq!(TierPolicy::year_of_day(policy.day_of(new_year_in_beijing - 1)), 2025);
    }

    #[test]
    fn names_carry_no_control_characters_or_non_characters() {
        for refused in
            ["Bank\u{1}", "Line\nbreak", "Tab\there", "Del\u{7f}", "C1\u{85}", "\u{FFFE}", "\u{FDD0}", "\u{10FFFF}"]
        {
            let refusal = check_name("bank", refused, Field::BankName).expect_err(refused);
            assert_eq!(refusal.reason, Reason::InvalidRegistration, "{refused:?}");
        }
        for accepted in ["Bank of Shenzhen", "深圳农商银行", "Café & Co. <Ltd>", "O'Brien \"Grocer\""] {
            check_name("bank", accepted, Field::BankName).expect(accepted);
        }
    }
}
