import { MmragError } from '../errors.js';
import { isLoopbackHost, startServer } from '../server/server.js';
import type { ServeFlags } from './flags.js';
import { openFromFlags } from './open.js';

function portOf(value: string | undefined): number {
  if (value === undefined) return 7860;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new MmragError(`--port expects a port number (0-65535), got "${value}".`, undefined, 'usage');
  return port;
}

/** `mmrag serve`: the web app and the HTTP API over one knowledge base, until Ctrl-C. */
export async function serveCommand(flags: ServeFlags): Promise<void> {
  const port = portOf(flags.port);
  const host = flags.host ?? '127.0.0.1';
  const token = flags.token ?? (process.env.MMRAG_TOKEN || undefined);
  const kb = await openFromFlags(flags);
  const server = await startServer(kb, { host, port, ...(token ? { token } : {}) }).catch(
    async (err: unknown) => {
      await kb.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE')
        throw new MmragError(
          `Port ${port} on ${host} is already in use.`,
          'Pick another one with --port.',
          'usage',
        );
      throw err;
    },
  );
  process.stdout.write(`mmrag is serving ${kb.dir}\n  web app and API: ${server.url}/\n`);
  if (token) process.stdout.write('  API calls need: Authorization: Bearer <token>\n');
  if (!isLoopbackHost(host)) {
    process.stderr.write(
      `Warning: listening on ${host}: other machines can reach this server${token ? '' : ' and no --token is set'}.\n`,
    );
  }
  process.stdout.write('Press Ctrl-C to stop.\n');
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stderr.write('\nStopping (finishing the ingest in progress; Ctrl-C again to quit now)…\n');
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  await kb.close();
}
