import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ConfigInput } from '../../src/config.js';
import { openKnowledgeBase } from '../../src/kb.js';
import { type RunningServer, type StartServerOptions, startServer } from '../../src/server/server.js';
import type { SseMessage } from '../../src/server/sse.js';
import { parseSse } from '../../src/server/sse.js';
import { FIXTURE_MODEL } from '../helpers/fixtures.js';

export interface TestServer extends RunningServer {
  stop(): Promise<void>;
}

/**
 * The real server on 127.0.0.1 (ephemeral port) over a new knowledge base using the fixture CLIP model.
 * `config` adds configuration (e.g. `ingest: {allowPrivateNetwork: true}` to ingest pages from loopback).
 */
export async function startTestServer(
  kbDir: string,
  llm: { provider: 'auto' | 'ollama' | 'openai' | 'none'; url?: string },
  options: StartServerOptions = {},
  config: Omit<ConfigInput, 'kb' | 'embed' | 'llm'> = {},
): Promise<TestServer> {
  const kb = await openKnowledgeBase({
    ...config,
    kb: kbDir,
    embed: { model: FIXTURE_MODEL },
    llm: { provider: llm.provider, ...(llm.url ? { url: llm.url } : {}) },
  });
  const server = await startServer(kb, { port: 0, ...options });
  return {
    ...server,
    stop: async () => {
      await server.close();
      await kb.close();
    },
  };
}

/** Every file under `dir` as multipart parts named by their path relative to `base` (like a folder upload). */
export function folderForm(dir: string, base: string, form = new FormData()): FormData {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) folderForm(path, base, form);
    else form.append('files', new Blob([readFileSync(path)]), relative(base, path).split('\\').join('/'));
  }
  return form;
}

/** Read a whole event stream. */
export async function readSse(res: Response): Promise<SseMessage[]> {
  return parseSse(await res.text());
}

/** Wait for a job to finish through its event stream; returns the final job. */
export async function waitForJob(
  url: string,
  id: string,
  headers: Record<string, string> = {},
): Promise<{ job: Record<string, unknown>; events: SseMessage[] }> {
  const res = await fetch(`${url}/api/jobs/${id}/events`, { headers });
  const events = await readSse(res);
  const done = events.find((e) => e.event === 'done');
  if (!done) throw new Error(`job ${id} stream ended without done: ${JSON.stringify(events)}`);
  return { job: JSON.parse(done.data) as Record<string, unknown>, events };
}
