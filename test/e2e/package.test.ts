import { type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';

/*
 * The library as a user gets it: `npm pack`, installed into a new project from the tarball (through the package's
 * `exports`, with its own dependencies), running the example of docs/library.md verbatim.
 */

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: SpawnOptions): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The fenced block of `language` that follows the HTML comment starting with `marker`. */
function codeBlockAfter(markdown: string, marker: string, language: string): string {
  const at = markdown.indexOf(marker);
  if (at < 0) throw new Error(`docs/library.md has no "${marker}" marker`);
  const match = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\\n\`\`\``).exec(markdown.slice(at));
  if (!match) throw new Error(`no \`\`\`${language} block after "${marker}" in docs/library.md`);
  return `${match[1]}\n`;
}

const REPLY = 'The fuel dock is marked by a red circle [1].';
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let tmp: ReturnType<typeof tempDir>;
let project: string;
let llm: LoopbackLlm;
let env: Record<string, string>;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'index.js')))
    throw new Error('Build first: npx tsc -p tsconfig.build.json');
  tmp = tempDir('mmrag-package-');
  project = join(tmp.dir, 'project');
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => !k.startsWith('MMRAG_') && v !== undefined),
  ) as Record<string, string>;
  // Scripts are skipped: the tarball holds the built dist (a `prepare` build is not what a user runs), and the
  // dependencies' install scripts would download (onnxruntime's CUDA files); their binaries ship in the packages.
  const packed = await run(NPM, ['pack', '--ignore-scripts', '--pack-destination', tmp.dir, '--silent'], {
    cwd: ROOT,
    env: clean,
  });
  expect(packed.code, packed.stderr).toBe(0);
  const tarball = join(tmp.dir, packed.stdout.trim().split('\n').at(-1)!);
  mkdirSync(project, { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'mmrag-example', private: true, type: 'module' }, null, 2)}\n`,
  );
  const installed = await run(
    NPM,
    [
      'install',
      tarball,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--loglevel=error',
    ],
    { cwd: project, env: clean },
  );
  expect(installed.code, installed.stderr).toBe(0);
  await writeShapesPage(join(project, 'docs'));
  llm = await startLoopbackLlm({ reply: REPLY });
  env = {
    ...clean,
    // The fixture model as the package ships it.
    MMRAG_EMBED_MODEL: join(project, 'node_modules', 'mmrag', 'models', 'tiny-clip-shapes'),
    MMRAG_LLM: 'ollama',
    MMRAG_LLM_URL: llm.url,
    MMRAG_OCR: '0',
  };
}, 240_000);

afterAll(async () => {
  await llm?.close();
  tmp?.cleanup();
});

describe('the packed package', () => {
  it('resolves `mmrag` to the installed package, not the source tree', async () => {
    const resolved = await run(
      process.execPath,
      ['--input-type=module', '-e', "console.log(import.meta.resolve('mmrag'))"],
      {
        cwd: project,
        env,
      },
    );
    expect(resolved.stdout.trim()).toBe(
      `file://${join(project, 'node_modules', 'mmrag', 'dist', 'index.js')}`,
    );
  });

  it('runs the example of docs/library.md', async () => {
    const example = codeBlockAfter(
      readFileSync(join(ROOT, 'docs', 'library.md'), 'utf8'),
      '<!-- example:',
      'js',
    );
    writeFileSync(join(project, 'example.mjs'), example);
    const result = await run(process.execPath, ['example.mjs'], { cwd: project, env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toContain('1 files to read');
    expect(out).toContain(`ingested: ${join(project, 'docs', 'shapes.html')}`);
    expect(out).toContain('1 ingested, 0 failed, 7 items');
    expect(out).toMatch(/picture 0\.\d{3} "The fuel dock marker" stored at .*my-knowledge-base/);
    expect(out).toContain(`${REPLY}\nanswered by ollama/llama3.2-vision at level 3`);
    expect(out).toMatch(/\[1\] Shapes of the harbour - .*shapes\.html/);
    expect(out).toContain(`${join(project, 'docs', 'shapes.html')}: 4 text, 3 pictures`);
    expect(out).toContain('removed 7 items');
    // The model was shown the pictures.
    const chats = llm.chatRequests();
    expect(chats).toHaveLength(1);
    const messages = (chats[0]!.body as { messages: Array<{ images?: string[] }> }).messages;
    expect(messages.flatMap((m) => m.images ?? []).length).toBeGreaterThan(0);
  });

  it('type-checks the types example of docs/library.md against the shipped declarations', async () => {
    const types = codeBlockAfter(readFileSync(join(ROOT, 'docs', 'library.md'), 'utf8'), '<!-- types:', 'ts');
    writeFileSync(join(project, 'types-example.ts'), types);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const checked = await run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--skipLibCheck',
        '--typeRoots',
        join(ROOT, 'node_modules', '@types'),
        '--types',
        'node',
        'types-example.ts',
      ],
      { cwd: project, env },
    );
    expect(checked.stdout + checked.stderr).toBe('');
    expect(checked.code).toBe(0);
  });
});
