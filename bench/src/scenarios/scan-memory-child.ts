// Runs in its own process so the resident set measured is the scan's alone: `node
// scan-memory-child.js <file>` prints one JSON object with the scan and the RSS it took.
import { readFileSync } from 'node:fs';
import { scanFile } from '@scanner/core';

export interface ScanMemoryReport {
  baselineRssBytes: number;
  peakRssBytes: number;
  scan: Awaited<ReturnType<typeof scanFile>>;
}

/**
 * Linux's high-water mark of this process image catches a peak that fell between two samples.
 * (Not getrusage's maxRSS: that one carries over the parent's RSS from before the exec.)
 */
function highWaterRssBytes(): number {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kib ? Number(kib) * 1024 : 0;
  } catch {
    return 0;
  }
}

const path = process.argv[2];
if (!path) throw new Error('usage: scan-memory-child.js <file>');

const baselineRssBytes = process.memoryUsage.rss();
let peakRssBytes = baselineRssBytes;
// scanFile yields to the event loop between chunks, so the sampler sees the scan mid-way.
const sampler = setInterval(() => {
  peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
}, 1);
const scan = await scanFile(path, { verify: true });
clearInterval(sampler);
peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss(), highWaterRssBytes());

const report: ScanMemoryReport = { baselineRssBytes, peakRssBytes, scan };
process.stdout.write(JSON.stringify(report));
