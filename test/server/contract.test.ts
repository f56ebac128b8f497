import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorMessage } from '../../src/errors.js';
import { FIELD_PATHS, searchBodySchema, searchFieldsSchema } from '../../src/server/contract.js';
import { parseRequest } from '../../src/server/http-errors.js';
import { searchBodyOfFields } from '../../src/server/search-options.js';

/** The 400 message (and hint) a value gets, or 'ok'. */
function refusal(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (err) {
    return `${errorMessage(err)} | ${(err as { hint?: string }).hint ?? ''}`;
  }
}

const asFields = (fields: Record<string, string>) => () =>
  searchBodyOfFields(parseRequest(searchFieldsSchema, fields, FIELD_PATHS));
const asJson = (body: unknown) => () => parseRequest(searchBodySchema, body);

describe('the HTTP contract', () => {
  it('imports nothing but zod and types, so the web app can type-check against it in the browser config', () => {
    const source = readFileSync(new URL('../../src/server/contract.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import (type )?.*? from '([^']+)';$/gms)].map(
      (m) => `${m[1] ?? ''}${m[2]}`,
    );
    expect(imports).toEqual(['@hono/zod-openapi', 'type ../types.js']);
  });

  it('search options as query or multipart fields are refused in the words of the JSON options', () => {
    const cases: Array<[Record<string, string>, unknown]> = [
      [
        { q: 'x', textK: '1000' },
        { q: 'x', text: { k: 1000 } },
      ],
      [
        { q: 'x', imageTemperature: '-1', level: '5' },
        { q: 'x', image: { temperature: -1 }, level: 5 },
      ],
      [
        { q: 'x', mode: 'fast', diversity: '2' },
        { q: 'x', mode: 'fast', diversity: 2 },
      ],
      [{ q: 'x'.repeat(8001) }, { q: 'x'.repeat(8001) }],
    ];
    for (const [fields, json] of cases) {
      const message = refusal(asFields(fields));
      expect(message).toMatch(/^Invalid request: .+\. \| See \/api\/openapi\.json for the fields\.$/);
      expect(message).toBe(refusal(asJson(json)));
    }
    expect(refusal(asFields({ q: 'x', textK: '1000' }))).toContain('text.k: Too big');
  });

  it('a field that is not a number or a boolean is named, before any other problem', () => {
    expect(refusal(asFields({ q: 'x', level: '9', textK: 'many' }))).toBe(
      'textK must be a number, got "many". | ',
    );
    expect(refusal(asFields({ q: 'x', rerank: 'maybe' }))).toBe(
      'rerank must be true or false, got "maybe". | ',
    );
    expect(asFields({ q: 'x', textK: ' 3 ', imageThreshold: '', rerank: ' YES ', level: '2' })()).toEqual({
      q: 'x',
      text: { k: 3 },
      level: 2,
      rerank: true,
    });
  });
});
