import type { Db } from '@scanner/db';
import type { Logger } from '@scanner/logging';

/** What every phase of a cleanup pass works with. */
export interface PhaseContext {
  db: Db;
  log: Logger;
  storageRoot: string;
  /** Report what would be removed; remove nothing. */
  dryRun: boolean;
  /** Rows or files handled per transaction / query. */
  batchSize: number;
  /** Aborted on shutdown: phases stop at the next safe point (never between unlink and commit). */
  signal: AbortSignal;
}
