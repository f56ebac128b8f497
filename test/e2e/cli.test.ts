import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_MODEL, ROOT, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI (bin/mmrag.js, the built package) in a temp folder with a clean MMRAG_* environment. */
function mmrag(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MMRAG_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'mmrag.js'), ...args], {
      cwd,
      env: { ...clean, MMRAG_EMBED_MODEL: FIXTURE_MODEL, MMRAG_LLM_URL: 'http://127.0.0.1:9', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;

beforeAll(async () => {
  tmp = tempDir('mmrag-cli-');
  await writeShapesPage(join(tmp.dir, 'docs'));
  llm = await startLoopbackLlm({ reply: 'The fuel dock is marked by a red circle [1].' });
});

afterAll(async () => {
  await llm?.close();
  tmp?.cleanup();
});

describe('mmrag CLI, end to end', () => {
  it('--help lists the commands', async () => {
    const run = await mmrag(['--help'], tmp.dir);
    expect(run.code).toBe(0);
    for (const command of [
      'ingest',
      'search',
      'ask',
      'sources',
      'delete',
      'demo',
      'serve',
      'mcp',
      'tune',
      'eval',
    ])
      expect(run.stdout).toContain(command);
  });

  it('ingests into ./.mmrag by default, one JSON line per file', async () => {
    const run = await mmrag(['ingest', 'docs', '--json'], tmp.dir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ status: 'ingested', type: 'html', textItems: 4, imageItems: 3 });
    expect(lines.at(-1).summary).toMatchObject({ ingested: 1, failed: 0, items: 7 });
  });

  it('re-ingesting adds nothing', async () => {
    const run = await mmrag(['ingest', 'docs', '--json'], tmp.dir);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!).summary).toMatchObject({
      ingested: 0,
      unchanged: 1,
    });
    const sources = JSON.parse((await mmrag(['sources', '--json'], tmp.dir)).stdout);
    expect(sources).toHaveLength(1);
    expect(sources[0]).toMatchObject({ textItems: 4, imageItems: 3 });
  });

  it('search --json prints the contract: query, text hits and image hits', async () => {
    const run = await mmrag(['search', 'a red circle', '--json', '--scoring', 'softmax'], tmp.dir);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(Object.keys(result)).toEqual(['query', 'text', 'images', 'level', 'mode']);
    expect(result).toMatchObject({ level: 3, mode: 'vector' }); // an explicit scoring is the reference vector search
    expect(result.query).toBe('a red circle');
    const image = result.images[0];
    expect(image).toMatchObject({
      caption: 'The fuel dock marker',
      section: 'Circles',
      title: 'Shapes of the harbour',
    });
    for (const key of ['id', 'score', 'similarity', 'title', 'section', 'source', 'caption', 'image'])
      expect(image).toHaveProperty(key);
    expect(image.score).toBeGreaterThanOrEqual(0.25);
    for (const hit of result.text) expect(hit).toHaveProperty('text');
  });

  it('search flags set k and thresholds per modality', async () => {
    const run = await mmrag(
      ['search', 'a red circle', '--json', '--image-k', '1', '--text-k', '0', '--image-threshold', '-1'],
      tmp.dir,
    );
    const result = JSON.parse(run.stdout);
    expect(result.text).toEqual([]);
    expect(result.images).toHaveLength(1);
    const bad = await mmrag(['search', 'x', '--text-k', 'many'], tmp.dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--text-k expects a whole number');
  });

  it('ask streams the answer from an Ollama server and ends with the numbered sources', async () => {
    const run = await mmrag(['ask', 'a red circle', '--llm', 'ollama', '--llm-url', llm.url], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('The fuel dock is marked by a red circle [1].');
    expect(run.stdout).toMatch(/Sources cited:\n\[1\] Shapes of the harbour, Circles - docs\/shapes\.html/);
    const body = llm.chatRequests().at(-1)!.body as { messages: Array<{ images?: string[] }> };
    expect(body.messages.at(-1)!.images!.length).toBeGreaterThan(0);
  });

  it('ask --json against an OpenAI-compatible server', async () => {
    const run = await mmrag(
      [
        'ask',
        'a blue square',
        '--json',
        '--llm',
        'openai',
        '--llm-url',
        `${llm.url}/v1`,
        '--llm-model',
        'gpt-test',
      ],
      tmp.dir,
      { MMRAG_LLM_API_KEY: 'sk-test-123' },
    );
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.answer).toBe('The fuel dock is marked by a red circle [1].');
    expect(result.model).toBe('openai/gpt-test');
    expect(result.sources.length).toBeGreaterThan(0);
    const request = llm.chatRequests().at(-1)!;
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-test-123');
  });

  it('with no LLM reachable, ask prints the sources and says no model answered', async () => {
    const run = await mmrag(['ask', 'a green triangle'], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('No language model answered');
    expect(run.stdout).toContain('Retrieved sources:');
    expect(run.stdout).toContain('[1] Shapes of the harbour');
  });

  it('an explicitly chosen LLM that is down is an error, with the sources still shown', async () => {
    const run = await mmrag(['ask', 'a green triangle', '--llm', 'ollama'], tmp.dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Could not reach Ollama/);
    expect(run.stdout).toContain('Retrieved sources:');
  });

  it('reads settings from mmrag.config.json, below the environment and flags', async () => {
    writeFileSync(join(tmp.dir, 'mmrag.config.json'), JSON.stringify({ search: { image: { k: 2 } } }));
    try {
      const run = await mmrag(['search', 'a red circle', '--json', '--image-threshold', '-1'], tmp.dir);
      expect(JSON.parse(run.stdout).images).toHaveLength(2);
    } finally {
      writeFileSync(join(tmp.dir, 'mmrag.config.json'), '{}');
    }
  });

  it('delete removes a source', async () => {
    const run = await mmrag(['delete', 'docs/shapes.html'], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Removed docs/shapes.html (7 items)');
    expect(JSON.parse((await mmrag(['sources', '--json'], tmp.dir)).stdout)).toEqual([]);
    const again = await mmrag(['delete', 'docs/shapes.html'], tmp.dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('No source');
  });

  it('doctor checks the model, the LLM, ffmpeg and OCR, with what to do about each', async () => {
    const run = await mmrag(['doctor', '--json', '--offline'], tmp.dir);
    const checks = JSON.parse(run.stdout) as Array<{
      name: string;
      ok: boolean;
      optional?: boolean;
      hint?: string;
    }>;
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName['embedding model']).toMatchObject({ ok: true });
    expect(byName['answering model']).toMatchObject({ ok: true, optional: true });
    expect(byName['answering model']!.hint).toContain('ollama pull');
    expect(run.code).toBe(0);
    const broken = await mmrag(['doctor', '--offline', '--embed-model', './no-such-model'], tmp.dir);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/✗ knowledge base|✗ embedding model/);
  });

  it("the library is importable by the package's name", async () => {
    const script =
      `const m = await import('mmrag'); const kb = await m.openKnowledgeBase({ kb: ${JSON.stringify(join(tmp.dir, 'lib-kb'))} }); ` +
      'console.log(JSON.stringify(await kb.stats())); await kb.close();';
    const run = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toHaveProperty('sources');
  });

  it('a missing path is a failed file, not a crash', async () => {
    const run = await mmrag(['ingest', 'nope.html'], tmp.dir);
    expect(run.code).toBe(1);
    expect(run.stderr + run.stdout).toContain('no such file or folder');
  });
});
