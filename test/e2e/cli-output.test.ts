import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printable } from '../../src/cli/terminal.js';
import { buildExactReferencePrompt } from '../../src/generate/prompt.js';
import type { Hit } from '../../src/types.js';
import { drawShape, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { cliEnv, collect, runCli, spawnCli } from '../helpers/robustness.js';

// What the CLI prints: pipes that close early, options that are not folders, knowledge bases that are not there,
// data that tries to drive the terminal, the exact prompt, and warnings the summary counts.

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
const ESC = '\u001b';

beforeAll(async () => {
  tmp = tempDir('mmrag-cli-output-');
  await writeShapesPage(join(tmp.dir, 'docs'));
  // A file whose name and text carry escape sequences (a screen clear, an OSC 52 clipboard write) and a newline.
  const hostile = join(tmp.dir, 'docs', `evil${ESC}[2J\nline.txt`);
  writeFileSync(
    hostile,
    `The lighthouse keeper writes ${ESC}]52;c;cm0gLXJmIH4=${ESC}\\ in the harbour logbook every night.\n`,
  );
  llm = await startLoopbackLlm({ reply: 'The red circle marks the fuel dock [1].' });
  const run = await runCli(['ingest', 'docs'], tmp.dir);
  expect(run.code).toBe(0);
});

afterAll(async () => {
  await llm?.close();
  tmp?.cleanup();
});

describe('what the CLI prints', () => {
  it('ends quietly when the reader closes the pipe (| head -c 10)', async () => {
    const child = spawnCli(['sources', '--json'], tmp.dir);
    const done = collect(child);
    child.stdout!.once('data', () => child.stdout!.destroy());
    const run = await done;
    expect(run.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(run.code).toBe(0);
  });

  it('refuses an option where --kb expects a folder, and creates nothing', async () => {
    const run = await runCli(['sources', '--kb', '--json'], tmp.dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--kb needs a folder, got "--json"');
    expect(existsSync(join(tmp.dir, '--json'))).toBe(false);
  });

  it('says a knowledge base is not there instead of creating an empty one', async () => {
    const search = await runCli(['search', 'red', '--kb', 'nowhere'], tmp.dir);
    expect(search.code).toBe(1);
    expect(search.stderr).toContain('There is no knowledge base at nowhere');
    const sources = await runCli(['sources', '--kb', 'nowhere'], tmp.dir);
    expect(sources.stdout).toContain('The knowledge base is empty');
    expect(existsSync(join(tmp.dir, 'nowhere'))).toBe(false);
  });

  it('never lets a file name or a document drive the terminal', async () => {
    const sources = await runCli(['sources'], tmp.dir);
    expect(sources.stdout).not.toContain(ESC);
    expect(sources.stdout).toContain('evil␛[2J⏎line.txt');
    const search = await runCli(['search', 'lighthouse keeper logbook'], tmp.dir);
    expect(search.stdout).toContain('lighthouse keeper');
    expect(search.stdout).not.toContain(ESC);
    // JSON carries the data as it is (escaped by JSON itself).
    const json = await runCli(['search', 'lighthouse keeper logbook', '--json'], tmp.dir);
    expect(json.stdout).toContain('\\u001b]52;c;');
  });

  it('ask --show-prompt prints exactly what the model was sent, pictures by path', async () => {
    const env = cliEnv({ MMRAG_LLM: 'ollama', MMRAG_LLM_URL: llm.url });
    const run = await runCli(['ask', 'What does the red circle mark?', '--show-prompt'], tmp.dir, env);
    expect(run.code).toBe(0);
    const sent = (
      llm.chatRequests().at(-1)!.body as { messages: Array<{ content: string; images?: string[] }> }
    ).messages[0]!;
    const shown = run.stdout.slice(
      run.stdout.indexOf('\n') + 1,
      run.stdout.indexOf('----- Pictures attached'),
    );
    // Exactly the text sent, with control characters shown as symbols (a document may carry escape sequences).
    expect(shown).toBe(`${printable(sent.content, { multiline: true })}\n`);
    expect(shown).toContain('␛]52;c;');
    expect(run.stdout).toMatch(/Prompt sent to the model \(\d pictures? attached\)/);
    const listed = run.stdout.match(/^ {2}\d\. .*media.*\.png$/gm) ?? [];
    expect(listed).toHaveLength(sent.images?.length ?? 0);
    expect(run.stdout.indexOf('end of prompt')).toBeLessThan(run.stdout.indexOf('fuel dock [1]'));
  });

  it('ask --prompt reference sends the reference pipeline prompt, and --json carries prompt and pictures', async () => {
    const env = cliEnv({ MMRAG_LLM: 'ollama', MMRAG_LLM_URL: llm.url });
    const run = await runCli(
      ['ask', 'What does the red circle mark?', '--prompt', 'reference', '--json'],
      tmp.dir,
      env,
    );
    const result = JSON.parse(run.stdout) as {
      prompt: string;
      attached: Array<{ id: string; path: string }>;
      sources: Hit[];
    };
    const sent = (llm.chatRequests().at(-1)!.body as { messages: Array<{ content: string }> }).messages[0]!;
    expect(result.prompt).toBe(sent.content);
    expect(
      result.prompt.startsWith(
        'Given the query "What does the red circle mark?" and the following relevant snippets:\n\n    **Article title:** ',
      ),
    ).toBe(true);
    const text = result.sources.filter((s) => s.modality === 'text');
    const images = result.sources.filter((s) => s.modality === 'image');
    expect(result.prompt).toBe(buildExactReferencePrompt('What does the red circle mark?', text, images));
    expect(result.attached.map((a) => a.id)).toEqual(images.map((h) => h.id));
  });

  it('says when the documents do not answer, without asking the model; --no-gate asks it anyway', async () => {
    const env = cliEnv({ MMRAG_LLM: 'ollama', MMRAG_LLM_URL: llm.url });
    const before = llm.chatRequests().length;
    const question = 'How do I reset the password of my email account?';
    const json = await runCli(['ask', question, '--json'], tmp.dir, env);
    expect(JSON.parse(json.stdout)).toMatchObject({ answerable: false, model: null });
    const plain = await runCli(['ask', question], tmp.dir, env);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('Your documents do not seem to say');
    expect(plain.stdout).toContain('Closest sources:');
    expect(llm.chatRequests().length).toBe(before);
    const forced = await runCli(['ask', question, '--no-gate', '--json'], tmp.dir, env);
    expect(JSON.parse(forced.stdout)).toMatchObject({ answerable: true, model: 'ollama/llama3.2-vision' });
  });

  it('never prints the credentials of a URL: doctor, and the error of an unreachable model', async () => {
    const url = 'http://alice:s3cret-pw@127.0.0.1:9/v1?api_key=k3y-in-query';
    const doctor = await runCli(['doctor', '--llm', 'openai', '--llm-url', url], tmp.dir);
    const ask = await runCli(['ask', 'What is red?', '--llm', 'openai', '--llm-url', url], tmp.dir);
    expect(ask.code).toBe(1);
    for (const run of [doctor, ask]) {
      const printed = run.stdout + run.stderr;
      expect(printed).not.toContain('s3cret-pw');
      expect(printed).not.toContain('k3y-in-query');
    }
    expect(doctor.stdout).toContain('http://127.0.0.1:9/v1');
  });

  it('counts the warnings in the summary, and says when the pictures were not fetched', async () => {
    const site = join(tmp.dir, 'remote');
    mkdirSync(site);
    writeFileSync(join(site, 'local.png'), await drawShape('blue', 'square'));
    writeFileSync(
      join(site, 'page.html'),
      `<html><head><title>Remote</title></head><body><p>A page whose pictures live on a web server that cannot be reached.</p>
<img src="http://pictures.invalid/a.png" alt="first"><img src="http://pictures.invalid/b.png" alt="second"><img src="local.png" alt="third"></body></html>`,
    );
    const run = await runCli(['ingest', site, '--kb', 'remote-kb'], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/2 warnings: 2 pictures could not be read or fetched \(offline\?/);
    const json = await runCli(['ingest', site, '--kb', 'remote-kb-2', '--json'], tmp.dir);
    const summary = JSON.parse(json.stdout.trim().split('\n').at(-1)!) as {
      summary: { warnings: { total: number; pictures: number; network: number } };
    };
    expect(summary.summary.warnings).toEqual({ total: 2, pictures: 2, network: 2 });
  });
});

describe('the reference prompt, character for character', () => {
  // The expected strings were printed by the reference's own `construct_prompt` (Python) for these hits.
  const hit = (fields: Partial<Hit>): Hit => ({
    id: 'x',
    modality: 'text',
    score: 1,
    similarity: 1,
    title: 'Shapes of the harbour',
    section: 'Circles',
    source: '/s.html',
    type: 'html',
    ...fields,
  });

  it('matches the reference output for text and picture hits', () => {
    const prompt = buildExactReferencePrompt(
      'What does the red circle mark?',
      [
        hit({ text: 'A red circle marks the fuel dock.' }),
        hit({ section: 'Squares', text: 'A blue square marks the customs office.' }),
      ],
      [hit({ modality: 'image', image: '/kb/media/ab/ab12.png', caption: 'The fuel dock marker' })],
    );
    expect(prompt).toBe(
      'Given the query "What does the red circle mark?" and the following relevant snippets:\n\n    **Article title:** Shapes of the harbour\n**Section:**  Circles\n**Snippet:** A red circle marks the fuel dock.\n\n**Article title:** Shapes of the harbour\n**Section:**  Squares\n**Snippet:** A blue square marks the customs office.\n\n\n    **Article title:** Shapes of the harbour\n**Section:**  Circles\n**Image Path:**  /kb/media/ab/ab12.png\n**Image Caption:** The fuel dock marker\n\n\n\n    Please provide a concise and accurate answer to the query, incorporating relevant information from the provided snippets where possible.\n\n    ',
    );
  });

  it('matches the reference output with no hits', () => {
    expect(buildExactReferencePrompt('Anything?', [], [])).toBe(
      'Given the query "Anything?" and the following relevant snippets:\n\n    \n    \n\n    Please provide a concise and accurate answer to the query, incorporating relevant information from the provided snippets where possible.\n\n    ',
    );
  });
});
