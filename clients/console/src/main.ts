/**
 * The console's entry point: finds the frame of index.html and starts the
 * app with its pages.
 *
 * @module
 */
import { App } from './app.js';
import { alertsPage } from './pages/alerts.js';
import { banksPage } from './pages/banks.js';
import { ledgerPage } from './pages/ledger.js';
import { paymentPage } from './pages/payment.js';
import { programmesPage } from './pages/programmes.js';
import { signInPage } from './pages/signin.js';

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`index.html has no #${id}`);
  }
  return found;
}

function start(): void {
  const main = element('main');
  // The skip link moves focus without touching the address (the routes live in it).
  element('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  const app = new App(
    {
      main,
      nav: element('nav'),
      sessionBox: element('session'),
      connectionBanner: element('connection-banner'),
      trustBanner: element('trust-banner'),
    },
    { ledger: ledgerPage, programmes: programmesPage, alerts: alertsPage, payment: paymentPage, banks: banksPage },
    signInPage,
  );
  void app.start();
}

start();
