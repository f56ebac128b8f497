import { claimStdoutForProtocol, serveMcpOverStdio } from '../mcp/stdio.js';
import type { McpFlags } from './flags.js';
import { openFromFlags } from './open.js';

/**
 * `mmrag mcp`: an MCP server over stdio for an agent on this machine (Claude Desktop, Cursor, VS Code...). stdout
 * carries protocol messages only; logs and progress go to stderr, which clients keep as the server's log.
 */
export async function mcpCommand(flags: McpFlags): Promise<void> {
  const protocolOut = claimStdoutForProtocol();
  const log = (line: string) => process.stderr.write(`mmrag mcp: ${line}\n`);
  const kb = await openFromFlags(flags);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // A client that went away leaves a broken pipe: stop serving rather than crash on it.
  process.stdout.on('error', onSignal);
  log(`serving ${kb.dir} over stdio`);
  try {
    await serveMcpOverStdio(kb, { output: protocolOut, log, stop: stop.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await kb.close();
    log('stopped');
  }
  // Model runtimes and OCR workers may keep the event loop alive: a client that closed stdin expects an exit.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}
