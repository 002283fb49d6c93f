import { Counter, type Registry } from '@scanner/http-kit';

export type UploadOutcome =
  | 'new'
  | 'rescan'
  | 'duplicate_completed'
  | 'duplicate_in_flight'
  | 'rejected';
export type DedupLevel = 'digest_header' | 'redis' | 'postgres' | 'in_flight';

export interface GatewayMetrics {
  uploads: Counter<'outcome'>;
  bytesReceived: Counter;
  dedupHits: Counter<'level'>;
  publishFailures: Counter;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    uploads: new Counter({
      name: 'scanner_uploads_total',
      help: 'Uploads by outcome: new content, rescan of failed content, duplicates, rejected.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    bytesReceived: new Counter({
      name: 'scanner_upload_received_bytes_total',
      help: 'File bytes received and hashed by the gateway.',
      registers: [registry],
    }),
    dedupHits: new Counter({
      name: 'scanner_dedup_hits_total',
      help: 'Uploads answered without a new scan, by where the answer came from.',
      labelNames: ['level'],
      registers: [registry],
    }),
    publishFailures: new Counter({
      name: 'scanner_queue_publish_failures_total',
      help: 'Scan messages that could not be added to the stream (left for republishing).',
      registers: [registry],
    }),
  };
}
