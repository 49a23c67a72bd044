/**
 * The stylesheet's colours: every pair of text and background the pages
 * use reads at a contrast of at least 4.5:1 (WCAG 2 AA for body text).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';

import { PACKAGE_ROOT } from '../helpers/paths.js';

const CONTRAST_MIN = 4.5;

/** The text colour and the background of each place text is drawn on, by the stylesheet's names. */
const PAIRS: readonly (readonly [string, string, string])[] = [
  ['body text', '--text', '--page'],
  ['text in a section', '--text', '--surface'],
  ['help and figure labels', '--muted', '--surface'],
  ['help on the page', '--muted', '--page'],
  ['links', '--accent', '--surface'],
  ['links on the page', '--accent', '--page'],
  ['table headings and hovered links', '--text', '--accent-soft'],
  ['links on a hovered row', '--accent', '--accent-soft'],
  ['the current page and buttons', '#ffffff', '--accent'],
  ['errors', '--bad', '--bad-soft'],
  ['the detail of an error', '--text', '--bad-soft'],
  ['a verified receipt', '--good', '--good-soft'],
  ['the connection banner', '--warn', '--warn-soft'],
  ['a new alert row', '--text', '--warn-soft'],
  ['links in a new alert row', '--accent', '--warn-soft'],
];

function luminance(hex: string): number {
  const channel = (offset: number): number => {
    const value = parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
}

it('every text colour reads at 4.5:1 or more on its background', async () => {
  const css = await readFile(join(PACKAGE_ROOT, 'src/console.css'), 'utf8');
  const colours = new Map([...css.matchAll(/(--[a-z-]+):\s*(#[0-9a-f]{6});/g)].map((match) => [match[1] ?? '', match[2] ?? '']));
  const colour = (name: string): string => {
    const found = name.startsWith('#') ? name : colours.get(name);
    assert.ok(found !== undefined, `${name} is a colour of the stylesheet`);
    return found;
  };
  for (const [where, text, background] of PAIRS) {
    const ratio = contrast(colour(text), colour(background));
    assert.ok(ratio >= CONTRAST_MIN, `${where}: ${text} on ${background} is ${ratio.toFixed(2)}:1`);
  }
});
