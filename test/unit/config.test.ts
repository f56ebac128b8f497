import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeLayers, parseConfig, redactConfig, resolveConfig } from '../../src/config.js';

describe('configuration', () => {
  it('has the reference defaults and cosine + hybrid search at level 3', () => {
    const c = parseConfig({});
    expect(c.kb).toBe('.mmrag');
    expect(c.search).toMatchObject({ scoring: 'cosine', mode: 'hybrid', level: 3 });
    expect(c.search.text).toEqual({ k: 15, threshold: 0.01, temperature: 0.25 });
    expect(c.search.image).toEqual({ k: 5, threshold: 0.25, temperature: 0.5 });
    expect(c.llm.provider).toBe('auto');
    expect(c.ingest).toMatchObject({ minTextLength: 30, chunkSize: 256, chunkOverlap: 0.25, ocr: true });
  });

  it('layers defaults < config file < MMRAG_* environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmrag-config-'));
    try {
      writeFileSync(
        join(dir, 'mmrag.config.json'),
        JSON.stringify({
          kb: 'from-file',
          llm: { model: 'file-model', provider: 'openai' },
          search: { text: { k: 3 } },
        }),
      );
      const c = resolveConfig({
        cwd: dir,
        env: { MMRAG_KB: 'from-env', MMRAG_LLM_MODEL: 'env-model', OPENAI_API_KEY: 'sk-env' },
        flags: { kb: 'from-flags' },
      });
      expect(c.kb).toBe('from-flags');
      expect(c.llm).toMatchObject({ model: 'env-model', provider: 'openai', apiKey: 'sk-env' });
      expect(c.search.text.k).toBe(3);
      expect(c.search.image.k).toBe(5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the bad setting and the way out', () => {
    expect(() => parseConfig({ search: { text: { k: -1 } } })).toThrow(/search\.text\.k/);
    expect(() => parseConfig({ llm: { provider: 'gpt' } })).toThrow(/llm\.provider/);
    expect(() => resolveConfig({ configPath: '/nowhere/mmrag.json', env: {} })).toThrow(
      /Config file not found/,
    );
  });

  it('merges layers deeply without letting undefined override', () => {
    expect(mergeLayers({ a: { b: 1, c: 2 } }, { a: { b: undefined, c: 3 } })).toEqual({ a: { b: 1, c: 3 } });
  });

  it('redacts keys and credentials in URLs before anything is shown', () => {
    const c = parseConfig({
      llm: { apiKey: 'sk-secret', url: 'https://user:pass@llm.example.com/v1?api-key=sk-2' },
      search: { rerank: { provider: 'remote', url: 'https://rerank.example.com/rerank', apiKey: 'rk' } },
    });
    const shown = JSON.stringify(redactConfig(c));
    for (const secret of ['sk-secret', 'pass', 'sk-2', '"rk"']) expect(shown).not.toContain(secret);
    expect(shown).toContain('https://rerank.example.com/rerank');
  });

  it('never sends one service its key for another: transcription gets its own key, or OpenAI the OpenAI key', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mmrag-config-'));
    try {
      const llmKey = { MMRAG_LLM_API_KEY: 'sk-llm', MMRAG_TRANSCRIBE: 'openai' };
      expect(resolveConfig({ env: llmKey, cwd }).transcribe.apiKey).toBeUndefined();
      const custom = { OPENAI_API_KEY: 'sk-openai', MMRAG_TRANSCRIBE_URL: 'http://10.0.0.9:8000/v1' };
      expect(resolveConfig({ env: custom, cwd }).transcribe.apiKey).toBeUndefined();
      expect(resolveConfig({ env: { OPENAI_API_KEY: 'sk-openai' }, cwd }).transcribe.apiKey).toBe(
        'sk-openai',
      );
      const own = { ...custom, MMRAG_TRANSCRIBE_API_KEY: 'sk-whisper' };
      expect(resolveConfig({ env: own, cwd }).transcribe.apiKey).toBe('sk-whisper');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
