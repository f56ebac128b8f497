import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { FileOutcome, IngestSummary } from '../ingest/pipeline.js';
import type { IngestView } from './schemas.js';

/**
 * What an MCP client may ingest. Over stdio the client is the user on their own machine: any path, as in the CLI.
 * Over HTTP it is remote: web page URLs, and local paths only inside the configured roots.
 */
export type IngestAccess = { kind: 'any' } | { kind: 'roots'; roots: string[] };

/** Paths ingested in one run; files they refer to (a page's pictures) are read only inside `localRoot`. */
export interface IngestGroup {
  paths: string[];
  localRoot?: string;
}

export interface IngestPlan {
  groups: IngestGroup[];
  /** Paths refused by the access rules, as failed outcomes (the rest still runs). */
  refused: FileOutcome[];
}

const isWebUrl = (path: string) => /^https?:\/\//i.test(path);
/** A URL scheme (two letters at least, so that a Windows drive `C:` is a path). */
const hasScheme = (path: string) => /^[a-z][a-z0-9+.-]+:/i.test(path);

function realpathOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The real path of `path`, or of its nearest existing folder with the rest appended (for a missing file). */
function realpathOfNearest(path: string): string {
  const real = realpathOrUndefined(path);
  if (real !== undefined) return real;
  const parent = dirname(path);
  return parent === path ? path : join(realpathOfNearest(parent), basename(path));
}

function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function refusal(file: string, reason: string): FileOutcome {
  return { file, status: 'failed', items: 0, textItems: 0, imageItems: 0, warnings: [], reason };
}

/** Sort the requested paths into runs the access rules allow, and refusals. */
export function planIngest(paths: string[], access: IngestAccess): IngestPlan {
  if (access.kind === 'any') return { groups: [{ paths }], refused: [] };
  const roots = access.roots.map((root) => {
    const absolute = resolve(root);
    return { absolute, real: realpathOrUndefined(absolute) ?? absolute };
  });
  const allowed =
    roots.length === 0
      ? 'this server ingests only http(s) URLs for remote clients (local paths need mcp.ingestRoots in its configuration)'
      : `over HTTP, local paths must lie inside ${roots.map((r) => r.absolute).join(', ')} (mcp.ingestRoots)`;
  const urls: string[] = [];
  const byRoot = new Map<string, string[]>();
  const refused: FileOutcome[] = [];
  for (const path of paths) {
    if (isWebUrl(path)) {
      urls.push(path);
      continue;
    }
    if (hasScheme(path)) {
      refused.push(refusal(path, `refused: only http(s) URLs and file paths can be ingested; ${allowed}`));
      continue;
    }
    // A relative path is taken inside the roots (a remote client does not know the server's working folder).
    const candidates = isAbsolute(path)
      ? roots.map((root) => ({ root, target: resolve(path) }))
      : roots.map((root) => ({ root, target: resolve(root.absolute, path) }));
    const lexical = candidates.filter(
      ({ root, target }) => inside(target, root.absolute) || inside(target, root.real),
    );
    const existing = lexical.find(({ target }) => existsSync(target)) ?? lexical[0];
    if (!existing) {
      refused.push(refusal(path, `refused: ${allowed}`));
      continue;
    }
    if (!inside(realpathOfNearest(existing.target), existing.root.real)) {
      refused.push(
        refusal(path, `refused: it leads outside ${existing.root.absolute} (a symbolic link); ${allowed}`),
      );
      continue;
    }
    const group = byRoot.get(existing.root.real) ?? [];
    group.push(existing.target);
    byRoot.set(existing.root.real, group);
  }
  const groups: IngestGroup[] = [...byRoot].map(([root, rootPaths]) => ({
    paths: rootPaths,
    localRoot: root,
  }));
  if (urls.length > 0) groups.push({ paths: urls });
  return { groups, refused };
}

/** One summary for several runs and the refusals. */
export function combineIngest(parts: IngestSummary[], refused: FileOutcome[], seconds: number): IngestView {
  const outcomes = [...parts.flatMap((p) => p.outcomes), ...refused];
  const count = (status: FileOutcome['status']) => outcomes.filter((o) => o.status === status).length;
  const ingested = outcomes.filter((o) => o.status === 'ingested');
  return {
    files: outcomes.length,
    ingested: ingested.length,
    unchanged: count('unchanged'),
    skipped: count('skipped'),
    failed: count('failed'),
    items: ingested.reduce((n, o) => n + o.items, 0),
    textItems: ingested.reduce((n, o) => n + o.textItems, 0),
    imageItems: ingested.reduce((n, o) => n + o.imageItems, 0),
    seconds,
    outcomes,
  };
}
