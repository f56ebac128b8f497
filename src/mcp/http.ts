import { createHash, timingSafeEqual } from 'node:crypto';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { errorMessage } from '../errors.js';
import type { KnowledgeBase } from '../kb.js';
import { createMcpServer, serialWrites, type WriteRunner } from './server.js';

export interface McpHttpOptions {
  /** Require `Authorization: Bearer <token>` on every request (compared in constant time). */
  token?: string;
  /** Folders remote clients may ingest by path (default: the knowledge base's `mcp.ingestRoots`, else none). */
  ingestRoots?: string[];
  /**
   * Runs knowledge-base writes one at a time. Pass the server's own write queue so that MCP ingests and API
   * uploads wait for each other instead of failing on the write lock; default: a queue of this handler's own.
   */
  writes?: WriteRunner;
  /**
   * Browser origins allowed to call (exact `scheme://host:port`). Requests without an Origin header (every
   * non-browser client) and from loopback origins are always accepted; others get 403.
   */
  allowedOrigins?: string[];
  /** Largest request body in bytes (a query picture travels as a data URL); default 16 MiB. */
  maxRequestBytes?: number;
  log?: (line: string) => void;
}

/** A web-standard request handler: mount it at `/mcp` of any server that speaks `Request`/`Response`. */
export type McpHttpHandler = (request: Request) => Promise<Response>;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function tokenMatches(presented: string | undefined, expected: string): boolean {
  return presented !== undefined && timingSafeEqual(digest(presented), digest(expected));
}

function bearerToken(header: string | null): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function originAllowed(origin: string | null, allowed: string[]): boolean {
  if (origin === null) return true;
  if (allowed.includes(origin)) return true;
  try {
    return LOOPBACK_HOSTS.has(new URL(origin).hostname);
  } catch {
    return false;
  }
}

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/** The body of `response`, calling `done` once it has been read to the end, failed, or been cancelled. */
function whenBodyEnds(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          controller.close();
          finish();
        } else controller.enqueue(chunk.value);
      } catch (err) {
        controller.error(err);
        finish();
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason);
    },
  });
}

/**
 * MCP over streamable HTTP for one knowledge base, stateless: every POST is served by a fresh server and
 * transport, with no session kept between requests, so any number of processes can sit behind a load balancer.
 * The answer to a tool call is an SSE stream carrying its progress notifications and then its result. GET (a
 * standing notification stream) and DELETE (ending a session) have no meaning without sessions: 405.
 */
export function createMcpHttpHandler(kb: KnowledgeBase, options: McpHttpOptions = {}): McpHttpHandler {
  const writes = options.writes ?? serialWrites();
  const allowedOrigins = options.allowedOrigins ?? [];
  const maxRequestBytes = options.maxRequestBytes ?? 16 * 1024 * 1024;
  return async (request: Request): Promise<Response> => {
    if (options.token && !tokenMatches(bearerToken(request.headers.get('authorization')), options.token)) {
      return jsonResponse(
        401,
        {
          error: {
            code: 'unauthorized',
            message: 'This server needs a token.',
            hint: 'Send Authorization: Bearer <token> (the --token or MMRAG_TOKEN the server was started with).',
          },
        },
        { 'www-authenticate': 'Bearer realm="mmrag"' },
      );
    }
    const origin = request.headers.get('origin');
    if (!originAllowed(origin, allowedOrigins)) {
      return jsonResponse(403, {
        error: { code: 'forbidden', message: `Requests from ${origin} are not allowed.` },
      });
    }
    if (request.method !== 'POST') {
      return jsonResponse(
        405,
        {
          jsonrpc: '2.0',
          error: {
            code: -32000,
            message: 'This MCP endpoint is stateless: send JSON-RPC messages with POST.',
          },
          id: null,
        },
        { allow: 'POST' },
      );
    }
    const server = createMcpServer(kb, {
      transport: 'http',
      writes,
      ...(options.ingestRoots ? { ingestRoots: options.ingestRoots } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      maxRequestBodySize: maxRequestBytes,
    });
    const close = () => {
      // Closing aborts what still runs for a client that went away (its tool call's AbortSignal).
      server.close().catch(() => undefined);
    };
    try {
      await server.connect(transport);
      const response = await transport.handleRequest(request);
      if (!response.body) {
        close();
        return response;
      }
      return new Response(whenBodyEnds(response.body, close), {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    } catch (err) {
      close();
      options.log?.(`MCP request failed: ${errorMessage(err)}`);
      return jsonResponse(500, {
        jsonrpc: '2.0',
        error: { code: -32603, message: `Internal error: ${errorMessage(err)}` },
        id: null,
      });
    }
  };
}
