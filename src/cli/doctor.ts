import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, DEFAULT_EMBED_MODEL, resolveConfig } from '../config.js';
import { errorMessage, MmragError } from '../errors.js';
import { displayUrl, redact } from '../redact.js';
import type { DoctorFlags } from './flags.js';
import { displayPath, formatAdapterLine } from './format.js';
import { configFromFlags } from './options.js';

export interface Check {
  name: string;
  ok: boolean;
  /** What was found. */
  detail: string;
  /** What to do when it is not ok. */
  hint?: string;
  /** A missing optional part (a warning, not a failure). */
  optional?: boolean;
}

async function checkKb(config: Config): Promise<Check> {
  const dir = config.kb;
  if (!existsSync(join(dir, 'kb.json'))) {
    return { name: 'knowledge base', ok: true, detail: `${displayPath(dir)} (empty: nothing ingested yet)` };
  }
  try {
    const { openKnowledgeBase } = await import('../kb.js');
    const kb = await openKnowledgeBase({ config });
    const stats = await kb.stats();
    await kb.close();
    return {
      name: 'knowledge base',
      ok: true,
      detail: `${displayPath(dir)}: ${stats.sources} sources, ${stats.textItems} text items, ${stats.imageItems} pictures, model ${stats.embedModel}`,
    };
  } catch (err) {
    return { name: 'knowledge base', ok: false, detail: errorMessage(err), hint: 'See the message above.' };
  }
}

/** The query adapter `mmrag tune` trained: none, its figures, or why searches refuse it. */
async function checkAdapter(config: Config): Promise<Check | undefined> {
  const metaPath = join(config.kb, 'kb.json');
  if (!existsSync(metaPath)) return undefined;
  const { readAdapter } = await import('../retrieve/query-adapter.js');
  try {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { embedModel: string; dim?: number };
    const adapter = readAdapter(config.kb, { embedModel: meta.embedModel, dim: meta.dim });
    return {
      name: 'query adapter',
      ok: true,
      detail: adapter ? formatAdapterLine(adapter.info) : 'none (`mmrag tune` trains one on your documents)',
    };
  } catch (err) {
    return {
      name: 'query adapter',
      ok: false,
      detail: errorMessage(err),
      hint: err instanceof MmragError ? err.hint : undefined,
    };
  }
}

/** The model a command would use: the flag, else the one the knowledge base was built with, else the default. */
function effectiveModel(config: Config): string {
  if (config.embed.model) return config.embed.model;
  try {
    return (JSON.parse(readFileSync(join(config.kb, 'kb.json'), 'utf8')) as { embedModel: string })
      .embedModel;
  } catch {
    return DEFAULT_EMBED_MODEL;
  }
}

async function checkModel(config: Config): Promise<Check> {
  const model = effectiveModel(config);
  try {
    const { loadClipEmbedder } = await import('../embed/clip.js');
    const embedder = await loadClipEmbedder({
      model,
      dtype: config.embed.dtype,
      cacheDir: config.embed.cacheDir,
      allowRemote: config.embed.allowRemote,
    });
    const dim = embedder.dim;
    await embedder.dispose();
    return { name: 'embedding model', ok: true, detail: `${model} (${dim}-d, ${config.embed.dtype})` };
  } catch (err) {
    return {
      name: 'embedding model',
      ok: false,
      detail: `${model}: ${errorMessage(err).split('\n')[0]}`,
      hint: 'Connect to the network once to download it, or pass a local model folder with --embed-model.',
    };
  }
}

async function checkLlm(config: Config): Promise<Check> {
  const { probeOllama, DEFAULT_OLLAMA_MODEL } = await import('../generate/create.js');
  const provider = config.llm.provider;
  if (provider === 'none') return { name: 'answering model', ok: true, detail: 'off (--llm none)' };
  if (provider === 'openai') {
    return {
      name: 'answering model',
      ok: Boolean(config.llm.url || config.llm.apiKey),
      detail: `OpenAI-compatible at ${displayUrl(config.llm.url ?? 'https://api.openai.com/v1')}${config.llm.apiKey ? ', key set' : ', no key'}`,
      hint: 'Set MMRAG_LLM_API_KEY (or OPENAI_API_KEY), or --llm-url for a local server.',
    };
  }
  const url = config.llm.url ?? 'http://127.0.0.1:11434';
  const model = config.llm.model ?? DEFAULT_OLLAMA_MODEL;
  if (!(await probeOllama(url))) {
    return {
      name: 'answering model',
      ok: provider === 'auto',
      optional: provider === 'auto',
      detail: `Ollama does not answer at ${displayUrl(url)}${provider === 'auto' ? ': ask will show the sources without an answer' : ''}`,
      hint: `Start Ollama (ollama serve) and pull a vision model: ollama pull ${model}`,
    };
  }
  try {
    const res = await fetch(`${url}/api/tags`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { models?: Array<{ name: string }> };
    const names = (body.models ?? []).map((m) => m.name);
    const pulled = names.some((n) => n === model || n.startsWith(`${model}:`));
    return {
      name: 'answering model',
      ok: pulled,
      detail: `Ollama at ${displayUrl(url)}; ${pulled ? `${model} is pulled` : `${model} is not pulled (have: ${names.join(', ') || 'none'})`}`,
      hint: `ollama pull ${model}`,
    };
  } catch (err) {
    return {
      name: 'answering model',
      ok: false,
      detail: `Ollama at ${displayUrl(url)}: ${redact(errorMessage(err))}`,
    };
  }
}

async function checkFfmpeg(): Promise<Check> {
  const { ffmpegAvailable } = await import('../media/ffmpeg.js');
  const ok = await ffmpegAvailable();
  return {
    name: 'ffmpeg',
    ok,
    optional: true,
    detail: ok ? 'found: audio and video can be ingested' : 'not found: audio and video files will fail',
    hint: 'apt-get install ffmpeg, or brew install ffmpeg',
  };
}

async function checkSoffice(config: Config): Promise<Check> {
  const { SOFFICE_INSTALL_HINT, findSoffice, sofficeVersion } = await import('../media/soffice.js');
  const bin = await findSoffice();
  const version = bin ? await sofficeVersion(bin) : undefined;
  const off = config.ingest.maxPageImages === 0;
  return {
    name: 'LibreOffice',
    ok: bin !== undefined,
    optional: true,
    detail: bin
      ? `found (${version ?? bin}): slides are kept as pictures${off ? ', but ingest.maxPageImages is 0' : ''}`
      : 'not found: slides keep their text and pictures, but figures drawn on them cannot be searched',
    hint: SOFFICE_INSTALL_HINT,
  };
}

async function checkOcr(config: Config): Promise<Check> {
  if (!config.ingest.ocr) return { name: 'OCR', ok: true, detail: 'off' };
  try {
    const { tesseractLangPath } = await import('../enrich/ocr.js');
    const path = tesseractLangPath('eng');
    const ok = existsSync(path);
    return { name: 'OCR', ok, detail: ok ? 'tesseract.js with English data, offline' : `no data at ${path}` };
  } catch (err) {
    return { name: 'OCR', ok: false, detail: errorMessage(err) };
  }
}

/** What works on this machine and what to do about what does not. */
export async function runChecks(config: Config): Promise<Check[]> {
  const node = process.versions.node;
  const major = Number(node.split('.')[0]);
  const checks: Check[] = [
    { name: 'Node.js', ok: major >= 20, detail: node, hint: 'mmrag needs Node.js 20 or newer.' },
  ];
  // Sequential: model loading uses Transformers.js's global settings.
  checks.push(await checkKb(config));
  const adapter = await checkAdapter(config);
  if (adapter) checks.push(adapter);
  checks.push(await checkModel(config));
  checks.push(await checkLlm(config));
  checks.push(await checkFfmpeg());
  checks.push(await checkSoffice(config));
  checks.push(await checkOcr(config));
  return checks;
}

export function formatChecks(checks: Check[]): string {
  return checks
    .map((c) => {
      const mark = c.ok
        ? c.optional && c.hint && !c.detail.startsWith('found')
          ? '!'
          : '✓'
        : c.optional
          ? '!'
          : '✗';
      const line = `${mark} ${c.name.padEnd(16)} ${c.detail}`;
      return !c.ok || mark === '!' ? (c.hint ? `${line}\n  ${' '.repeat(16)} ${c.hint}` : line) : line;
    })
    .join('\n');
}

export async function doctorCommand(flags: DoctorFlags): Promise<void> {
  const config = resolveConfig({ flags: configFromFlags(flags), configPath: flags.config });
  const checks = await runChecks(config);
  if (flags.json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
  else process.stdout.write(`${formatChecks(checks)}\n`);
  if (checks.some((c) => !c.ok && !c.optional)) process.exitCode = 1;
}
