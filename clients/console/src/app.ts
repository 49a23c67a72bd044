/**
 * The console's frame: the session (who is signed in, the ledger's facts,
 * the pins), the navigation, the banners, the routes, and the two ways a
 * page talks to the server: {@link PageContext.retrying} for calls and
 * {@link PageContext.live} for streams, both of which wait out a server
 * that went away (the banner says so) and end the session on a credential
 * the server no longer accepts. Pages are functions of a context; leaving
 * a page aborts its signal, which closes its streams.
 *
 * @module
 */
import { Api, type Caller, type LedgerInfo } from './api.js';
import { type Child, h, notice, replace } from './dom.js';
import { clip } from './format.js';
import { Code, codeName, GrpcError, Transport } from './grpcweb.js';
import {
  MESSAGE_CHARS_MAX,
  RETRY_DELAY_MAX_MS,
  RETRY_DELAY_MIN_MS,
  SESSION_CHECK_INTERVAL_MS,
  STREAMS_OPEN_MAX,
} from './limits.js';
import { deniedText, type PageName, PAGES, pagesOf, roleLabel } from './roles.js';
import { clearToken, loadPins, loadToken, pinMismatches, type Pins, savePins, saveToken } from './session.js';

/** A signed-in session. */
export interface Session {
  readonly token: string;
  readonly api: Api;
  readonly caller: Caller;
  readonly info: LedgerInfo;
  readonly pins: Pins;
}

/** What a page gets: the session, its place, its lifetime, and the ways to call. */
export interface PageContext {
  readonly session: Session;
  readonly main: HTMLElement;
  /** Aborted when the page is left. */
  readonly signal: AbortSignal;
  /** The route's segments after the page's name (`#/programmes/7` → `['7']`). */
  readonly path: readonly string[];
  readonly query: URLSearchParams;
  /**
   * `call`'s answer, calling again with backoff while the server is away
   * (the banner shows meanwhile). Rejects with the {@link GrpcError} of any
   * other refusal, or CANCELLED once the page is left.
   */
  retrying<T>(source: string, call: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /**
   * Keeps a server stream open while the page is: `open` is called again
   * with backoff whenever the stream breaks; `onItem` gets each message;
   * `onRefused` a refusal that calling again will not change.
   */
  live<T>(
    source: string,
    open: (signal: AbortSignal, opened: () => void) => AsyncIterable<T>,
    onItem: (item: T) => void,
    onRefused: (error: GrpcError) => void,
  ): void;
  /** The in-page message for a refusal of `what` (`integrity alerts`). */
  problem(error: unknown, what: string): HTMLElement;
  /** Reports that the ledger no longer checks out against the pins (shown as a banner). */
  distrust(problem: string): void;
}

/** A page: draws itself into `context.main`. */
export type Page = (context: PageContext) => void;

/** Codes that mean "the server is away or overloaded": wait and call again. */
function retryable(error: unknown): boolean {
  return (
    error instanceof GrpcError &&
    (error.code === Code.UNAVAILABLE || error.code === Code.DEADLINE_EXCEEDED || error.code === Code.RESOURCE_EXHAUSTED)
  );
}

/** Why calling again: the server is away, or it is there and refused for now (RESOURCE_EXHAUSTED). */
function trouble(error: unknown): Trouble {
  return error instanceof GrpcError && error.code === Code.RESOURCE_EXHAUSTED ? 'busy' : 'lost';
}

/** The wait before calling again: the backoff's, or longer when the server asked for longer (RetryInfo). */
function waitAfter(error: unknown, delay: number): number {
  const asked = error instanceof GrpcError ? (error.details.retryAfterMs ?? 0) : 0;
  return Math.min(Math.max(delay, asked), RETRY_DELAY_MAX_MS);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

function cancelled(): GrpcError {
  return new GrpcError(Code.CANCELLED, 'the page was left');
}

/** The next wait of the backoff after `delay`. */
function backoff(delay: number): number {
  return Math.min(delay * 2, RETRY_DELAY_MAX_MS);
}

type Trouble = 'lost' | 'busy';

/**
 * Which sources are calling again, and why: the banner shows while any is.
 * Sources are named `<page id>:<what>`, and forgotten with their page.
 */
class Connection {
  readonly #troubled = new Map<string, Trouble>();
  readonly #banner: HTMLElement;
  #shown: Trouble | null = null;

  constructor(banner: HTMLElement) {
    this.#banner = banner;
  }

  lost(source: string, why: Trouble = 'lost'): void {
    this.#troubled.set(source, why);
    this.#render();
  }

  back(source: string): void {
    if (this.#troubled.delete(source)) {
      this.#render();
    }
  }

  forget(prefix: string): void {
    for (const source of [...this.#troubled.keys()]) {
      if (source.startsWith(prefix)) {
        this.#troubled.delete(source);
      }
    }
    this.#render();
  }

  #render(): void {
    const troubles = [...this.#troubled.values()];
    const now: Trouble | null = troubles.includes('lost') ? 'lost' : troubles.length > 0 ? 'busy' : null;
    if (now === this.#shown) {
      return;
    }
    this.#shown = now;
    if (now === 'lost') {
      replace(this.#banner, h('p', { class: 'banner banner-warning', id: 'connection-lost' }, 'Connection to the server lost; retrying…'));
    } else if (now === 'busy') {
      replace(this.#banner, h('p', { class: 'banner banner-warning', id: 'server-busy' }, 'The server is busy and refused for now; retrying…'));
    } else {
      replace(this.#banner);
    }
  }
}

/**
 * Server streams held by the pages, at most {@link STREAMS_OPEN_MAX}; a
 * stream's place is given back the moment its page is left (its fetch is
 * aborted then). The count is on `<html data-streams>`, for the tests.
 */
class StreamSlots {
  #open = 0;

  acquire(source: string, signal: AbortSignal): () => void {
    if (this.#open >= STREAMS_OPEN_MAX) {
      throw new Error(`${source}: a page would open more than ${STREAMS_OPEN_MAX} server streams`);
    }
    this.#open += 1;
    this.#show();
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        this.#open -= 1;
        this.#show();
        signal.removeEventListener('abort', release);
      }
    };
    signal.addEventListener('abort', release, { once: true });
    return release;
  }

  #show(): void {
    document.documentElement.dataset['streams'] = String(this.#open);
  }
}

/** What the calls of one page share: its sources' prefix, its lifetime, the banner, and the end of the session. */
interface CallScope {
  readonly pageId: string;
  readonly signal: AbortSignal;
  readonly connection: Connection;
  /** Ends the session: the server no longer accepts the credential. */
  readonly expire: () => void;
}

/** {@link PageContext.retrying}. */
async function retryingCall<T>(scope: CallScope, source: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { signal, connection } = scope;
  const name = scope.pageId + source;
  for (let delay = RETRY_DELAY_MIN_MS; ; delay = backoff(delay)) {
    if (signal.aborted) {
      throw cancelled();
    }
    try {
      const answer = await call(signal);
      connection.back(name);
      return answer;
    } catch (error) {
      if (signal.aborted) {
        throw cancelled();
      }
      if (!retryable(error)) {
        connection.back(name);
        if (error instanceof GrpcError && error.code === Code.UNAUTHENTICATED) {
          scope.expire();
        }
        throw error;
      }
      connection.lost(name, trouble(error));
      await sleep(waitAfter(error, delay), signal);
    }
  }
}

/** {@link PageContext.live}: runs until the page is left or the server refuses for good. */
async function liveStream<T>(
  scope: CallScope,
  source: string,
  open: (signal: AbortSignal, opened: () => void) => AsyncIterable<T>,
  onItem: (item: T) => void,
  onRefused: (error: GrpcError) => void,
): Promise<void> {
  const { signal, connection } = scope;
  const name = scope.pageId + source;
  let delay = RETRY_DELAY_MIN_MS;
  const opened = (): void => {
    connection.back(name);
    delay = RETRY_DELAY_MIN_MS;
  };
  while (!signal.aborted) {
    let failure: unknown;
    try {
      for await (const item of open(signal, opened)) {
        opened();
        onItem(item);
      }
      // The server ends these streams only when it stops.
      failure = new GrpcError(Code.UNAVAILABLE, 'the stream ended');
    } catch (error) {
      failure = error;
    }
    if (signal.aborted) {
      return;
    }
    if (!retryable(failure)) {
      connection.back(name);
      if (failure instanceof GrpcError && failure.code === Code.UNAUTHENTICATED) {
        scope.expire();
      } else {
        onRefused(failure instanceof GrpcError ? failure : new GrpcError(Code.UNKNOWN, describeError(failure)));
      }
      return;
    }
    connection.lost(name, trouble(failure));
    await sleep(waitAfter(failure, delay), signal);
    delay = backoff(delay);
  }
}

/** Routes: `#/<page>/<segments>?<query>`. */
export interface Route {
  readonly page: PageName | 'signin';
  readonly path: readonly string[];
  readonly query: URLSearchParams;
}

export function parseRoute(hash: string): Route | null {
  const text = hash.startsWith('#/') ? hash.slice(2) : hash.startsWith('#') ? hash.slice(1) : hash;
  const question = text.indexOf('?');
  const pathText = question === -1 ? text : text.slice(0, question);
  const query = new URLSearchParams(question === -1 ? '' : text.slice(question + 1));
  const [first, ...rest] = pathText.split('/').filter((segment) => segment !== '').map(decodeURIComponent);
  if (first === undefined) {
    return null;
  }
  if (first === 'signin' || PAGES.some((page) => page.name === first)) {
    return { page: first as PageName | 'signin', path: rest, query };
  }
  return null;
}

/** Pins typed in at sign-in. */
export interface GivenPins {
  readonly engineKey: Uint8Array;
  readonly chainId: Uint8Array;
}

/** The elements of the frame (index.html). */
interface Frame {
  readonly main: HTMLElement;
  readonly nav: HTMLElement;
  readonly sessionBox: HTMLElement;
  readonly connectionBanner: HTMLElement;
  readonly trustBanner: HTMLElement;
}

/** The sign-in page: given the app to sign in through, and why the last session ended (if it did). */
export type SignInPage = (app: App, main: HTMLElement, reason: string | null) => void;

/** The console. */
export class App {
  readonly #frame: Frame;
  readonly #pages: Readonly<Record<PageName, Page>>;
  readonly #signInPage: SignInPage;
  readonly #connection: Connection;
  readonly #slots = new StreamSlots();
  #session: Session | null = null;
  #page: AbortController | null = null;
  #pageCount = 0;
  #sessionCheck: AbortController | null = null;
  #distrust: string[] = [];

  constructor(frame: Frame, pages: Readonly<Record<PageName, Page>>, signInPage: SignInPage) {
    this.#frame = frame;
    this.#pages = pages;
    this.#signInPage = signInPage;
    this.#connection = new Connection(frame.connectionBanner);
  }

  /** Resumes the tab's session, if it has one, and shows the page of the address. */
  async start(): Promise<void> {
    window.addEventListener('hashchange', () => this.#show(true));
    const token = loadToken();
    if (token === null) {
      this.#show(false);
      return;
    }
    const signal = new AbortController().signal;
    for (let delay = RETRY_DELAY_MIN_MS; ; delay = backoff(delay)) {
      try {
        await this.#establish(token, null);
        this.#connection.back('start');
        break;
      } catch (error) {
        if (retryable(error)) {
          this.#connection.lost('start', trouble(error));
          await sleep(waitAfter(error, delay), signal);
          continue;
        }
        this.#end(error instanceof GrpcError && error.code === Code.UNAUTHENTICATED ? UNACCEPTED : describeError(error));
        return;
      }
    }
    this.#show(false);
  }

  /**
   * Signs in with `token`: who it is, the ledger's facts, the pins (given,
   * kept from before, or taken now on first use).
   *
   * @throws GrpcError when the server refuses the credential or cannot be reached.
   */
  async signIn(token: string, given: GivenPins | null): Promise<void> {
    await this.#establish(token, given);
    saveToken(token);
    const route = parseRoute(location.hash);
    const allowed = pagesOf(this.#session?.caller.role ?? 'unknown');
    const target = route !== null && route.page !== 'signin' ? location.hash : `#/${allowed[0] ?? 'ledger'}`;
    if (location.hash === target) {
      this.#show(true);
    } else {
      location.hash = target;
    }
  }

  signOut(): void {
    this.#end(null);
  }

  async #establish(token: string, given: GivenPins | null): Promise<void> {
    const api = new Api(new Transport({ baseUrl: '', token }));
    const caller = await api.caller();
    const info = await api.info();
    const now = new Date().toISOString();
    let pins = loadPins();
    if (given !== null) {
      pins = { engineKey: given.engineKey, chainId: given.chainId, how: 'given', since: now };
      savePins(pins);
    } else if (pins === null) {
      pins = { engineKey: info.engineKey, chainId: info.chainId, how: 'first-use', since: now };
      savePins(pins);
    }
    this.#session = { token, api, caller, info, pins };
    this.#distrust = pinMismatches(pins, info);
    this.#renderTrust();
    this.#renderChrome();
    this.#watchSession(api);
  }

  /** Ends the session: back to sign-in, with `reason` said there. */
  #end(reason: string | null): void {
    clearToken();
    this.#session = null;
    this.#sessionCheck?.abort();
    this.#sessionCheck = null;
    this.#distrust = [];
    this.#renderTrust();
    this.#renderChrome();
    this.#leavePage();
    this.#connection.forget('');
    if (location.hash !== '#/signin') {
      history.replaceState(null, '', '#/signin');
    }
    this.#signInPage(this, this.#mainFor('Sign in'), reason);
  }

  /** Asks the server who the credential is, every {@link SESSION_CHECK_INTERVAL_MS}: a revoked one ends the session. */
  #watchSession(api: Api): void {
    this.#sessionCheck?.abort();
    const controller = new AbortController();
    this.#sessionCheck = controller;
    const { signal } = controller;
    void (async () => {
      let delay = SESSION_CHECK_INTERVAL_MS;
      for (;;) {
        await sleep(delay, signal);
        if (signal.aborted) {
          return;
        }
        try {
          await api.caller(signal);
          this.#connection.back('session');
          delay = SESSION_CHECK_INTERVAL_MS;
        } catch (error) {
          if (signal.aborted) {
            return;
          }
          if (error instanceof GrpcError && error.code === Code.UNAUTHENTICATED) {
            this.#end(UNACCEPTED);
            return;
          }
          if (retryable(error)) {
            this.#connection.lost('session', trouble(error));
            delay = waitAfter(error, delay >= SESSION_CHECK_INTERVAL_MS ? RETRY_DELAY_MIN_MS : backoff(delay));
          }
        }
      }
    })();
  }

  #leavePage(): void {
    this.#page?.abort();
    this.#page = null;
  }

  /** Clears `<main>` for a page titled `title`. */
  #mainFor(title: string): HTMLElement {
    document.title = `${title} — Settled console`;
    replace(this.#frame.main);
    return this.#frame.main;
  }

  /** Shows the page of the address (moving focus to its heading when `moved`). */
  #show(moved: boolean): void {
    const route = parseRoute(location.hash);
    const session = this.#session;
    if (session === null) {
      if (route?.page !== 'signin') {
        history.replaceState(null, '', '#/signin');
      }
      this.#leavePage();
      this.#signInPage(this, this.#mainFor('Sign in'), null);
      return;
    }
    if (route === null || route.page === 'signin') {
      location.hash = `#/${pagesOf(session.caller.role)[0] ?? 'ledger'}`;
      return;
    }
    this.#leavePage();
    const controller = new AbortController();
    this.#page = controller;
    this.#pageCount += 1;
    const pageId = `page${this.#pageCount}:`;
    controller.signal.addEventListener('abort', () => this.#connection.forget(pageId), { once: true });
    const label = PAGES.find((page) => page.name === route.page)?.label ?? route.page;
    const main = this.#mainFor(label);
    this.#renderNav(route.page);
    this.#pages[route.page](this.#context(session, main, controller.signal, pageId, route));
    if (moved) {
      main.querySelector('h1')?.focus();
    }
  }

  #context(session: Session, main: HTMLElement, signal: AbortSignal, pageId: string, route: Route): PageContext {
    const scope: CallScope = { pageId, signal, connection: this.#connection, expire: () => this.#end(UNACCEPTED) };
    return {
      session,
      main,
      signal,
      path: route.path,
      query: route.query,
      retrying: (source, call) => retryingCall(scope, source, call),
      live: (source, open, onItem, onRefused) => {
        const release = this.#slots.acquire(pageId + source, signal);
        void liveStream(scope, source, open, onItem, onRefused).finally(release);
      },
      problem: (error, what) => problemNotice(session, error, what),
      distrust: (problem) => {
        if (!this.#distrust.includes(problem)) {
          this.#distrust.push(problem);
          this.#renderTrust();
        }
      },
    };
  }

  #renderNav(current: PageName | null): void {
    const session = this.#session;
    if (session === null) {
      replace(this.#frame.nav);
      return;
    }
    const allowed = pagesOf(session.caller.role);
    replace(
      this.#frame.nav,
      h(
        'ul',
        {},
        PAGES.filter((page) => allowed.includes(page.name)).map((page) =>
          h(
            'li',
            {},
            h('a', { href: `#/${page.name}`, 'aria-current': page.name === current ? 'page' : undefined }, page.label),
          ),
        ),
      ),
    );
  }

  #renderChrome(): void {
    const session = this.#session;
    this.#renderNav(null);
    if (session === null) {
      replace(this.#frame.sessionBox);
      return;
    }
    replace(
      this.#frame.sessionBox,
      h('span', { class: 'who' }, 'Signed in as ', h('strong', {}, roleLabel(session.caller.role, session.caller.id))),
      ' ',
      h('button', { type: 'button', class: 'button-quiet', onclick: () => this.signOut() }, 'Sign out'),
    );
  }

  #renderTrust(): void {
    if (this.#distrust.length === 0) {
      replace(this.#frame.trustBanner);
      return;
    }
    replace(
      this.#frame.trustBanner,
      h(
        'div',
        { class: 'banner banner-error', role: 'alert', id: 'pin-mismatch' },
        h('strong', {}, 'This server does not match the pinned ledger. '),
        this.#distrust.join('; '),
        '. Receipts are checked against the pins, not against what the server says.',
      ),
    );
  }
}

/** What the sign-in page says of a credential the server refused. */
export const UNACCEPTED = 'The server did not accept this credential.';

/** A short description of any failure. */
export function describeError(error: unknown): string {
  if (error instanceof GrpcError) {
    return clip(`${codeName(error.code)}: ${error.grpcMessage}`, MESSAGE_CHARS_MAX);
  }
  return clip(error instanceof Error ? error.message : String(error), MESSAGE_CHARS_MAX);
}

/** The in-page message for a refusal: a denial names what was denied; anything else says what happened. */
function problemNotice(session: Session, error: unknown, what: string): HTMLElement {
  const detail: Child = error instanceof GrpcError && error.grpcMessage !== '' ? h('p', { class: 'detail' }, 'The server said: ', describeError(error)) : null;
  if (error instanceof GrpcError && error.code === Code.PERMISSION_DENIED) {
    return notice('error', h('p', { class: 'denied' }, capitalise(deniedText(session.caller.role, what)), '.'), detail);
  }
  return notice('error', h('p', {}, `Could not read ${what}.`), h('p', { class: 'detail' }, describeError(error)));
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
