import { boolean, describeValue, finiteNumber, func, object, wholeNumber, type OptionRule, type OptionRules } from '../../options/validate.js';

/** Settings of an {@link InMemoryNetwork}. Every random choice is drawn from `seed`. */
export interface InMemoryNetworkOptions {
  /**
   * Seed of every random fault (delay, drop, duplicate, reorder). One seed replays one run.
   * @default 1
   */
  seed?: number;
  /**
   * Extra delivery delay of each frame, in delivery rounds (one round is one turn of the event
   * loop), drawn uniformly from `[min, max]`. Without `reorder`, frames of one sender/receiver
   * pair still arrive in order.
   * @default { min: 0, max: 0 }
   */
  delay?: { min: number; max: number };
  /**
   * Probability that a frame is silently lost (`send` still resolves, as on a real network).
   * @default 0
   */
  dropRate?: number;
  /**
   * Probability that a frame is delivered twice.
   * @default 0
   */
  duplicateRate?: number;
  /**
   * Let frames of one sender/receiver pair overtake each other. Peer events are never reordered.
   * @default false
   */
  reorder?: boolean;
  /**
   * Names the kind of a frame for {@link NetworkStats.byType}; return `undefined` to count a frame
   * only in the totals. The network never reads frames itself: without `classify` every frame
   * counts only in the totals. The package's `InMemoryNetwork` defaults it to `classifyFrame`
   * (frames named `MSG_*` and `RPC_*`).
   */
  classify?: (frame: Uint8Array) => string | undefined;
}

/** A probability: a finite number from 0 to 1. */
const probability = finiteNumber({ min: 0, max: 1 });
/** `{ min, max }` delivery rounds: whole numbers from 0, `min <= max`. */
const delayRule: OptionRule = (value, option, owner) => {
  object(value, option, owner);
  const { min, max } = value as { min?: unknown; max?: unknown };
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!whole(min) || !whole(max) || min > max) {
    throw new RangeError(`${owner} option \`${option}\` must be { min, max } in whole delivery rounds from 0, min <= max, got { min: ${describeValue(min)}, max: ${describeValue(max)} }`);
  }
};

/**
 * The rule of every option of an {@link InMemoryNetwork} (and of `configure`), checked before
 * the network is used: one line per option.
 */
export const IN_MEMORY_NETWORK_OPTION_RULES: OptionRules<InMemoryNetworkOptions> = {
  seed: wholeNumber({ min: 0, max: 2 ** 32 - 1 }),
  delay: delayRule,
  dropRate: probability,
  duplicateRate: probability,
  reorder: boolean,
  classify: func,
};

/** Traffic delivered by an {@link InMemoryNetwork} so far. */
export interface NetworkStats {
  /** Frames delivered. */
  messages: number;
  /** Bytes delivered (sum of frame lengths). */
  bytes: number;
  /** Frames and bytes by the kind `classify` names. */
  byType: Record<string, { messages: number; bytes: number }>;
}
