/**
 * Sign-in: the token (kept in this tab's sessionStorage only), and
 * optionally the engine key and chain id to pin (else the server's are
 * pinned on first use and compared at every later sign-in).
 *
 * @module
 */
import { fromHex, toHex } from '@settled/client/verify';

import { type App, describeError, type GivenPins, UNACCEPTED } from '../app.js';
import { h, notice, replace } from '../dom.js';
import { utcTime } from '../format.js';
import { Code, GrpcError } from '../grpcweb.js';
import { forgetPins, isHex32, loadPins } from '../session.js';

export function signInPage(app: App, main: HTMLElement, reason: string | null): void {
  const status = h('div', { id: 'signin-status', 'aria-live': 'polite' });
  const token = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'token-help',
  });
  const engineKey = h('input', {
    id: 'pin-engine-key',
    name: 'engine-key',
    type: 'text',
    inputmode: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    pattern: '[0-9a-fA-F]{64}',
    'aria-describedby': 'pins-help',
  });
  const chainId = h('input', {
    id: 'pin-chain-id',
    name: 'chain-id',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    pattern: '[0-9a-fA-F]{64}',
    'aria-describedby': 'pins-help',
  });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const pinsNow = h('div', { id: 'pins-now' });

  const showPins = (): void => {
    const pins = loadPins();
    if (pins === null) {
      replace(pinsNow, h('p', {}, 'No ledger pinned in this browser yet: the server’s engine key and chain id will be pinned at the first sign-in.'));
      return;
    }
    const how = pins.how === 'first-use' ? 'pinned on first use' : 'pinned as given at sign-in';
    replace(
      pinsNow,
      h('p', {}, `This browser trusts one ledger (${how}, ${utcTime(Date.parse(pins.since))}):`),
      h(
        'dl',
        { class: 'pins' },
        h('dt', {}, 'Engine key'),
        h('dd', { class: 'hex', 'data-figure': 'pinned-engine-key' }, toHex(pins.engineKey)),
        h('dt', {}, 'Chain id'),
        h('dd', { class: 'hex', 'data-figure': 'pinned-chain-id' }, toHex(pins.chainId)),
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'button-quiet',
          onclick: () => {
            forgetPins();
            showPins();
          },
        },
        'Forget these pins',
      ),
    );
  };
  showPins();

  const onSubmit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const keyText = engineKey.value.trim();
    const chainText = chainId.value.trim();
    if ((keyText === '') !== (chainText === '')) {
      replace(status, notice('error', 'Give both the engine key and the chain id to pin, or neither.'));
      return;
    }
    if (keyText !== '' && (!isHex32(keyText) || !isHex32(chainText))) {
      replace(status, notice('error', 'The engine key and the chain id are 64 hex digits each.'));
      return;
    }
    if (token.value.trim() === '') {
      replace(status, notice('error', 'Enter a token.'));
      return;
    }
    const given: GivenPins | null =
      keyText === '' ? null : { engineKey: fromHex(keyText.toLowerCase()), chainId: fromHex(chainText.toLowerCase()) };
    submit.disabled = true;
    replace(status, h('p', {}, 'Signing in…'));
    try {
      await app.signIn(token.value.trim(), given);
    } catch (error) {
      const text =
        error instanceof GrpcError && error.code === Code.UNAUTHENTICATED
          ? UNACCEPTED
          : error instanceof GrpcError && error.code === Code.UNAVAILABLE
            ? 'The server could not be reached. Try again in a moment.'
            : `Could not sign in: ${describeError(error)}`;
      replace(status, notice('error', h('p', { id: 'signin-error' }, text)));
      submit.disabled = false;
      token.focus();
    }
  };

  replace(
    main,
    h('h1', { tabindex: -1 }, 'Sign in'),
    reason === null ? null : notice('error', h('p', { id: 'session-ended' }, reason)),
    h(
      'form',
      { class: 'signin', novalidate: true, onsubmit: (event: Event) => void onSubmit(event) },
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'token' }, 'Token'),
        token,
        h(
          'p',
          { id: 'token-help', class: 'help' },
          'Your bearer token, as for the gRPC API. It is kept in this tab only (sessionStorage) and forgotten when the tab closes or you sign out.',
        ),
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, 'Pin the ledger (optional)'),
        h(
          'p',
          { id: 'pins-help', class: 'help' },
          'The engine public key and chain id you got out of band (settled info), 64 hex digits each. Receipts are verified in this browser against them.',
        ),
        h('div', { class: 'field' }, h('label', { for: 'pin-engine-key' }, 'Engine public key'), engineKey),
        h('div', { class: 'field' }, h('label', { for: 'pin-chain-id' }, 'Chain id'), chainId),
        pinsNow,
      ),
      submit,
      status,
    ),
  );
}
