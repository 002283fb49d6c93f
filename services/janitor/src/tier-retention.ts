import { decideTier, type TierDecision, type TierPolicy, type VolumeUsage } from '@scanner/core';
import { measureVolume } from '@scanner/storage';

export interface RetentionDecision extends TierDecision {
  usage: VolumeUsage;
}

/** How long content files may stay, given how full the volume is right now. */
export async function decideRetention(
  storageRoot: string,
  policy: TierPolicy,
): Promise<RetentionDecision> {
  const usage = await measureVolume(storageRoot);
  return { ...decideTier(usage.usedRatio, policy), usage };
}
