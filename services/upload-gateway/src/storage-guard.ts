import { decideTier, type TierDecision, type TierPolicy } from '@scanner/core';
import { measureVolume } from '@scanner/storage';

const FRESH_FOR_MS = 1_000;

/**
 * The volume's tier, measured at most once a second: statfs is cheap but every upload asks, and
 * usage does not move meaningfully faster than that.
 */
export class StorageGuard {
  #last: { at: number; decision: TierDecision } | undefined;
  // One measurement at a time: requests arriving while it runs share it.
  #measuring: Promise<TierDecision> | undefined;

  constructor(
    private readonly root: string,
    private readonly policy: TierPolicy,
  ) {}

  async current(): Promise<TierDecision> {
    const now = Date.now();
    if (this.#last && now - this.#last.at < FRESH_FOR_MS) return this.#last.decision;
    this.#measuring ??= measureVolume(this.root)
      .then((usage) => {
        const decision = decideTier(usage.usedRatio, this.policy);
        this.#last = { at: now, decision };
        return decision;
      })
      .finally(() => {
        this.#measuring = undefined;
      });
    return this.#measuring;
  }
}
