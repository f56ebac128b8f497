import type { z } from 'zod';
import type { Config } from '../config.js';
import type { SearchOptions } from '../kb.js';
import { parseWhere } from '../retrieve/filter.js';
import type { SearchRequest, searchBodySchema, searchFieldsSchema } from './contract.js';
import { httpError } from './http-errors.js';

type SearchBody = z.output<typeof searchBodySchema>;

/**
 * The knowledge base's search options from a validated body. A bad `where` or a rerank nobody configured is
 * refused here, as a 400, before a search (or an answer stream) starts.
 */
export function searchOptionsOf(body: SearchBody, config: Config): SearchOptions {
  const where = body.where?.trim() || undefined;
  if (where) parseWhere(where);
  if (body.rerank && config.search.rerank.provider === 'none') {
    throw httpError(
      'bad_request',
      'Reranking was asked for, but this server has no reranker configured.',
      'Leave rerank out, or start the server with search.rerank.provider set (MMRAG_RERANK).',
    );
  }
  return {
    ...(body.scoring ? { scoring: body.scoring } : {}),
    ...(body.text ? { text: body.text } : {}),
    ...(body.image ? { image: body.image } : {}),
    ...(body.level ? { level: body.level } : {}),
    ...(body.mode ? { mode: body.mode } : {}),
    ...(where ? { where } : {}),
    ...(body.diversity !== undefined ? { diversity: body.diversity } : {}),
    ...(body.rerank !== undefined ? { rerank: body.rerank } : {}),
  };
}

/** Validated flat fields (`textK`, `imageThreshold`, ...) as the JSON search body (`text: {k}`, ...). */
export function searchBodyOfFields(fields: z.output<typeof searchFieldsSchema>): SearchBody {
  const group = (k: number | undefined, threshold: number | undefined, temperature: number | undefined) => {
    const set = Object.entries({ k, threshold, temperature }).filter(([, v]) => v !== undefined);
    return set.length > 0 ? (Object.fromEntries(set) as SearchRequest['text']) : undefined;
  };
  const text = group(fields.textK, fields.textThreshold, fields.textTemperature);
  const image = group(fields.imageK, fields.imageThreshold, fields.imageTemperature);
  return {
    ...(fields.q !== undefined ? { q: fields.q } : {}),
    ...(fields.scoring ? { scoring: fields.scoring } : {}),
    ...(text ? { text } : {}),
    ...(image ? { image } : {}),
    ...(fields.level !== undefined ? { level: fields.level } : {}),
    ...(fields.mode ? { mode: fields.mode } : {}),
    ...(fields.where !== undefined ? { where: fields.where } : {}),
    ...(fields.diversity !== undefined ? { diversity: fields.diversity } : {}),
    ...(fields.rerank !== undefined ? { rerank: fields.rerank } : {}),
  };
}
