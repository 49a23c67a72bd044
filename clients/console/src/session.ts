/**
 * Where the console keeps what it must remember: the token in
 * sessionStorage only (gone when the tab closes, never in localStorage nor
 * a cookie), and the pinned engine key and chain id in localStorage (the
 * ledger this browser trusts, kept across sessions), and how a ledger's
 * facts are compared with the pins.
 *
 * @module
 */
import { fromHex, toHex } from '@settled/client/verify';

import type { LedgerInfo } from './api.js';

const TOKEN_KEY = 'settled.console.token';
const PINS_KEY = 'settled.console.pins';

/** The engine key and chain id receipts are checked against, and how they came to be pinned. */
export interface Pins {
  readonly engineKey: Uint8Array;
  readonly chainId: Uint8Array;
  /** `first-use`: taken from the server at the first sign-in; `given`: typed in at sign-in. */
  readonly how: 'first-use' | 'given';
  /** When they were pinned, ISO 8601. */
  readonly since: string;
}

export function loadToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The pins of this browser, or null (none yet, or unreadable). */
export function loadPins(): Pins | null {
  const text = localStorage.getItem(PINS_KEY);
  if (text === null) {
    return null;
  }
  try {
    const stored: unknown = JSON.parse(text);
    if (typeof stored !== 'object' || stored === null) {
      return null;
    }
    const { engineKey, chainId, how, since } = stored as Record<string, unknown>;
    if (!isHex32(engineKey) || !isHex32(chainId) || (how !== 'first-use' && how !== 'given') || typeof since !== 'string') {
      return null;
    }
    return { engineKey: fromHex(engineKey), chainId: fromHex(chainId), how, since };
  } catch {
    return null;
  }
}

export function savePins(pins: Pins): void {
  localStorage.setItem(
    PINS_KEY,
    JSON.stringify({ engineKey: toHex(pins.engineKey), chainId: toHex(pins.chainId), how: pins.how, since: pins.since }),
  );
}

export function forgetPins(): void {
  localStorage.removeItem(PINS_KEY);
}

/** Whether `value` is 32 bytes of hex (64 digits, either case). */
export function isHex32(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-fA-F]{64}$/.test(value);
}

/** What of the server's facts disagrees with the pins (empty: nothing). */
export function pinMismatches(pins: Pins, info: LedgerInfo): string[] {
  const problems: string[] = [];
  if (toHex(info.engineKey) !== toHex(pins.engineKey)) {
    problems.push(`the server's engine key ${toHex(info.engineKey)} is not the pinned ${toHex(pins.engineKey)}`);
  }
  if (toHex(info.chainId) !== toHex(pins.chainId)) {
    problems.push(`the server's chain id ${toHex(info.chainId)} is not the pinned ${toHex(pins.chainId)}`);
  }
  return problems;
}
