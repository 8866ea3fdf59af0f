/**
 * Join over TCP: how long a new member's `start()` takes, and how much memory it needs, when an
 * existing member owns many keys. The state comes in pages of about 1 MiB (`statePageBytes`),
 * each within the default `maxFrameBytes`; before pages, a member above about 250k keys could
 * not be joined over TCP at all.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { JoinMessage } from './join-member.js';

const MEMBER = fileURLToPath(new URL('./join-member.ts', import.meta.url));

/** One measured join. */
export interface JoinResult {
  /** Keys the owner held. */
  keys: number;
  /** Keys the joiner knew when `start()` resolved. */
  known: number;
  /** Milliseconds of the joiner's `start()`. */
  ms: number;
  /** The joiner's highest resident set size during the join, and before it, in MiB. */
  peakRssMiB: number;
  baseRssMiB: number;
  /** The joiner's highest V8 heap in use during the join, in MiB. */
  peakHeapMiB: number;
}

function member(env: Record<string, string>): ChildProcess {
  return fork(MEMBER, [], {
    execArgv: ['--import', 'tsx', '--expose-gc', '--max-old-space-size=8192'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

async function next(child: ChildProcess): Promise<JoinMessage> {
  const [message] = (await once(child, 'message')) as [JoinMessage];
  return message;
}

const mib = (bytes: number): number => Math.round(bytes / 1024 / 1024);

/** Joins a member to an owner of `keys` keys, each in its own process. */
export async function join(keys: number): Promise<JoinResult> {
  const owner = member({ ROLE: 'owner', KEYS: String(keys) });
  try {
    const ready = await next(owner);
    if (ready.type !== 'ready') throw new Error('the owner did not get ready');
    const joiner = member({ ROLE: 'joiner', SEED: ready.address, KEYS: String(keys) });
    try {
      const joined = await next(joiner);
      if (joined.type !== 'joined') throw new Error('the joiner did not join');
      if (joined.keys !== keys) throw new Error(`the joiner knew ${joined.keys} of ${keys} keys when start() resolved`);
      return { keys, known: joined.keys, ms: Math.round(joined.ms), peakRssMiB: mib(joined.peakRssBytes), baseRssMiB: mib(joined.baseRssBytes), peakHeapMiB: mib(joined.peakHeapBytes) };
    } finally {
      joiner.kill('SIGKILL');
    }
  } finally {
    owner.kill('SIGKILL');
  }
}
