import { type MigrationResult, Migrator } from 'kysely';
import type { Db } from './db.js';
import { migrationProvider } from './migrations/index.js';

export class MigrationError extends Error {
  constructor(
    readonly results: MigrationResult[],
    cause: unknown,
  ) {
    super(`migration failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MigrationError';
  }
}

/**
 * Brings the schema to the latest version. kysely's Migrator reports failure in its return value
 * rather than throwing; this turns that into an exception so no caller can ignore it.
 */
export async function migrateToLatest(db: Db): Promise<MigrationResult[]> {
  // biome-ignore lint/suspicious/noExplicitAny: the migrator does not care about the app's schema.
  const migrator = new Migrator({ db: db as any, provider: migrationProvider });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) throw new MigrationError(results, error);
  return results;
}
