/**
 * Every bound of the console, in one place: how much it reads, holds, draws
 * and waits. Each is checked where the thing is received or kept.
 *
 * @module
 */

/** Server streams open at once per tab (a page closes its own when left). */
export const STREAMS_OPEN_MAX = 2;

/** The first wait before calling again after the server went away... */
export const RETRY_DELAY_MIN_MS = 500;
/** ...doubled after each failed attempt, up to this. */
export const RETRY_DELAY_MAX_MS = 10_000;

/** A unary call not answered by then is abandoned (and retried as the server being away). */
export const UNARY_TIMEOUT_MS = 15_000;

/** The largest gRPC-Web frame accepted from the server (its messages are at most 64 KiB). */
export const FRAME_BYTES_MAX = 4 * 1024 * 1024;

/** The trailers of one response, at most (names and values together). */
export const TRAILER_BYTES_MAX = 16 * 1024;

/** How often a signed-in tab asks the server who its credential is (a revoked one ends the session). */
export const SESSION_CHECK_INTERVAL_MS = 10_000;

/** The ledger page's chart: how far back it keeps the stream's samples... */
export const LEDGER_HISTORY_MS = 5 * 60_000;
/** ...and how many samples at most (the server sends at most two a second). */
export const LEDGER_SAMPLES_MAX = 2 * 5 * 60;

/** A programme's figures are fetched again on a new tip at most this often. */
export const PROGRAMME_REFRESH_MIN_INTERVAL_MS = 2_000;

/** Alerts kept on the alerts page; older ones are dropped from the list (not from the server). */
export const ALERTS_SHOWN_MAX = 500;

/** Alerts announced to assistive technology per batch; more are summed up as a count. */
export const ALERTS_ANNOUNCED_MAX = 3;

/** Pages read of a paged listing (ListProgrammes, ListBanks) at most. */
export const LIST_PAGES_MAX = 20;
/** Items asked for per page of a listing (the server's maximum is 1,000). */
export const LIST_PAGE_SIZE = 1_000;

/** Bars drawn in one chart at most; the table beside it has every row. */
export const CHART_BARS_MAX = 92;

/** Characters of a server's message shown in the page at most. */
export const MESSAGE_CHARS_MAX = 300;
