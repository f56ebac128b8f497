import { existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OpenAPIHono } from '@hono/zod-openapi';
import { compress } from 'hono/compress';
import { InProcessJobQueue } from '../jobs/in-process.js';
import type { JobQueue } from '../jobs/queue.js';
import type { KnowledgeBase } from '../kb.js';
import { createMcpHttpHandler } from '../mcp/http.js';
import { bearerToken, cookieValue, MEDIA_COOKIE, mediaKeyOf, tokenMatches } from './auth.js';
import { ByteBudget } from './byte-budget.js';
import { errorBody, serverPathHider } from './http-errors.js';
import { answeringPolicy } from './llm-policy.js';
import { askRoutes } from './routes/ask.js';
import { API_VERSION, type RouteContext } from './routes/context.js';
import { ingestRoutes } from './routes/ingest.js';
import { itemRoutes } from './routes/items.js';
import { jobRoutes } from './routes/jobs.js';
import { mediaRoutes } from './routes/media.js';
import { describeApi, metaRoutes } from './routes/meta.js';
import { searchRoutes } from './routes/search.js';
import { sourceRoutes } from './routes/sources.js';
import { viewerRoutes } from './routes/viewer.js';
import { FolderSpool } from './spool.js';
import { CONTENT_SECURITY_POLICY, NOT_BUILT_PAGE, staticFile, WEB_DIST } from './static.js';
import { UploadFolders } from './upload-folders.js';
import { RETRY_AFTER_SECONDS } from './upload-stream.js';

export { API_VERSION };

export interface AppOptions {
  /** Require `Authorization: Bearer <token>` on every API call but `/api/health`. */
  token?: string;
  /** Most bytes one upload request may carry (default: `server.maxUploadBytes`, 1 GiB; streamed to disk). */
  maxUploadBytes?: number;
  /** Most files one upload request may carry (default: `server.maxUploadFiles`, 1000). */
  maxUploadFiles?: number;
  /** Most bytes of one uploaded file (default: the knowledge base's `ingest.maxFileBytes`). */
  maxFileBytes?: number;
  /** Most bytes received across all uploads at once (default: `server.maxInFlightBytes`, 2 GiB); over it, 503. */
  maxInFlightBytes?: number;
  /**
   * Host names the server answers to (default: any). A server bound to loopback sets the loopback names, so a web
   * page on another site cannot reach it through DNS rebinding.
   */
  allowedHosts?: string[];
  /** Folder of the built web app (default web/dist of the package). */
  webRoot?: string;
}

export interface MmragApp {
  app: OpenAPIHono;
  jobs: JobQueue;
  /** Where uploads are written: `<kb>/uploads/<job>/...`. */
  uploadsDir: string;
}

/**
 * The HTTP API and the web app around one knowledge base, as a Hono app (callable without a socket through
 * `app.request`). The routes live in ./routes, one module per resource, on the contract of ./contract.ts; this
 * function adds what every request goes through: host and origin checks, the token, security headers, errors.
 */
export function createApp(kb: KnowledgeBase, options: AppOptions = {}): MmragApp {
  const uploads = new UploadFolders(kb, join(kb.dir, 'uploads'));
  const spool = new FolderSpool(uploads.dir);
  void spool.sweep();
  const jobs = new InProcessJobQueue((paths, onEvent) =>
    kb.ingest(paths, { onEvent, localRoot: uploads.jobFolderOf(paths) }),
  );
  const server = kb.config.server;
  const limits = {
    maxUploadBytes: options.maxUploadBytes ?? server.maxUploadBytes,
    maxUploadFiles: options.maxUploadFiles ?? server.maxUploadFiles,
    maxFileBytes: options.maxFileBytes ?? kb.config.ingest.maxFileBytes,
    maxInFlightBytes: options.maxInFlightBytes ?? server.maxInFlightBytes,
  };
  const hidePaths = serverPathHider({
    '<kb>': resolve(kb.dir),
    '<cwd>': process.cwd(),
    '<tmp>': tmpdir(),
    '~': homedir(),
  });
  const mediaKey = options.token ? mediaKeyOf(options.token) : undefined;
  const ctx: RouteContext = {
    kb,
    jobs,
    uploads,
    spool,
    uploadBudget: new ByteBudget(limits.maxInFlightBytes),
    limits,
    answering: answeringPolicy(kb.config),
    hidePaths,
    tokenRequired: Boolean(options.token),
    mediaKey,
  };
  const webRoot = options.webRoot ?? WEB_DIST;
  const allowedHosts = options.allowedHosts?.map((h) => h.toLowerCase());
  const app = new OpenAPIHono();

  app.onError((err, c) => {
    const { status, body } = errorBody(err, hidePaths);
    if (status === 500) console.error(err);
    // The rest of a refused upload is still on the wire: close the connection rather than read it as a request.
    if (status === 413 || status === 503) c.header('Connection', 'close');
    if (status === 503) c.header('Retry-After', String(RETRY_AFTER_SECONDS));
    return c.json(body, status as 400);
  });
  app.notFound((c) =>
    c.req.path.startsWith('/api/')
      ? c.json(
          {
            error: {
              code: 'not_found',
              message: `No API route ${c.req.method} ${c.req.path}.`,
              hint: 'See /api/openapi.json.',
            },
          },
          404,
        )
      : c.text('Not found', 404),
  );

  app.use('*', async (c, next) => {
    if (allowedHosts) {
      const host = new URL(c.req.url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
      if (!allowedHosts.includes(host)) {
        return c.json(
          { error: { code: 'forbidden', message: `This server does not answer to the host name ${host}.` } },
          403,
        );
      }
    }
    // A page on another site may send simple requests (a form POST) here: refuse writes from other origins.
    const origin = c.req.header('origin');
    if (origin && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      let sameOrigin = false;
      try {
        sameOrigin = new URL(origin).host === new URL(c.req.url).host;
      } catch {
        sameOrigin = false;
      }
      if (!sameOrigin) {
        return c.json(
          { error: { code: 'forbidden', message: `Requests from ${origin} are not allowed.` } },
          403,
        );
      }
    }
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
  });

  app.use('/api/*', async (c, next) => {
    if (!options.token || c.req.path === '/api/health') return next();
    const presented = bearerToken(c.req.header('authorization'));
    // Pictures are loaded by <img> tags, which cannot send headers: the server gives the web app an HttpOnly
    // cookie (POST /api/session) holding a key derived from the token, good for pictures only.
    if (
      presented === undefined &&
      mediaKey !== undefined &&
      c.req.method === 'GET' &&
      c.req.path.startsWith('/api/media/') &&
      tokenMatches(cookieValue(c.req.header('cookie'), MEDIA_COOKIE), mediaKey)
    )
      return next();
    if (!tokenMatches(presented, options.token)) {
      c.header('WWW-Authenticate', 'Bearer realm="mmrag"');
      return c.json(
        {
          error: {
            code: 'unauthorized',
            message: 'This server needs a token.',
            hint: 'Send Authorization: Bearer <token> (the --token or MMRAG_TOKEN the server was started with).',
          },
        },
        401,
      );
    }
    return next();
  });

  // JSON answers are compressed for clients that accept it (event streams and pictures are not).
  app.use('/api/*', compress());

  for (const routes of [
    metaRoutes(ctx, describeApi(app)),
    ingestRoutes(ctx),
    jobRoutes(ctx),
    searchRoutes(ctx),
    askRoutes(ctx),
    sourceRoutes(ctx),
    itemRoutes(ctx),
    mediaRoutes(ctx),
    viewerRoutes(ctx),
  ]) {
    app.route('/', routes);
  }

  // MCP over streamable HTTP (docs/mcp.md), behind the same token; its writes queue with the API's.
  const mcp = createMcpHttpHandler(kb, {
    ...(options.token ? { token: options.token } : {}),
    writes: (write) => jobs.exclusive(write),
  });
  app.all('/mcp', (c) => mcp(c.req.raw));

  // ---- the web app ----
  app.get('*', async (c) => {
    if (c.req.path.startsWith('/api/')) return c.notFound();
    const file = await staticFile(c.req.path, webRoot, c.req.header('accept-encoding'));
    if (!file) {
      if (c.req.path === '/' || c.req.path === '/index.html') {
        return c.html(NOT_BUILT_PAGE, existsSync(resolve(webRoot)) ? 500 : 200);
      }
      return c.text('Not found', 404);
    }
    const headers: Record<string, string> = {
      'content-type': file.type,
      'cache-control': file.cacheControl,
      vary: 'Accept-Encoding',
      ...(file.encoding ? { 'content-encoding': file.encoding } : {}),
    };
    if (file.type.startsWith('text/html')) headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
    return new Response(file.body, { status: 200, headers });
  });

  return { app, jobs, uploadsDir: uploads.dir };
}
