"""The gRPC client: ``SettledClient``.

On connecting, the client checks the server speaks protocol version 2 and
pins the ledger (PROTOCOL.md §13, step 2): the engine key and chain id given
out of band (or, without them, the ones the server reports, trusted on first
use), the genesis rebuilt from its fields, and block 0 checked against both.
Every receipt it hands back has been verified offline against those pins, and
every refusal is raised as a typed :class:`~settled_client.errors.Refused`.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import grpc

from ._proto.settled.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    alerts_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    payment_pb2,
    payment_pb2_grpc,
    reconciliation_pb2,
    reconciliation_pb2_grpc,
    wallet_pb2,
    wallet_pb2_grpc,
)
from .amounts import format_amount, parse_amount
from .encoding import (
    PROTOCOL_VERSION,
    TX_INPUTS_MAX,
    BlockHeader,
    Genesis,
    OutPoint,
    Output,
    Transaction,
    TxKind,
    check_bytes,
    mint,
    sha256,
    transfer,
)
from .errors import (
    InsufficientFunds,
    PinMismatch,
    ProtocolVersionError,
    ReceiptInvalid,
    Refused,
    StatementInvalid,
    VerificationError,
    refused_from_refusal,
    refused_from_rpc_error,
)
from .follow import BankFollower, Cursor
from .keys import SecretKey
from .merkle import merkle_root
from .receipts import Receipt, verify_header, verify_receipt
from .statements import StatementFormat, statement_format, verify_statement

DEFAULT_TIMEOUT = 30.0
"""Seconds a unary call may take by default (a payment waits until its block is durable)."""

BytesLike = bytes | str
"""32 bytes, raw or as 64 hex digits."""

_T = TypeVar("_T")


def _bytes32(value: BytesLike, what: str) -> bytes:
    raw = bytes.fromhex(value) if isinstance(value, str) else value
    return check_bytes(raw, 32, what)


def _reference(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def token_sha256(token: str) -> bytes:
    """What a bank's or terminal's credential is registered as: SHA-256 of the token.

    The token is hashed as it is sent, without surrounding whitespace (§9.3, §13.1).
    """
    return sha256(token.strip().encode())


@dataclass(frozen=True)
class LedgerInfo:
    """The ledger's public facts, from ``LedgerService.GetInfo``."""

    protocol_version: int
    engine_public_key: bytes
    chain_id: bytes
    genesis_hash: bytes
    currency: str
    currency_exponent: int
    issuer_public_keys: tuple[bytes, ...]
    issuer_threshold: int
    day_offset_minutes: int
    tip: BlockHeader
    next_sequence: int
    unspent_total_minor: int
    unspent_count: int

    @classmethod
    def from_proto(cls, message: ledger_pb2.GetInfoResponse) -> LedgerInfo:
        """From ``settled.v1.GetInfoResponse``."""
        return cls(
            protocol_version=message.protocol_version,
            engine_public_key=bytes(message.engine_public_key),
            chain_id=bytes(message.chain_id),
            genesis_hash=bytes(message.genesis_hash),
            currency=message.currency,
            currency_exponent=message.currency_exponent,
            issuer_public_keys=tuple(bytes(key) for key in message.issuer_public_keys),
            issuer_threshold=message.issuer_threshold,
            day_offset_minutes=message.day_offset_minutes,
            tip=BlockHeader.from_proto(message.tip),
            next_sequence=message.next_sequence,
            unspent_total_minor=message.unspent_total_minor,
            unspent_count=message.unspent_count,
        )

    @property
    def genesis(self) -> Genesis:
        """The genesis parameters, whose hash must be :attr:`genesis_hash`."""
        return Genesis(
            self.currency,
            self.currency_exponent,
            self.issuer_public_keys,
            self.issuer_threshold,
            self.engine_public_key,
        )

    def ledger_date(self, time_unix_ms: int) -> datetime.date:
        """The ledger day of a time (the calendar day at the ledger's UTC offset, §9.4)."""
        day = (time_unix_ms + self.day_offset_minutes * 60_000) // 86_400_000
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=day)


@dataclass(frozen=True)
class Unspent:
    """An unspent output and the outpoint that spends it (``ListUnspent``)."""

    outpoint: OutPoint
    output: Output

    @classmethod
    def from_proto(cls, message: ledger_pb2.UnspentOutput) -> Unspent:
        """From ``settled.v1.UnspentOutput``."""
        return cls(OutPoint.from_proto(message.outpoint), Output.from_proto(message.output))


@dataclass(frozen=True)
class Balance:
    """An address's unspent money as of the block at ``height`` (``GetBalance``)."""

    total_minor: int
    by_programme: dict[int, int]
    unspent_count: int
    height: int


@dataclass(frozen=True)
class Block:
    """A verified block: its signed header and its txids in sequence order."""

    header: BlockHeader
    txids: tuple[bytes, ...]


@dataclass(frozen=True)
class Confirmation:
    """A confirmed transaction with its verified receipt.

    ``duplicate`` is True when the transaction had been confirmed before this
    submission: the receipt is then the original one (§11).
    """

    transaction: Transaction
    receipt: Receipt
    duplicate: bool = False

    @property
    def txid(self) -> bytes:
        """The transaction's id."""
        return self.receipt.txid


@dataclass(frozen=True)
class StreamResult:
    """The answer to one payment of :meth:`SettledClient.submit_stream`.

    ``index`` is the payment's position in the submitted sequence (its
    ``client_id``). Exactly one of ``confirmation`` and ``refusal`` is set.
    """

    index: int
    transaction: Transaction
    confirmation: Confirmation | None = None
    refusal: Refused | None = None

    @property
    def ok(self) -> bool:
        """Whether the payment was confirmed."""
        return self.confirmation is not None


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer <token>`` to every call on the channel."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token.strip()}")

    def _with_token(self, details: Any) -> _CallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._with_token(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._with_token(client_call_details), request)

    def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._with_token(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._with_token(client_call_details), request_iterator)


def _is_loopback(target: str) -> bool:
    """Whether a ``host:port`` target names this machine (plaintext is fine there)."""
    if target.startswith("unix:"):
        return True
    host = target.rsplit(":", 1)[0] if target.count(":") == 1 or target.startswith("[") else target
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettledClient:
    """A client of one Settled engine, pinned to its engine key and chain id.

    Example::

        client = SettledClient("127.0.0.1:50051", token=token, pin_engine_key=KEY, pin_chain_id=CHAIN)
        confirmation = client.pay(wallet_key, merchant_address, "23.50")

    The raw gRPC stubs (``payments``, ``wallets``, ``ledger``, ``admin``,
    ``reconciliation``, ``alerts``) carry the credential too, for calls this
    class does not wrap; their errors are ``grpc.RpcError``, which
    :func:`~settled_client.errors.refused_from_rpc_error` types.
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        pin_engine_key: BytesLike | None = None,
        pin_chain_id: BytesLike | None = None,
        tls: bool | None = None,
        root_certificates: bytes | None = None,
        client_certificate: tuple[bytes, bytes] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        """Connects to ``target`` (``host:port``) and pins the ledger.

        Args:
            target: the server's gRPC address, e.g. ``"127.0.0.1:50051"``.
            token: the bearer token (a bank's, a terminal's, an operator's ...).
            pin_engine_key: the engine's public key, given out of band; without
                it, the key the server reports is trusted from now on.
            pin_chain_id: the ledger's chain id, given out of band; likewise.
            tls: use TLS. By default plaintext only on a loopback address.
            root_certificates: PEM roots to trust (TLS; default: the system's).
            client_certificate: ``(certificate PEM, private key PEM)`` for mutual TLS.
            timeout: seconds each unary call may take (None: no limit).

        Raises:
            ProtocolVersionError: the server speaks another protocol version.
            PinMismatch: the server's engine key or chain id is not the pinned one.
            VerificationError: its genesis or block 0 does not check out.
            Refused: the server refused ``GetInfo`` (e.g. ``Unauthenticated``).
        """
        self.target = target
        self.timeout = timeout
        use_tls = (not _is_loopback(target)) if tls is None else tls
        if use_tls:
            key, chain = (client_certificate[1], client_certificate[0]) if client_certificate else (None, None)
            credentials = grpc.ssl_channel_credentials(root_certificates, key, chain)
            self._channel = grpc.secure_channel(target, credentials)
        else:
            self._channel = grpc.insecure_channel(target)
        channel = grpc.intercept_channel(self._channel, _BearerToken(token)) if token else self._channel
        self.payments = payment_pb2_grpc.PaymentServiceStub(channel)
        self.wallets = wallet_pb2_grpc.WalletServiceStub(channel)
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)
        self.reconciliation = reconciliation_pb2_grpc.ReconciliationServiceStub(channel)
        self.alerts = alerts_pb2_grpc.AlertServiceStub(channel)
        try:
            self._pin(
                None if pin_engine_key is None else _bytes32(pin_engine_key, "the pinned engine key"),
                None if pin_chain_id is None else _bytes32(pin_chain_id, "the pinned chain id"),
            )
        except BaseException:
            self._channel.close()
            raise

    def _pin(self, engine_key: bytes | None, chain_id: bytes | None) -> None:
        info = LedgerInfo.from_proto(self._call(self.ledger.GetInfo, ledger_pb2.GetInfoRequest()))
        if info.protocol_version != PROTOCOL_VERSION:
            raise ProtocolVersionError(
                f"the server at {self.target} speaks protocol version {info.protocol_version}; "
                f"this SDK (settled-client 2.x) speaks version {PROTOCOL_VERSION} only"
            )
        if engine_key is not None and info.engine_public_key != engine_key:
            raise PinMismatch(
                f"the server's engine key {info.engine_public_key.hex()} is not the pinned key {engine_key.hex()}"
            )
        if chain_id is not None and info.chain_id != chain_id:
            raise PinMismatch(
                f"the server's chain id {info.chain_id.hex()} is not the pinned chain id {chain_id.hex()}"
            )
        if info.genesis.hash() != info.genesis_hash:
            raise VerificationError("the server's genesis fields do not hash to its genesis hash")
        self.engine_key: bytes = info.engine_public_key
        """The pinned engine key: every header and receipt must be signed by it."""
        self.chain_id: bytes = info.chain_id
        """The pinned chain id: every signature made or checked covers it."""
        self.genesis: Genesis = info.genesis
        """The ledger's genesis parameters (currency, issuer set, engine key)."""
        block0 = self._call(self.ledger.GetBlock, ledger_pb2.GetBlockRequest(height=0))
        header = BlockHeader.from_proto(block0.header)
        block_hash = verify_header(header, self.engine_key, self.chain_id)
        if header.height != 0 or header.previous_hash != bytes(32) or header.merkle_root != info.genesis_hash:
            raise VerificationError("block 0 is not this ledger's genesis block")
        if block_hash != self.chain_id:
            raise VerificationError("block 0 does not hash to the chain id")

    def _call(self, method: Callable[..., _T], request: Any) -> _T:
        """A unary call, its failure raised as a typed refusal."""
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise refused_from_rpc_error(error) from error

    def close(self) -> None:
        """Closes the connection (cancelling open streams)."""
        self._channel.close()

    def __enter__(self) -> SettledClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- ledger ------------------------------------------------------------

    def info(self, count_unspent: bool = False) -> LedgerInfo:
        """The ledger's facts now, with its tip's signed header verified.

        Raises:
            PinMismatch: the server now presents another engine key or chain id.
        """
        info = LedgerInfo.from_proto(
            self._call(self.ledger.GetInfo, ledger_pb2.GetInfoRequest(count_unspent=count_unspent))
        )
        if info.engine_public_key != self.engine_key or info.chain_id != self.chain_id:
            raise PinMismatch("the server now presents another engine key or chain id than the pinned ones")
        verify_header(info.tip, self.engine_key, self.chain_id)
        return info

    @property
    def currency_exponent(self) -> int:
        """The number of decimals of the ledger's currency."""
        return self.genesis.exponent

    def parse_amount(self, text: str) -> int:
        """Decimal text in the ledger's currency to minor units (§2)."""
        return parse_amount(text, self.currency_exponent)

    def format_amount(self, minor: int) -> str:
        """Minor units as decimal text in the ledger's currency (§2)."""
        return format_amount(minor, self.currency_exponent)

    def block(self, height: int) -> Block:
        """The block at ``height``, its signature and Merkle root over its txids verified.

        Raises:
            NotFound: no block at that height.
            VerificationError: the block does not check out.
        """
        response = self._call(self.ledger.GetBlock, ledger_pb2.GetBlockRequest(height=height))
        header = BlockHeader.from_proto(response.header)
        verify_header(header, self.engine_key, self.chain_id)
        txids = tuple(bytes(txid) for txid in response.txids)
        if header.height != height or len(txids) != header.tx_count:
            raise VerificationError(f"block {height}: another height or txid count than its header's")
        if height > 0 and merkle_root(txids) != header.merkle_root:
            raise VerificationError(f"block {height}: its txids do not hash to its Merkle root")
        return Block(header, txids)

    # -- wallets -----------------------------------------------------------

    def balance(self, address: BytesLike) -> Balance:
        """The unspent money of ``address``, in total and by programme."""
        response = self._call(
            self.wallets.GetBalance, wallet_pb2.GetBalanceRequest(address=_bytes32(address, "an address"))
        )
        return Balance(
            total_minor=response.total_minor,
            by_programme={b.programme_id: b.amount_minor for b in response.balances},
            unspent_count=response.unspent_count,
            height=response.height,
        )

    def unspent(self, address: BytesLike) -> list[Unspent]:
        """Every unspent output of ``address``, in outpoint order (all pages)."""
        address = _bytes32(address, "an address")
        outputs: list[Unspent] = []
        token = ""
        while True:
            response = self._call(
                self.wallets.ListUnspent, wallet_pb2.ListUnspentRequest(address=address, page_token=token)
            )
            outputs += [Unspent.from_proto(u) for u in response.outputs]
            token = response.next_page_token
            if not token:
                return outputs

    # -- payments ----------------------------------------------------------

    def build_payment(
        self,
        payer: SecretKey,
        payee: BytesLike,
        amount: int | str,
        *,
        programme_id: int = 0,
        reference: bytes | str = b"",
        inputs: Sequence[OutPoint | Unspent] | None = None,
    ) -> Transaction:
        """A signed transfer of ``amount`` from ``payer`` to ``payee``, change back to the payer.

        Args:
            payer: the wallet's key; it signs the witness message for the pinned chain.
            payee: the address paid.
            amount: minor units (an int) or decimal text in the ledger's currency.
            programme_id: the programme whose money pays (0: unrestricted).
            reference: up to 64 bytes (a str is UTF-8), e.g. an invoice number.
            inputs: the outputs to spend; an :class:`Unspent` is spent as given, a
                bare :class:`OutPoint` must be one of the payer's unspent outputs.
                By default the payer's largest outputs of the programme are picked
                (``ListUnspent``). Change goes back to the payer in every programme
                the inputs hold, so each programme is conserved.

        Raises:
            InsufficientFunds: the inputs (or 16 outputs) hold too little of the programme.
            ValueError: a non-positive amount, or an outpoint the payer does not hold unspent.
        """
        minor = self.parse_amount(amount) if isinstance(amount, str) else amount
        if minor < 1:
            raise ValueError("a payment is of at least 1 minor unit")
        payee = _bytes32(payee, "the payee's address")
        spent = self._inputs(payer.address, programme_id, minor, inputs)
        held: dict[int, int] = {}
        for unspent in spent:
            held[unspent.output.programme_id] = held.get(unspent.output.programme_id, 0) + unspent.output.amount_minor
        if held.get(programme_id, 0) < minor:
            raise InsufficientFunds(
                f"the inputs hold {held.get(programme_id, 0)} minor units of programme {programme_id}, not {minor}"
            )
        held[programme_id] -= minor
        outputs = [Output(payee, minor, programme_id)]
        outputs += [Output(payer.address, change, programme) for programme, change in held.items() if change > 0]
        tx = transfer([u.outpoint for u in spent], outputs, _reference(reference))
        return tx.signed(self.chain_id, [payer])

    def _inputs(
        self, payer: bytes, programme_id: int, minor: int, inputs: Sequence[OutPoint | Unspent] | None
    ) -> list[Unspent]:
        """The outputs a payment spends: those given, or picked largest first."""
        if inputs is not None and all(isinstance(i, Unspent) for i in inputs):
            return [i for i in inputs if isinstance(i, Unspent)]
        held = {u.outpoint: u for u in self.unspent(payer)}
        if inputs is not None:
            missing = [str(i) for i in inputs if isinstance(i, OutPoint) and i not in held]
            if missing:
                raise ValueError(f"not unspent outputs of the payer: {', '.join(missing)}")
            return [i if isinstance(i, Unspent) else held[i] for i in inputs]
        candidates = sorted(
            (u for u in held.values() if u.output.programme_id == programme_id),
            key=lambda u: (-u.output.amount_minor, u.outpoint.txid, u.outpoint.index),
        )
        picked: list[Unspent] = []
        total = 0
        for unspent in candidates[:TX_INPUTS_MAX]:
            if total >= minor:
                break
            picked.append(unspent)
            total += unspent.output.amount_minor
        if total < minor:
            raise InsufficientFunds(
                f"{payer.hex()} holds {total} minor units of programme {programme_id} in its "
                f"{TX_INPUTS_MAX} largest outputs, not {minor}"
            )
        return picked

    def pay(
        self,
        payer: SecretKey,
        payee: BytesLike,
        amount: int | str,
        *,
        programme_id: int = 0,
        reference: bytes | str = b"",
        inputs: Sequence[OutPoint | Unspent] | None = None,
    ) -> Confirmation:
        """Builds a payment (:meth:`build_payment`) and submits it (:meth:`submit`)."""
        return self.submit(
            self.build_payment(payer, payee, amount, programme_id=programme_id, reference=reference, inputs=inputs)
        )

    def submit(self, tx: Transaction) -> Confirmation:
        """Submits a signed transaction and waits until it is confirmed.

        A mint goes to ``AdminService.Mint``, anything else to
        ``PaymentService.SubmitPayment``. Resubmitting the same transaction is
        safe (§11): after a timeout or ``Unavailable``, submit it again.

        Raises:
            Refused: the typed refusal (``Declined``, ``InvalidRequest``, ...).
            ReceiptInvalid: the receipt does not verify against the pins.
        """
        if tx.kind is TxKind.MINT:
            minted = self._call(self.admin.Mint, admin_pb2.MintRequest(transaction=tx.to_proto()))
            return self._confirmed(tx, minted.receipt, minted.duplicate)
        paid = self._call(self.payments.SubmitPayment, payment_pb2.SubmitPaymentRequest(transaction=tx.to_proto()))
        return self._confirmed(tx, paid.receipt, paid.duplicate)

    def _confirmed(self, tx: Transaction, receipt: ledger_pb2.Receipt, duplicate: bool) -> Confirmation:
        """The confirmation of ``tx``, once its receipt verifies and names its txid."""
        verified = verify_receipt(receipt, self.engine_key, self.chain_id)
        if verified.txid != tx.txid:
            raise ReceiptInvalid(f"the receipt is for txid {verified.txid.hex()}, not {tx.txid.hex()}")
        return Confirmation(tx, verified, duplicate)

    def submit_stream(self, transactions: Iterable[Transaction]) -> Iterator[StreamResult]:
        """Submits payments on one ``SubmitPayments`` stream, yielding answers as they come.

        Answers come in any order (payments of one stream are not sequenced in
        submission order: send a payment spending another's output only after
        that one's answer). Each is matched to its payment by ``client_id``, the
        payment's position in ``transactions``. A refused payment is a result
        with ``refusal`` set; it does not end the stream.

        Raises:
            Refused: the stream itself failed (e.g. ``Unauthenticated``).
            ReceiptInvalid: a receipt does not verify against the pins.
        """
        sent: dict[int, Transaction] = {}

        def requests() -> Iterator[payment_pb2.SubmitPaymentsRequest]:
            for index, tx in enumerate(transactions):
                sent[index] = tx
                yield payment_pb2.SubmitPaymentsRequest(client_id=index, transaction=tx.to_proto())

        call = self.payments.SubmitPayments(requests())
        try:
            for response in call:
                tx = sent.pop(response.client_id, None)
                if tx is None:
                    raise VerificationError(f"an answer for client_id {response.client_id}, which is not pending")
                if response.txid and bytes(response.txid) != tx.txid:
                    raise VerificationError(f"the answer for client_id {response.client_id} names another txid")
                if response.HasField("receipt"):
                    confirmation = self._confirmed(tx, response.receipt, response.duplicate)
                    yield StreamResult(response.client_id, tx, confirmation=confirmation)
                else:
                    refusal = refused_from_refusal(response.refusal)
                    yield StreamResult(response.client_id, tx, refusal=refusal)
        except grpc.RpcError as error:
            raise refused_from_rpc_error(error) from error
        finally:
            call.cancel()
        if sent:
            raise VerificationError(f"the stream ended without answering payments {sorted(sent)}")

    def mint(self, outputs: Sequence[Output], issuer_keys: Iterable[SecretKey], reference: bytes | str) -> Confirmation:
        """Mints ``outputs``, signed by issuer keys (at least the issuer threshold).

        ``reference`` makes the mint unique, and pays once per ledger: use one per
        disbursement row. Submitting the same mint again answers its receipt.
        """
        tx = mint(outputs, _reference(reference)).signed(self.chain_id, issuer_keys)
        return self.submit(tx)

    def payment(self, txid: BytesLike) -> Confirmation | None:
        """A confirmed transaction with its verified receipt, or None (``PAYMENT_STATUS_UNKNOWN``)."""
        txid = _bytes32(txid, "a txid")
        response = self._call(self.payments.GetPayment, payment_pb2.GetPaymentRequest(txid=txid))
        if response.status != payment_pb2.PAYMENT_STATUS_CONFIRMED:
            return None
        tx = Transaction.from_proto(response.transaction)
        if tx.txid != txid:
            raise VerificationError(f"the stored transaction hashes to {tx.txid.hex()}, not {txid.hex()}")
        return self._confirmed(tx, response.receipt, False)

    # -- registry ----------------------------------------------------------

    def register_bank(self, bank_id: str, name: str, tokens: Iterable[str] = ()) -> int:
        """Registers a bank (operator) that authenticates with ``tokens``; the block height."""
        bank = admin_pb2.Bank(id=bank_id, name=name, credential_sha256=[token_sha256(t) for t in tokens])
        response = self._call(self.admin.RegisterBank, admin_pb2.RegisterBankRequest(bank=bank))
        return int(response.height)

    def register_wallet(self, address: BytesLike, bank_id: str, tier: int = 1) -> int:
        """Registers a wallet at a bank, in a tier of the engine's table (operator); the block height."""
        wallet = admin_pb2.Wallet(address=_bytes32(address, "a wallet address"), bank_id=bank_id, tier=tier)
        response = self._call(self.admin.RegisterWallet, admin_pb2.RegisterWalletRequest(wallet=wallet))
        return int(response.height)

    # -- banks -------------------------------------------------------------

    def follow(
        self,
        bank: str = "",
        cursor: Cursor | None = None,
        *,
        until_height: int | None = None,
        reconnect_delay: float | None = None,
    ) -> BankFollower:
        """Follows a bank's movements and verified checkpoints (``Subscribe``, §9.4).

        Iterate over the result to get :class:`~settled_client.follow.Movement` and
        :class:`~settled_client.follow.Checkpoint` items; ``follower.cursor`` is
        where it stands after the last item, to persist and resume from.

        Args:
            bank: the bank's id (empty: the calling bank; an operator must name one).
            cursor: where to resume (default: from genesis). Its bank is the one followed.
            until_height: stop after the checkpoint of this height (default: follow live).
            reconnect_delay: when set, reconnect after this many seconds if the
                stream breaks (``Unavailable``); by default the break is raised.
        """
        start = cursor if cursor is not None else Cursor(bank)
        if cursor is not None and bank and cursor.bank != bank:
            raise ValueError(f"the cursor follows bank {cursor.bank!r}, not {bank!r}")
        return BankFollower(
            self.reconciliation,
            engine_key=self.engine_key,
            chain_id=self.chain_id,
            genesis_hash=self.genesis.hash(),
            cursor=start,
            until_height=until_height,
            reconnect_delay=reconnect_delay,
        )

    def statement(
        self, bank: str, date: datetime.date | str, format: StatementFormat | str = StatementFormat.CAMT053
    ) -> bytes:
        """A bank's statement of one ledger day, reassembled from the ``GetStatement`` stream and verified.

        The document is checked with :func:`~settled_client.statements.verify_statement`
        (it holds together: balances, summary, entries, amounts in the ledger's
        exponent) and against the request: the bank asked for (when named), the
        date asked for and the ledger's currency.

        Args:
            bank: the bank's id (empty: the calling bank).
            date: the ledger day (``YYYY-MM-DD``); see :meth:`LedgerInfo.ledger_date`.
            format: ``"camt053"`` (statement), ``"camt052"`` (intraday report) or ``"csv"``.

        Raises:
            Refused: e.g. ``InvalidRequest`` for a malformed date; a stream that
                fails midway delivered no statement.
            StatementInvalid: the document does not hold together, or is of
                another bank, day or currency than asked.
        """
        kind = statement_format(format)
        day = date if isinstance(date, str) else date.isoformat()
        request = reconciliation_pb2.GetStatementRequest(bank=bank, date=day, format=f"STATEMENT_FORMAT_{kind.name}")
        try:
            document = b"".join(chunk.data for chunk in self.reconciliation.GetStatement(request, timeout=self.timeout))
        except grpc.RpcError as error:
            raise refused_from_rpc_error(error) from error
        checked = verify_statement(document, kind, self.genesis.exponent)
        if bank and checked.bank_id != bank:
            raise StatementInvalid(f"the statement is bank {checked.bank_id}'s, not bank {bank}'s as asked")
        if checked.date != day:
            raise StatementInvalid(f"the statement is of {checked.date}, not of {day} as asked")
        if checked.currency != self.genesis.currency:
            raise StatementInvalid(f"the statement is in {checked.currency}, the ledger in {self.genesis.currency}")
        return document
