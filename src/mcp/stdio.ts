import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { KnowledgeBase } from '../kb.js';
import { createMcpServer, serialWrites } from './server.js';

/**
 * Keep the process's stdout for protocol messages only: returns a stream that writes to the real stdout, and
 * sends everything else written to `process.stdout` (console.log, a library's warning, a worker thread's output)
 * to stderr instead, where an MCP client shows it as a log.
 */
export function claimStdoutForProtocol(): Writable {
  const stdout = process.stdout;
  const writeStdout = stdout.write.bind(stdout) as (
    chunk: unknown,
    callback: (err?: Error | null) => void,
  ) => boolean;
  const writeStderr = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
  stdout.write = ((...args: unknown[]) => writeStderr(...args)) as typeof stdout.write;
  return new Writable({
    write(chunk, _encoding, callback) {
      writeStdout(chunk, callback);
    },
  });
}

export interface StdioServeOptions {
  input?: Readable;
  /** Where protocol messages go (default process.stdout; see claimStdoutForProtocol). */
  output?: Writable;
  log?: (line: string) => void;
  /** Stop serving (Ctrl-C, SIGTERM). */
  stop?: AbortSignal;
}

/**
 * Serve MCP over stdio until the client closes stdin (or `stop` fires); then stop the calls in progress, let a
 * running write finish, and return. The caller closes the knowledge base.
 */
export async function serveMcpOverStdio(kb: KnowledgeBase, options: StdioServeOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const writes = serialWrites();
  const server = createMcpServer(kb, { transport: 'stdio', writes, log: options.log });
  const transport = new StdioServerTransport(input, options.output ?? process.stdout);
  const finished = new Promise<void>((resolve) => {
    input.once('end', resolve);
    input.once('close', resolve);
    server.server.onclose = resolve;
    if (options.stop?.aborted) resolve();
    options.stop?.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.connect(transport);
  await finished;
  // Closing aborts the handlers still running (their AbortSignal): an ingest stops after the files in progress.
  await server.close();
  await writes(async () => undefined);
}
