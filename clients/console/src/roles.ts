/**
 * Which pages the navigation offers each role, and how a refusal is said.
 * The navigation only hides what a role cannot read: the server decides
 * every call (a page opened by its address still asks, and says what the
 * server refused). The table follows the services' role checks
 * (src/api/*.rs, README "Credentials and roles").
 *
 * @module
 */
import type { Role } from './api.js';

/** The console's pages, in the navigation's order. */
export type PageName = 'ledger' | 'programmes' | 'alerts' | 'payment' | 'banks';

export const PAGES: readonly { readonly name: PageName; readonly label: string }[] = [
  { name: 'ledger', label: 'Ledger' },
  { name: 'programmes', label: 'Programmes' },
  { name: 'alerts', label: 'Alerts' },
  { name: 'payment', label: 'Payment' },
  { name: 'banks', label: 'Banks' },
];

const EVERY_PAGE: readonly PageName[] = ['ledger', 'programmes', 'alerts', 'payment', 'banks'];

const PAGES_OF: Readonly<Record<Role, readonly PageName[]>> = {
  operator: EVERY_PAGE,
  auditor: EVERY_PAGE,
  development: EVERY_PAGE,
  issuer: EVERY_PAGE,
  // The payments its alerts name, not the banks' positions.
  programme_admin: ['ledger', 'programmes', 'alerts', 'payment'],
  // Their own customers' payments and their own net position.
  bank: ['ledger', 'payment', 'banks'],
  terminal: ['ledger', 'payment'],
  unknown: ['ledger'],
};

/** The pages the navigation offers `role`. */
export function pagesOf(role: Role): readonly PageName[] {
  return PAGES_OF[role];
}

/** Whether `role` may list the banks (ListBanks: operator and auditor). */
export function mayListBanks(role: Role): boolean {
  return role === 'operator' || role === 'auditor' || role === 'development';
}

const POSSESSIVE: Readonly<Record<Role, string>> = {
  operator: "an operator's",
  issuer: "an issuer's",
  programme_admin: "a programme administrator's",
  auditor: "an auditor's",
  bank: "a bank's",
  terminal: "a terminal's",
  development: "a development",
  unknown: 'this',
};

/** How the role reads in a sentence: `a bank` (`bank-a`). */
export function roleLabel(role: Role, id: string): string {
  const names: Record<Role, string> = {
    operator: 'operator',
    issuer: 'issuer',
    programme_admin: 'programme administrator',
    auditor: 'auditor',
    bank: `bank ${id}`,
    terminal: `terminal ${id}`,
    development: 'development (every role)',
    unknown: 'unknown role',
  };
  return names[role];
}

/** `a bank's credential may not read integrity alerts`. */
export function deniedText(role: Role, what: string): string {
  return `${POSSESSIVE[role]} credential may not read ${what}`;
}
