import { mkdir, statfs } from 'node:fs/promises';
import { tempDir, type VolumeUsage, volumeUsage } from '@scanner/core';

/** Disk usage of the filesystem holding the content volume, as `df` shows it. */
export async function measureVolume(root: string): Promise<VolumeUsage> {
  return volumeUsage(await statfs(root));
}

/** Creates the volume root and its temp folder; services call it at start-up. */
export async function ensureVolumeLayout(root: string): Promise<void> {
  await mkdir(tempDir(root), { recursive: true });
}
