// Ask and search settings, remembered in the browser. Empty fields mean "the server's default".

export interface Settings {
  level: 3;
  scoring: '' | 'cosine' | 'softmax';
  textK: string;
  imageK: string;
  textThreshold: string;
  imageThreshold: string;
  provider: '' | 'auto' | 'ollama' | 'openai' | 'none';
  model: string;
}

const KEY = 'mmrag.settings';

export const DEFAULT_SETTINGS: Settings = {
  level: 3,
  scoring: '',
  textK: '',
  imageK: '',
  textThreshold: '',
  imageThreshold: '',
  provider: '',
  model: '',
};

export function loadSettings(): Settings {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Settings>;
    return { ...DEFAULT_SETTINGS, ...saved, level: 3 };
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

/** The retrieval and model options of an /api/ask body. */
export function askOptions(s: Settings): Record<string, unknown> {
  const group = (k: string, threshold: string) => {
    const out: Record<string, number> = {};
    const kn = num(k);
    const tn = num(threshold);
    if (kn !== undefined) out.k = Math.max(0, Math.round(kn));
    if (tn !== undefined) out.threshold = tn;
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const llm: Record<string, string> = {};
  if (s.provider) llm.provider = s.provider;
  if (s.model.trim()) llm.model = s.model.trim();
  return {
    level: 3,
    ...(s.scoring ? { scoring: s.scoring } : {}),
    ...(group(s.textK, s.textThreshold) ? { text: group(s.textK, s.textThreshold) } : {}),
    ...(group(s.imageK, s.imageThreshold) ? { image: group(s.imageK, s.imageThreshold) } : {}),
    ...(Object.keys(llm).length > 0 ? { llm } : {}),
  };
}

/** The same options as multipart fields of POST /api/search. */
export function appendSearchFields(form: FormData, s: Settings): void {
  if (s.scoring) form.append('scoring', s.scoring);
  for (const [name, value] of [
    ['textK', s.textK],
    ['imageK', s.imageK],
    ['textThreshold', s.textThreshold],
    ['imageThreshold', s.imageThreshold],
  ] as const) {
    if (num(value) !== undefined) form.append(name, value.trim());
  }
}
