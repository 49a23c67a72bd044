/**
 * A development server (`settled serve --dev`) for the end-to-end tests:
 * on 127.0.0.1, on a port the system picks, in a temporary data directory,
 * stopped (and its directory removed) by {@link DevServer.stop}.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { readKeyFile, type SigningKey } from '@settled/client';

import { SETTLED_BIN } from './paths.js';

export interface DevServer {
  /** `127.0.0.1:<port>`. */
  readonly target: string;
  readonly dataDir: string;
  /** The development token: every role. */
  readonly token: string;
  /** The development issuer keys (a 2-of-3 set), in file order. */
  readonly issuers: readonly SigningKey[];
  stop(): Promise<void>;
}

const STARTUP_MS = 60_000;

/** Starts a development server and waits until it serves. */
export async function startServer(): Promise<DevServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'settled-ts-'));
  const child = spawn(SETTLED_BIN, ['serve', '--dev', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  try {
    const target = await serving(child, () => log);
    const token = (await readFile(join(dataDir, 'dev.token'), 'utf8')).trim();
    const keyFiles = (await readdir(dataDir)).filter((name) => /^issuer-\d+\.key$/.test(name)).sort();
    const issuers = await Promise.all(keyFiles.map((name) => readKeyFile(join(dataDir, name))));
    return {
      target,
      dataDir,
      token,
      issuers,
      stop: async () => {
        await stopChild(child);
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopChild(child);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** The address the server prints once it serves (`settled serving on 127.0.0.1:PORT ...`). */
function serving(child: ChildProcess, log: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${SETTLED_BIN} did not serve within ${STARTUP_MS} ms:\n${log()}`)),
      STARTUP_MS,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /settled serving on (127\.0\.0\.1:\d+)/.exec(out);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${SETTLED_BIN} (set SETTLED_BIN): ${error.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${SETTLED_BIN} exited (${code}) before serving:\n${log()}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
