import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** Bytes read from each end of a file to tell its type. */
export const PROBE_BYTES = 64 * 1024;

/**
 * The first and last bytes of a file (all of it when small), enough to tell its type: magic numbers are at the
 * start, and a zip's directory of part names (which tells a .docx from a .xlsx) at the end. A file that no loader
 * reads is skipped after this, never read whole (16 unsupported files of 150 MB each were 2.65 GB).
 */
export async function readProbe(path: string, size: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    if (size <= 2 * PROBE_BYTES) {
      const whole = new Uint8Array(size);
      const { bytesRead } = await handle.read(whole, 0, size, 0);
      return whole.subarray(0, bytesRead);
    }
    const probe = new Uint8Array(2 * PROBE_BYTES);
    const head = await handle.read(probe, 0, PROBE_BYTES, 0);
    const tail = await handle.read(probe, head.bytesRead, PROBE_BYTES, size - PROBE_BYTES);
    return probe.subarray(0, head.bytesRead + tail.bytesRead);
  } finally {
    await handle.close();
  }
}

/** SHA-256 of a file, read in pieces (the event loop keeps turning, and the file is never held whole). */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}
