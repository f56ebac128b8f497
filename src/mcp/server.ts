import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ReadResourceResult,
  ServerNotification,
  ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { MmragError } from '../errors.js';
import { formatSourceLine } from '../generate/prompt.js';
import { decodeDataUri } from '../ingest/pictures.js';
import type { IngestEvent, IngestSummary } from '../ingest/pipeline.js';
import type { KnowledgeBase, SearchOptions, SearchQuery } from '../kb.js';
import {
  type Content,
  hitView,
  itemView,
  pictureContent,
  pictureHitBlock,
  pictureRendition,
  RENDITION_MAX_SIDE,
  textHitBlock,
  toolError,
} from './content.js';
import { combineIngest, type IngestAccess, planIngest } from './ingest-access.js';
import {
  askArguments,
  askOutput,
  deleteSourceArguments,
  deleteSourceOutput,
  getItemArguments,
  getItemOutput,
  ingestArguments,
  ingestOutput,
  listSourcesOutput,
  searchArguments,
  searchOutput,
} from './schemas.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Runs knowledge-base writes (ingest, delete) one after another, so a second one waits instead of failing. */
export type WriteRunner = <T>(write: () => Promise<T>) => Promise<T>;

/** A WriteRunner for one knowledge base: share it between every server over that knowledge base. */
export function serialWrites(): WriteRunner {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(write: () => Promise<T>): Promise<T> => {
    const run = tail.then(write, write);
    tail = run.catch(() => undefined);
    return run;
  };
}

export interface MmragMcpOptions {
  /** `stdio`: the user's own machine (any path, pictures by path); `http`: a remote client. */
  transport: 'stdio' | 'http';
  /** Folders HTTP clients may ingest by path (default: the knowledge base's `mcp.ingestRoots`). */
  ingestRoots?: string[];
  /** Serialises writes; pass one shared runner when several servers use one knowledge base. */
  writes?: WriteRunner;
  /** Where progress and log lines go (stderr over stdio); default: nowhere. */
  log?: (line: string) => void;
}

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const INSTRUCTIONS = `mmrag searches the user's own documents: web pages, PDFs, slides, spreadsheets, pictures, recordings.
- search finds passages and pictures (pictures come back as images you can look at); every hit has an id.
- ask answers a question from the retrieved text and pictures with numbered sources [n]; cite them.
- get_item gives the full text or picture of a hit by id; list_sources shows what is in the knowledge base.
- ingest adds files, folders or web page URLs; delete_source removes one source.`;

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

/** The MCP server over one knowledge base: six tools and two resource templates. */
export function createMcpServer(kb: KnowledgeBase, options: MmragMcpOptions): McpServer {
  const server = new McpServer(
    { name: 'mmrag', title: 'mmrag', version: VERSION },
    { instructions: INSTRUCTIONS },
  );
  const writes = options.writes ?? serialWrites();
  const log = options.log ?? (() => {});
  const access: IngestAccess =
    options.transport === 'stdio'
      ? { kind: 'any' }
      : { kind: 'roots', roots: options.ingestRoots ?? kb.config.mcp.ingestRoots };

  /** Run a tool body; any failure becomes a tool error with the CLI's message and hint. */
  const guarded =
    <A>(body: (args: A, extra: Extra) => Promise<CallToolResult>) =>
    async (args: A, extra: Extra): Promise<CallToolResult> => {
      try {
        return await body(args, extra);
      } catch (err) {
        return toolError(err);
      }
    };

  server.registerTool(
    'search',
    {
      title: 'Search the documents',
      description:
        'Find the passages and pictures in the knowledge base most related to a query (words, a picture, or both). No language model is involved. Text hits come back as text with title, section, source, location and id; picture hits as images next to their caption and id. Use get_item for the full item, ask for an answer.',
      inputSchema: searchArguments,
      outputSchema: searchOutput,
      annotations: READ_ONLY,
    },
    guarded(async (args) => {
      if (!args.query?.trim() && !args.image)
        throw new MmragError('Give a query, an image, or both.', undefined, 'usage');
      await requireContent(kb);
      const query: SearchQuery = {
        text: args.query,
        ...(args.image ? queryImage(args.image, options.transport, kb.config.ingest.maxImageBytes) : {}),
      };
      const result = await kb.search(query, searchOptions(args));
      const content: Content[] = [
        { type: 'text', text: searchHeading(args.query, result.text.length, result.images.length, result) },
      ];
      result.text.forEach((hit, i) => {
        content.push(textHitBlock(i + 1, hit));
      });
      for (const [i, hit] of result.images.entries()) {
        content.push(pictureHitBlock(result.text.length + i + 1, hit));
        if (hit.image) content.push(await pictureContent(hit.image, hit.id));
      }
      return {
        content,
        structuredContent: {
          query: result.query,
          level: result.level ?? kb.config.search.level,
          mode: result.mode ?? kb.config.search.mode,
          text: result.text.map(hitView),
          images: result.images.map(hitView),
        },
      };
    }),
  );

  server.registerTool(
    'ask',
    {
      title: 'Answer from the documents',
      description:
        'Answer a question from the knowledge base: retrieves text and pictures, shows them to the configured multimodal language model and returns its answer with numbered sources [n] and the pictures it was shown. When no model is reachable it says so and still returns the retrieved sources. Prefer search when you want to read the material yourself.',
      inputSchema: askArguments,
      outputSchema: askOutput,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    guarded(async (args, extra) => {
      await requireContent(kb);
      const result = await kb.ask(args.question, {
        level: args.level as SearchOptions['level'],
        where: args.where,
        signal: extra.signal,
      });
      const answered = result.model !== null;
      // Level 1 shows the model captions only; without a model nothing was shown.
      const shown = answered && result.level !== 1;
      const pictures = result.sources.filter((hit) => hit.modality === 'image');
      const lines: string[] = [];
      if (result.answer) lines.push(result.answer);
      if (result.error) {
        lines.push(
          result.error.code === 'llm_none'
            ? result.error.message
            : `The model failed: ${result.error.message}`,
        );
        if (result.error.hint) lines.push(result.error.hint);
      }
      lines.push('');
      if (result.sources.length === 0) lines.push('No sources passed the thresholds.');
      else {
        lines.push(answered ? 'Sources:' : 'Retrieved sources:');
        result.sources.forEach((hit, i) => {
          lines.push(`${formatSourceLine(i + 1, hit)} [id ${hit.id}]`);
        });
        if (result.citations.length > 0)
          lines.push(`The answer cites ${result.citations.map((n) => `[${n}]`).join(', ')}.`);
      }
      const content: Content[] = [{ type: 'text', text: lines.join('\n').trim() }];
      for (const hit of pictures) {
        const n = result.sources.indexOf(hit) + 1;
        content.push(pictureHitBlock(n, hit, shown ? 'Picture shown to the model:' : 'Retrieved picture:'));
        if (hit.image) content.push(await pictureContent(hit.image, hit.id));
      }
      return {
        content,
        isError: result.error !== undefined && result.error.code !== 'llm_none',
        structuredContent: {
          question: result.question,
          answer: result.answer,
          model: result.model,
          level: result.level,
          sources: result.sources.map((hit, i) => ({ ...hitView(hit), number: i + 1 })),
          citations: result.citations,
          picturesShown: shown ? pictures.filter((hit) => hit.image).map((hit) => hit.id) : [],
          ...(result.error ? { error: result.error } : {}),
        },
      };
    }),
  );

  server.registerTool(
    'ingest',
    {
      title: 'Add files to the knowledge base',
      description:
        'Add files, folders (walked recursively) or web page URLs to the knowledge base: unchanged files are skipped, changed ones replaced, one bad file never stops the rest. Reports progress per file and returns a summary with the reason of every failure. Over HTTP, local paths must lie inside the folders the server allows.',
      inputSchema: ingestArguments,
      outputSchema: ingestOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    guarded(async (args, extra) => {
      const started = Date.now();
      const plan = planIngest(args.paths, access);
      const progressToken = extra._meta?.progressToken;
      let total = plan.refused.length;
      let done = 0;
      // Sent before the result, so that a client sees every file's progress before the call completes.
      const notifications: Promise<void>[] = [];
      const onEvent = (event: IngestEvent) => {
        if (event.kind === 'walked') total += event.files;
        if (event.kind !== 'file-done') return;
        done++;
        const { outcome } = event;
        const line = `${outcome.file}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : outcome.status === 'ingested' ? ` (${outcome.items} items)` : ''}`;
        log(`ingest ${done}/${Math.max(total, done)} ${line}`);
        if (progressToken !== undefined) {
          notifications.push(
            extra
              .sendNotification({
                method: 'notifications/progress',
                params: { progressToken, progress: done, total: Math.max(total, done), message: line },
              })
              .catch(() => {
                // A client that went away misses its progress; the ingest goes on.
              }),
          );
        }
      };
      for (const refused of plan.refused) log(`ingest ${refused.file}: ${refused.reason}`);
      const parts: IngestSummary[] = await writes(async () => {
        const runs: IngestSummary[] = [];
        for (const group of plan.groups) {
          extra.signal.throwIfAborted();
          runs.push(
            await kb.ingest(group.paths, {
              onEvent,
              signal: extra.signal,
              ...(group.localRoot ? { localRoot: group.localRoot } : {}),
            }),
          );
        }
        return runs;
      });
      await Promise.all(notifications);
      const summary = combineIngest(parts, plan.refused, (Date.now() - started) / 1000);
      const lines = [
        `${summary.ingested} ingested, ${summary.unchanged} unchanged, ${summary.skipped} skipped, ${summary.failed} failed: ${summary.textItems} text items and ${summary.imageItems} pictures added in ${summary.seconds.toFixed(1)} s.`,
      ];
      for (const o of summary.outcomes.filter((o) => o.status === 'failed' || o.status === 'skipped'))
        lines.push(`${o.status}: ${o.file}: ${o.reason ?? 'unknown reason'}`);
      for (const o of summary.outcomes.filter((o) => o.warnings.length > 0))
        lines.push(`warning: ${o.file}: ${o.warnings.join('; ')}`);
      return {
        content: [{ type: 'text', text: lines.join('\n') }],
        // Nothing at all went in: the call failed. Some files failing among others is reported, not an error.
        isError: summary.failed > 0 && summary.ingested + summary.unchanged === 0,
        structuredContent: summary,
      };
    }),
  );

  server.registerTool(
    'list_sources',
    {
      title: 'List what is in the knowledge base',
      description:
        'List every source (file or URL) in the knowledge base with its type, item counts and ingest time. A source is what delete_source takes and what the where filter calls source.',
      inputSchema: {},
      outputSchema: listSourcesOutput,
      annotations: READ_ONLY,
    },
    guarded(async () => {
      const records = await kb.sources();
      const sources = records.map((r) => ({
        source: r.source,
        type: r.type,
        items: r.items,
        textItems: r.textItems,
        imageItems: r.imageItems,
        bytes: r.bytes,
        ingestedAt: new Date(r.ingestedAt).toISOString(),
      }));
      const text =
        sources.length === 0
          ? 'The knowledge base is empty. Add files, folders or URLs with the ingest tool.'
          : [
              `${sources.length} sources:`,
              ...sources.map(
                (s) =>
                  `${s.source} (${s.type}, ${plural(s.textItems, 'text item')}, ${plural(s.imageItems, 'picture')}, ingested ${s.ingestedAt.slice(0, 16).replace('T', ' ')})`,
              ),
            ].join('\n');
      return { content: [{ type: 'text', text }], structuredContent: { sources } };
    }),
  );

  server.registerTool(
    'get_item',
    {
      title: 'Read one item',
      description:
        'The full text of a text item, or the picture (as an image) and caption of a picture item, with its source and location, by the id a search or ask result gave.',
      inputSchema: getItemArguments,
      outputSchema: getItemOutput,
      annotations: READ_ONLY,
    },
    guarded(async (args) => {
      const item = await kb.item(args.id);
      if (!item) throw itemNotFound(kb, args.id);
      const view = itemView(item);
      const heading = [
        `${[item.title, item.section].filter(Boolean).join(', ') || '(untitled)'} - ${item.source}${view.where ? ` (${view.where})` : ''}`,
        `id: ${item.id}, ${item.modality === 'image' ? 'picture' : 'text'} from a ${item.type} source`,
      ];
      const content: Content[] = [];
      if (item.modality === 'text')
        content.push({ type: 'text', text: `${heading.join('\n')}\n\n${item.text}` });
      else {
        const lines = [...heading, `caption: ${item.text || '(none)'}`];
        if (item.description) lines.push(`description: ${item.description}`);
        content.push({ type: 'text', text: lines.join('\n') });
        const media = await kb.media(item.id);
        if (media) content.push(await pictureContent(media.path, item.id));
      }
      return { content, structuredContent: { item: view } };
    }),
  );

  server.registerTool(
    'delete_source',
    {
      title: 'Remove a source',
      description:
        'Remove one source (a file path or URL exactly as list_sources shows it) and all its items and pictures from the knowledge base. The files themselves are not touched; ingest them again to bring them back.',
      inputSchema: deleteSourceArguments,
      outputSchema: deleteSourceOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    guarded(async (args) => {
      const removed = await writes(() => kb.delete(args.source));
      log(`deleted ${args.source} (${removed} items)`);
      return {
        content: [{ type: 'text', text: `Removed ${args.source} (${removed} items).` }],
        structuredContent: { source: args.source, removed },
      };
    }),
  );

  server.registerResource(
    'item',
    new ResourceTemplate('mmrag://item/{id}', { list: undefined }),
    {
      title: 'Knowledge base item',
      description: 'One stored item (text chunk or picture record) as JSON: text, source, location.',
      mimeType: 'application/json',
    },
    async (uri, variables): Promise<ReadResourceResult> => {
      const id = String(variables.id);
      const item = await kb.item(id);
      if (!item) throw itemNotFound(kb, id);
      return {
        contents: [
          { uri: uri.href, mimeType: 'application/json', text: JSON.stringify(itemView(item), null, 2) },
        ],
      };
    },
  );

  server.registerResource(
    'media',
    new ResourceTemplate('mmrag://media/{id}', { list: undefined }),
    {
      title: 'Stored picture',
      description: `The picture of a picture item, at most ${RENDITION_MAX_SIDE} pixels on the longer side (PNG or JPEG).`,
    },
    async (uri, variables): Promise<ReadResourceResult> => {
      const id = String(variables.id);
      const media = await kb.media(id);
      if (!media) throw itemNotFound(kb, id, 'picture');
      const rendition = await pictureRendition(new Uint8Array(await readFile(media.path)));
      return { contents: [{ uri: uri.href, mimeType: rendition.mimeType, blob: rendition.data }] };
    },
  );

  return server;
}

function searchOptions(args: { k?: number; level?: number; mode?: SearchOptions['mode']; where?: string }) {
  return {
    level: args.level as SearchOptions['level'],
    mode: args.mode,
    where: args.where,
    ...(args.k !== undefined ? { text: { k: args.k }, image: { k: args.k } } : {}),
  } satisfies SearchOptions;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function searchHeading(
  query: string | undefined,
  texts: number,
  pictures: number,
  result: { level?: number; mode?: string },
): string {
  const what = query?.trim() ? `"${query.trim()}"` : 'the picture';
  const how = `level ${result.level}, ${result.mode} search`;
  if (texts + pictures === 0) {
    return `Nothing passed the thresholds for ${what} (${how}). Try other words, mode bm25 for exact terms, a where filter that is less strict, or list_sources to see what is there.`;
  }
  return `${plural(texts, 'text hit')} and ${plural(pictures, 'picture')} for ${what} (${how}), best first, numbered [n]:`;
}

async function requireContent(kb: KnowledgeBase): Promise<void> {
  const stats = await kb.stats();
  if (stats.sources === 0) {
    throw new MmragError(
      `The knowledge base ${kb.dir} is empty.`,
      'Add files first: call the ingest tool with files, folders or web page URLs.',
      'empty_kb',
    );
  }
}

function itemNotFound(kb: KnowledgeBase, id: string, what = 'item'): MmragError {
  return new MmragError(
    `No ${what} ${id} in the knowledge base ${kb.dir}.`,
    'Use an id from a search or ask result; items are renewed when their file is ingested again.',
    'not_found',
  );
}

/**
 * The query picture: a `data:` URL on any transport; a file path only over stdio, where the client is the user on
 * their own machine (a remote client must never make the server read its disk).
 */
export function queryImage(
  image: string,
  transport: MmragMcpOptions['transport'],
  maxBytes: number,
): Pick<SearchQuery, 'image' | 'imageBytes'> {
  if (/^data:/i.test(image.trim())) {
    try {
      return { imageBytes: decodeDataUri(image.trim(), maxBytes).bytes };
    } catch (err) {
      throw new MmragError(
        `The image data URL cannot be read: ${(err as Error).message}.`,
        'Send data:image/png;base64,<base64 of the picture> (PNG, JPEG, GIF, WebP).',
        'bad_query',
      );
    }
  }
  if (transport === 'http') {
    throw new MmragError(
      'Over HTTP, image must be a base64 data URL: this server does not read files by path for remote clients.',
      'Send data:image/png;base64,<base64 of the picture>.',
      'bad_query',
    );
  }
  if (/^[a-z][a-z0-9+.-]+:/i.test(image)) {
    throw new MmragError(
      `image is a file path or a data: URL, not ${image.slice(0, 40)}.`,
      'Download the picture first, then give its path.',
      'bad_query',
    );
  }
  return { image };
}
