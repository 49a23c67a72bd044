/**
 * A real `settled serve` for the browser tests: development mode (the
 * development issuers and an all-roles token to set the ledger up with),
 * plus an operator, an issuer, a programme administrator and an auditor
 * configured by their tokens' SHA-256 as production configures them; the
 * API and the console on 127.0.0.1, on free ports kept across a restart
 * (stop, then start again on the same ports and data directory).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { readKeyFile, sha256, type SigningKey, toHex } from '@settled/client';

import { SETTLED_BIN } from './paths.js';

/** How long a start may take (a debug build on a loaded machine). */
const STARTUP_MS = 60_000;
/** How long a stop may take before the process is killed (the server gives connections 10 s). */
const STOP_MS = 15_000;

/** The configured (not registered) credentials' tokens. */
export interface RoleTokens {
  readonly operator: string;
  readonly issuer: string;
  readonly programmeAdmin: string;
  readonly auditor: string;
}

export class ConsoleServer {
  #child: ChildProcess | null = null;
  #log = '';

  private constructor(
    readonly dataDir: string,
    readonly apiPort: number,
    readonly consolePort: number,
    readonly tokens: RoleTokens,
  ) {}

  /** `127.0.0.1:<port>` of the gRPC API. */
  get target(): string {
    return `127.0.0.1:${this.apiPort}`;
  }

  /** The console's origin. */
  get consoleUrl(): string {
    return `http://127.0.0.1:${this.consolePort}`;
  }

  /** What the server has written to stderr so far (for failures). */
  get log(): string {
    return this.#log;
  }

  static async start(): Promise<ConsoleServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'settled-console-'));
    const tokens: RoleTokens = {
      operator: randomBytes(32).toString('hex'),
      issuer: randomBytes(32).toString('hex'),
      programmeAdmin: randomBytes(32).toString('hex'),
      auditor: randomBytes(32).toString('hex'),
    };
    const credential = (role: string, token: string): string =>
      `[[credentials]]\nrole = "${role}"\ntoken_sha256 = "${toHex(sha256(new TextEncoder().encode(token)))}"\n`;
    const [apiPort, consolePort] = await freePorts(2);
    await writeFile(
      join(dataDir, 'settled.toml'),
      [
        `data_dir = ${JSON.stringify(dataDir)}\nlisten = "127.0.0.1:${apiPort}"\nconsole_listen = "127.0.0.1:${consolePort}"\n`,
        credential('operator', tokens.operator),
        credential('issuer', tokens.issuer),
        credential('programme_admin', tokens.programmeAdmin),
        credential('auditor', tokens.auditor),
      ].join('\n'),
    );
    const server = new ConsoleServer(dataDir, apiPort ?? 0, consolePort ?? 0, tokens);
    try {
      await server.resume();
    } catch (error) {
      await server.destroy();
      throw error;
    }
    return server;
  }

  /** The development token (every role), written by the server into its data dir. */
  async devToken(): Promise<string> {
    return (await readFile(join(this.dataDir, 'dev.token'), 'utf8')).trim();
  }

  /** The development issuer keys (a 2-of-3 set), in file order. */
  async issuers(): Promise<SigningKey[]> {
    const names = (await readdir(this.dataDir)).filter((name) => /^issuer-\d+\.key$/.test(name)).sort();
    return Promise.all(names.map((name) => readKeyFile(join(this.dataDir, name))));
  }

  /** Starts (again) on the same ports and data directory, and waits until it serves. */
  async resume(): Promise<void> {
    const child = spawn(
      SETTLED_BIN,
      [
        'serve',
        '--dev',
        '--config', join(this.dataDir, 'settled.toml'),
        '--data-dir', this.dataDir,
        '--listen', this.target,
        '--console-listen', `127.0.0.1:${this.consolePort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#log += chunk.toString();
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${SETTLED_BIN} did not serve within ${STARTUP_MS} ms:\n${this.#log}`)), STARTUP_MS);
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (/settled serving on 127\.0\.0\.1:\d+/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${SETTLED_BIN} (set SETTLED_BIN): ${error.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${SETTLED_BIN} exited (${code}) before serving:\n${this.#log}`));
      });
    });
  }

  /** Stops the server (SIGTERM, as an operator would), keeping its data. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and removes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** `count` ports free on 127.0.0.1 now (the system picks them). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return server;
    }),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
