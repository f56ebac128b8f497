import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { KnowledgeBase } from '../kb.js';
import { type AppOptions, createApp, type MmragApp } from './app.js';

export interface StartServerOptions extends AppOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface RunningServer extends MmragApp {
  /** `http://host:port` */
  url: string;
  port: number;
  /** Stop accepting requests, wait for queued writes, and close connections. */
  close(): Promise<void>;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1'];

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.includes(host) || host.startsWith('127.');
}

/** Serve the API and web app for a knowledge base on host:port (127.0.0.1:7860 by default). */
export async function startServer(
  kb: KnowledgeBase,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const allowedHosts = options.allowedHosts ?? (isLoopbackHost(host) ? [...LOOPBACK_NAMES, host] : undefined);
  const made = createApp(kb, { ...options, ...(allowedHosts ? { allowedHosts } : {}) });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: made.app.fetch, hostname: host, port: options.port ?? 7860 }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    ...made,
    url: `http://${shown}:${port}`,
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      await made.jobs.idle();
    },
  };
}
