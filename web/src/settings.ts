// Ask and search settings, remembered in the browser. Empty fields mean "the server's default".
import type { AskRequest, Level } from './api';

export interface Settings {
  /** '' : the server's configured level. */
  level: '' | '1' | '2' | '3';
  mode: '' | 'hybrid' | 'vector' | 'bm25';
  scoring: '' | 'cosine' | 'softmax';
  textK: string;
  imageK: string;
  textThreshold: string;
  imageThreshold: string;
  /** MMR lambda in (0, 1]; empty: the server's default. */
  diversity: string;
  /** '' : the server's default (on when a reranker is configured). */
  rerank: '' | 'on' | 'off';
  /** The filter (`where`) applied to questions. */
  where: string;
  /** '' : the server's model; 'none': answering off (the sources only). Other providers are the operator's choice. */
  provider: '' | 'none';
  /** One of the models the server offers ('' : its configured one). */
  model: string;
  /** '' : the server's prompt; `mmrag` or `reference` (the reference pipeline's prompt, word for word). */
  prompt: '' | 'mmrag' | 'reference';
  /** '' : the answerability gate on (the server's default); 'off': the model is asked even when nothing is close. */
  gate: '' | 'off';
}

const KEY = 'mmrag.settings';

export const DEFAULT_SETTINGS: Settings = {
  level: '',
  mode: '',
  scoring: '',
  textK: '',
  imageK: '',
  textThreshold: '',
  imageThreshold: '',
  diversity: '',
  rerank: '',
  where: '',
  provider: '',
  model: '',
  prompt: '',
  gate: '',
};

/** What each level does, in one line (the settings panel and the answer footer use them). */
export const LEVELS: Array<{ level: 1 | 2 | 3; name: string; line: string }> = [
  {
    level: 1,
    name: 'Text only',
    line: 'Pictures, recordings and tables are searched and shown to the model as text (captions, OCR, transcripts).',
  },
  {
    level: 2,
    name: 'Text retrieval + pictures',
    line: 'Searched by their text forms; the pictures found are handed to the model.',
  },
  {
    level: 3,
    name: 'Multimodal',
    line: 'Text and pictures searched together by meaning (CLIP); the model sees both.',
  },
];

function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | '' {
  const text = value === undefined || value === null ? '' : String(value);
  return (allowed as readonly string[]).includes(text) ? (text as T) : '';
}

export function loadSettings(): Settings {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Record<string, unknown>;
    const text = (key: keyof Settings) => (typeof saved[key] === 'string' ? (saved[key] as string) : '');
    return {
      level: oneOf(saved.level, ['1', '2', '3'] as const),
      mode: oneOf(saved.mode, ['hybrid', 'vector', 'bm25'] as const),
      scoring: oneOf(saved.scoring, ['cosine', 'softmax'] as const),
      textK: text('textK'),
      imageK: text('imageK'),
      textThreshold: text('textThreshold'),
      imageThreshold: text('imageThreshold'),
      diversity: text('diversity'),
      rerank: oneOf(saved.rerank, ['on', 'off'] as const),
      where: text('where'),
      provider: oneOf(saved.provider, ['none'] as const),
      model: text('model'),
      prompt: oneOf(saved.prompt, ['mmrag', 'reference'] as const),
      gate: oneOf(saved.gate, ['off'] as const),
    };
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}

export function saveSettings(settings: Settings): void {
  localStorage.setItem(KEY, JSON.stringify(settings));
}

function num(value: string): number | undefined {
  if (value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** Level, mode, diversity and rerank: the options Ask and Search share. */
function retrievalOptions(s: Settings): Pick<AskRequest, 'level' | 'mode' | 'diversity' | 'rerank'> {
  const diversity = num(s.diversity);
  return {
    ...(s.level ? { level: Number(s.level) as Level } : {}),
    ...(s.mode ? { mode: s.mode } : {}),
    ...(diversity !== undefined ? { diversity } : {}),
    ...(s.rerank ? { rerank: s.rerank === 'on' } : {}),
  };
}

/**
 * The settings with the model kept only when the server offers it (a model remembered from another server, or
 * no longer offered, would make every question a 400).
 */
export function withOfferedModel(s: Settings, offered: readonly string[]): Settings {
  return s.model && !offered.includes(s.model) ? { ...s, model: '' } : s;
}

/** The retrieval and model options of an /api/ask body. */
export function askOptions(s: Settings): Omit<AskRequest, 'question' | 'history'> {
  const group = (k: string, threshold: string) => {
    const out: Record<string, number> = {};
    const kn = num(k);
    const tn = num(threshold);
    if (kn !== undefined) out.k = Math.max(0, Math.round(kn));
    if (tn !== undefined) out.threshold = tn;
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const llm: NonNullable<AskRequest['llm']> = {};
  if (s.provider) llm.provider = s.provider;
  else if (s.model.trim()) llm.model = s.model.trim();
  return {
    ...retrievalOptions(s),
    ...(s.scoring ? { scoring: s.scoring } : {}),
    ...(group(s.textK, s.textThreshold) ? { text: group(s.textK, s.textThreshold) } : {}),
    ...(group(s.imageK, s.imageThreshold) ? { image: group(s.imageK, s.imageThreshold) } : {}),
    ...(s.where.trim() ? { where: s.where.trim() } : {}),
    ...(Object.keys(llm).length > 0 ? { llm } : {}),
    ...(s.prompt ? { prompt: s.prompt } : {}),
    ...(s.gate === 'off' ? { gate: false } : {}),
  };
}

/** The same options as multipart fields of POST /api/search (the search view has its own filter). */
export function appendSearchFields(form: FormData, s: Settings): void {
  if (s.scoring) form.append('scoring', s.scoring);
  for (const [name, value] of Object.entries(retrievalOptions(s))) form.append(name, String(value));
  for (const [name, value] of [
    ['textK', s.textK],
    ['imageK', s.imageK],
    ['textThreshold', s.textThreshold],
    ['imageThreshold', s.imageThreshold],
  ] as const) {
    if (num(value) !== undefined) form.append(name, value.trim());
  }
}
