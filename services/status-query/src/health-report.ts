import { decideTier, type TierPolicy } from '@scanner/core';
import type { Db } from '@scanner/db';
import type { Redis } from '@scanner/redis';
import { databaseReachable, redisReachable } from '@scanner/runtime';
import { measureVolume } from '@scanner/storage';

export interface HealthReport {
  status: 'healthy' | 'degraded' | 'unhealthy';
  database: 'healthy' | 'unhealthy';
  redis: 'healthy' | 'unhealthy';
  storage: {
    total_bytes: number;
    used_bytes: number;
    free_bytes: number;
    percent_used: number;
    status: string;
  };
}

/**
 * `GET /health`: unhealthy (503) when Postgres, Redis or the volume cannot be reached; degraded
 * (200) when storage is at the critical or emergency tier.
 */
export async function healthReport(deps: {
  db: Db;
  redis: Redis;
  storageRoot: string;
  tierPolicy: TierPolicy;
}): Promise<HealthReport> {
  const [database, redis, volume] = await Promise.all([
    databaseReachable(deps.db),
    redisReachable(deps.redis),
    measureVolume(deps.storageRoot).catch(() => null),
  ]);
  const tier = volume ? decideTier(volume.usedRatio, deps.tierPolicy).tier : null;
  const storage = volume
    ? {
        total_bytes: volume.totalBytes,
        used_bytes: volume.usedBytes,
        free_bytes: volume.freeBytes,
        percent_used: Math.round(volume.usedRatio * 10_000) / 100,
        status: tier as string,
      }
    : { total_bytes: 0, used_bytes: 0, free_bytes: 0, percent_used: 0, status: 'unavailable' };
  const up = database && redis && volume !== null;
  return {
    status: !up
      ? 'unhealthy'
      : tier === 'critical' || tier === 'emergency'
        ? 'degraded'
        : 'healthy',
    database: database ? 'healthy' : 'unhealthy',
    redis: redis ? 'healthy' : 'unhealthy',
    storage,
  };
}
