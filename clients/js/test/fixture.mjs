// The live servers the tests run against (server/tests/clients.rs makes them and passes this
// file in LIT_CLIENT_FIXTURE), the restartable server's life cycle, and the `lit-session verify`
// check. Every client log line and every error a test sees is kept, for the no-secret test.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import util from 'node:util';

import { createSignerClient } from 'lit-session-client';

if (!process.env.LIT_CLIENT_FIXTURE) {
  throw new Error('LIT_CLIENT_FIXTURE is not set: run these tests through server/tests/clients.rs (cargo test -p lit-session-server --test clients)');
}
export const fixture = JSON.parse(readFileSync(process.env.LIT_CLIENT_FIXTURE, 'utf8'));

export const PKP = [{ resource: { resource: '*', resourcePrefix: 'lit-pkp' }, ability: 'pkp-signing' }];
export const ACTION = [{ resource: { resource: '*', resourcePrefix: 'lit-litaction' }, ability: 'lit-action-execution' }];
export const NONCE = '0x' + '3a9c4f1e8b7d6a5c'.repeat(4);
export const NODES = ['https://127.0.0.1:7470', 'https://127.0.0.1:7471', 'https://127.0.0.1:7472'];

/** Everything the clients logged and every error the tests saw (message, stack, inspect). */
export const seen = [];
export const log = (line) => seen.push(line);
export function remember(error) {
  seen.push(String(error?.message), String(error?.stack), util.inspect(error, { depth: 10 }));
  return error;
}

/** Runs `fn`, expecting it to throw; returns the error (remembered). */
export async function rejects(fn) {
  try {
    await fn();
  } catch (e) {
    return remember(e);
  }
  throw new Error('expected an error');
}

/** `lit-session verify` for every node of `map`; returns each node's verdict line. */
export function verifyWithCli(map, { network = 'datil', resource = 'lit-pkp://*=pkp-signing' } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lsc-verify-'));
  const file = path.join(dir, 'session-sigs.json');
  writeFileSync(file, JSON.stringify(map));
  return Object.keys(map).map((node) => {
    try {
      return execFileSync(
        fixture.litSession,
        ['verify', '--session-sigs', file, '--node', node, '--resource', resource, '--network', network],
        { encoding: 'utf8' },
      ).trim();
    } catch (e) {
      return `${e.stdout}${e.stderr}`.trim();
    }
  });
}

/** The server the tests stop, restart and take the HSM token from. */
export class Restartable {
  constructor() {
    this.conf = fixture.restartable;
    this.url = this.conf.url;
    this.stderr = [];
    this.child = undefined;
  }

  /** Starts it and waits for its "listening on" line. */
  async start() {
    const [bin, ...args] = this.conf.argv;
    const child = spawn(bin, args, { env: { ...process.env, ...this.conf.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let buffer = '';
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start:\n${this.stderr.join('\n')}`)), 30_000);
      child.stderr.on('data', (chunk) => {
        buffer += chunk;
        const lines = buffer.split('\n');
        buffer = lines.pop();
        for (const line of lines) {
          this.stderr.push(line);
          if (line.startsWith('lit-session-server: listening on ')) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the server exited with ${code}:\n${this.stderr.join('\n')}`));
      });
    });
  }

  /** SIGTERM, and waits for the process to end. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const ended = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await ended;
  }

  /** Moves the session key's token away (SoftHSM2 reads its directory): requests get 503. */
  parkToken() {
    renameSync(this.conf.hsmTokenDir, this.conf.hsmParkedDir);
  }

  /**
   * Parks the token and waits until the service has seen it gone: SoftHSM2 keeps serving from
   * its cached objects until a new session or a search looks at the token again, so a few
   * concurrent requests (which open pool sessions) go in until readiness turns false.
   */
  async parkTokenUntilNotReady(client) {
    this.parkToken();
    const load = createSignerClient({ url: this.url, tokenFile: this.conf.tokenFile, retry: false });
    const until = Date.now() + 30_000;
    while ((await client.ready()).status !== 'not-ready') {
      if (Date.now() > until) throw new Error('readiness stayed true with the token gone');
      const body = { nodeUrls: NODES, resourceAbilityRequests: PKP, nonce: NONCE };
      await Promise.allSettled(Array.from({ length: 8 }, () => load.sessionSigs(body, { deadlineMs: 10_000 })));
    }
  }

  restoreToken() {
    renameSync(this.conf.hsmParkedDir, this.conf.hsmTokenDir);
  }

  restoreTokenIfParked() {
    if (existsSync(this.conf.hsmParkedDir)) this.restoreToken();
  }

  log() {
    return this.stderr.join('\n');
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Fails when any secret of the fixture (tokens, the HSM PIN) is in `texts`. */
export function findSecrets(texts) {
  const found = [];
  for (const secret of fixture.secrets) {
    texts.forEach((text, i) => {
      if (String(text).includes(secret)) found.push(`a secret in seen[${i}]`);
    });
  }
  return found;
}
