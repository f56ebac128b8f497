import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  api,
  openSession,
  type ServerConfig,
  type Source,
  savedToken,
  saveToken,
  whenUnauthorized,
} from './api';
import { AskView } from './ask';
import { Lightbox, type Picture } from './components';
import { useFocusTrap } from './focus';
import { LibraryView } from './library';
import { SearchView, WHERE_EXAMPLE, WHERE_HELP } from './search';
import {
  DEFAULT_SETTINGS,
  LEVELS,
  loadSettings,
  type Settings,
  saveSettings,
  withOfferedModel,
} from './settings';
import { whenJobFinished } from './uploads';
import type { ViewTarget } from './view-target';
import { Viewer } from './viewer';

type View = 'ask' | 'library' | 'search';
const VIEWS: Array<{ id: View; label: string }> = [
  { id: 'ask', label: 'Ask' },
  { id: 'library', label: 'Library' },
  { id: 'search', label: 'Search' },
];

function viewOfHash(): View {
  const id = location.hash.replace(/^#\/?/, '');
  return VIEWS.some((v) => v.id === id) ? (id as View) : 'ask';
}

type Theme = 'light' | 'dark';
function initialTheme(): Theme {
  const saved = localStorage.getItem('mmrag.theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function SettingsPanel(props: {
  settings: Settings;
  config: ServerConfig | null;
  whereError: { where: string; message: string } | null;
  onChange: (s: Settings) => void;
  onClose: () => void;
}) {
  const s = props.settings;
  const search = props.config?.config.search;
  const scoring = s.scoring || search?.scoring || 'cosine';
  const defaults = {
    textK: String(search?.text.k ?? 15),
    imageK: String(search?.image.k ?? 5),
    textThreshold: String(
      scoring === 'cosine' ? (search?.cosine.text.threshold ?? 0.2) : (search?.text.threshold ?? 0.01),
    ),
    imageThreshold: String(
      scoring === 'cosine' ? (search?.cosine.image.threshold ?? 0.2) : (search?.image.threshold ?? 0.25),
    ),
  };
  const set = (change: Partial<Settings>) => props.onChange({ ...s, ...change });
  const field = (
    key: 'textK' | 'imageK' | 'textThreshold' | 'imageThreshold',
    label: string,
    step: string,
  ) => (
    <label>
      <span>{label}</span>
      <input
        type="number"
        step={step}
        min={key.endsWith('K') ? 0 : undefined}
        placeholder={defaults[key]}
        value={s[key]}
        onInput={(e) => set({ [key]: (e.target as HTMLInputElement).value })}
      />
    </label>
  );
  const llm = props.config?.config.llm;
  const answering = props.config?.answering;
  const offered = answering?.models ?? [];
  const whereError =
    props.whereError && props.whereError.where === s.where.trim() ? props.whereError.message : null;
  return (
    <aside class="settings card" aria-label="Settings">
      <header>
        <h2>Settings</h2>
        <button type="button" class="ghost small" onClick={props.onClose}>
          Close
        </button>
      </header>
      <p class="muted small">
        Remembered in this browser. Empty fields use the server's defaults (shown greyed).
      </p>
      <fieldset class="levels">
        <legend>Level</legend>
        {LEVELS.map((l) => {
          const configured = props.config?.level ?? 3;
          const checked = s.level ? Number(s.level) === l.level : configured === l.level;
          return (
            <label key={l.level} class={`level-option${checked ? ' checked' : ''}`}>
              <input
                type="radio"
                name="level"
                value={String(l.level)}
                checked={checked}
                aria-labelledby={`level-${l.level}-name`}
                aria-describedby={`level-${l.level}-line`}
                onChange={() =>
                  set({ level: l.level === configured ? '' : (String(l.level) as Settings['level']) })
                }
              />
              <span>
                <strong id={`level-${l.level}-name`}>
                  {l.level}: {l.name}
                </strong>
                {l.level === configured ? <span class="muted"> (server default)</span> : null}
                <span class="level-line" id={`level-${l.level}-line`}>
                  {l.line}
                </span>
              </span>
            </label>
          );
        })}
      </fieldset>
      <div class="settings-grid">
        <label>
          <span>Search mode</span>
          <select
            value={s.mode}
            onChange={(e) => set({ mode: (e.target as HTMLSelectElement).value as Settings['mode'] })}
          >
            <option value="">Server default ({props.config?.mode ?? 'hybrid'})</option>
            <option value="hybrid">Hybrid (meaning + words)</option>
            <option value="vector">Vector (meaning)</option>
            <option value="bm25">BM25 (exact words)</option>
          </select>
        </label>
        <label title="MMR: from 0.1 (most varied results) to 1 (closest only). Empty: the server's default.">
          <span>Diversity</span>
          <input
            type="number"
            step="0.1"
            min="0.1"
            max="1"
            placeholder={
              search?.diversity !== undefined ? String(search.diversity) : 'off (0.1–1, lower: varied)'
            }
            value={s.diversity}
            onInput={(e) => set({ diversity: (e.target as HTMLInputElement).value })}
          />
        </label>
        {props.config?.rerank ? (
          <label>
            <span>Rerank</span>
            <select
              value={s.rerank}
              onChange={(e) => set({ rerank: (e.target as HTMLSelectElement).value as Settings['rerank'] })}
            >
              <option value="">Server default (on)</option>
              <option value="on">On: reorder with the reranker</option>
              <option value="off">Off</option>
            </select>
          </label>
        ) : null}
        <label>
          <span>Scoring</span>
          <select
            value={s.scoring}
            onChange={(e) => set({ scoring: (e.target as HTMLSelectElement).value as Settings['scoring'] })}
          >
            <option value="">Server default ({search?.scoring ?? 'cosine'})</option>
            <option value="cosine">Cosine similarity</option>
            <option value="softmax">Softmax (the reference)</option>
          </select>
        </label>
        {field('textK', 'Text results (k)', '1')}
        {field('imageK', 'Picture results (k)', '1')}
        {field('textThreshold', 'Text threshold', '0.01')}
        {field('imageThreshold', 'Picture threshold', '0.01')}
        <label>
          <span>Answers</span>
          <select
            value={s.provider}
            onChange={(e) => set({ provider: (e.target as HTMLSelectElement).value as Settings['provider'] })}
          >
            <option value="">The server's model</option>
            <option value="none">None: sources only</option>
          </select>
        </label>
        <label>
          <span>Model</span>
          <select
            value={s.model}
            disabled={s.provider === 'none' || offered.length === 0}
            aria-describedby="model-help"
            onChange={(e) => set({ model: (e.target as HTMLSelectElement).value })}
          >
            <option value="">
              {answering?.model ? `Server default (${answering.model})` : 'Server default'}
            </option>
            {offered
              .filter((m) => m !== answering?.model)
              .map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
          </select>
          <span id="model-help" class="small muted">
            {offered.filter((m) => m !== answering?.model).length > 0
              ? 'The models this server offers.'
              : 'The server offers its own model only.'}
          </span>
        </label>
        <label>
          <span>Prompt</span>
          <select
            value={s.prompt}
            onChange={(e) => set({ prompt: (e.target as HTMLSelectElement).value as Settings['prompt'] })}
          >
            <option value="">Server default ({llm?.prompt ?? 'mmrag'})</option>
            <option value="mmrag">mmrag: numbered sources the answer cites</option>
            <option value="reference">Reference: the reference pipeline's prompt, word for word</option>
          </select>
        </label>
        <label>
          <span>When your documents do not say</span>
          <select
            value={s.gate}
            aria-describedby="gate-help"
            onChange={(e) => set({ gate: (e.target as HTMLSelectElement).value as Settings['gate'] })}
          >
            <option value="">Say so, and show the closest sources (default)</option>
            <option value="off">Ask the model anyway</option>
          </select>
          <span id="gate-help" class="small muted">
            The answerability gate: nothing close to the question means no model is asked.
          </span>
        </label>
        <label class="wide">
          <span>Filter for questions (where)</span>
          <input
            type="text"
            spellcheck={false}
            placeholder={`e.g. ${WHERE_EXAMPLE}`}
            title={WHERE_HELP}
            value={s.where}
            aria-invalid={whereError ? true : undefined}
            onInput={(e) => set({ where: (e.target as HTMLInputElement).value })}
          />
          <span class={`small${whereError ? ' error-text' : ''}`} role={whereError ? 'alert' : undefined}>
            {whereError ?? (
              <>
                Only matching items, e.g. <code>{WHERE_EXAMPLE}</code> or <code>source ~ report</code>
              </>
            )}
          </span>
        </label>
      </div>
      <div class="row">
        <button type="button" class="ghost small" onClick={() => props.onChange({ ...DEFAULT_SETTINGS })}>
          Reset to defaults
        </button>
        {props.config ? (
          <span class="muted small">
            Embedding model: {props.config.embedModel.split(/[/\\]/).slice(-2).join('/')}
          </span>
        ) : null}
      </div>
    </aside>
  );
}

/**
 * Asks for the server's token and checks it (POST /api/session, which also lets pictures load): a wrong token is
 * said so, in the dialog. Focus stays in the dialog while it is open.
 */
function TokenDialog(props: { rejected: boolean; onAccepted: (token: string) => void }) {
  const [value, setValue] = useState(savedToken());
  const [error, setError] = useState<string | null>(
    props.rejected && savedToken()
      ? 'The saved token was not accepted: the server may have a new one.'
      : null,
  );
  const [checking, setChecking] = useState(false);
  const dialog = useRef<HTMLDivElement>(null);
  const field = useRef<HTMLInputElement>(null);
  useFocusTrap(dialog, field);
  const submit = async () => {
    const token = value.trim();
    if (!token) return;
    setChecking(true);
    setError(null);
    try {
      if (await openSession(token)) props.onAccepted(token);
      else {
        setError('That is not the token this server was started with. Check it and try again.');
        field.current?.select();
      }
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setChecking(false);
    }
  };
  return (
    <div class="lightbox" role="dialog" aria-modal="true" aria-labelledby="token-title" ref={dialog}>
      <form
        class="card token-card"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h2 id="token-title">This server needs a token</h2>
        <p class="muted" id="token-help">
          It was started with <code>--token</code> (or <code>MMRAG_TOKEN</code>). Enter the same token; it is
          kept in this browser.
        </p>
        <label class="sr-only" for="token">
          Token
        </label>
        <input
          id="token"
          type="password"
          ref={field}
          value={value}
          autoComplete="current-password"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'token-error' : 'token-help'}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
        {error ? (
          <p id="token-error" class="error-text small" role="alert">
            {error}
          </p>
        ) : null}
        <div class="row">
          <button type="submit" class="primary" disabled={!value.trim() || checking}>
            {checking ? 'Checking…' : 'Continue'}
          </button>
        </div>
      </form>
    </div>
  );
}

export function App() {
  const [view, setView] = useState<View>(viewOfHash);
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const [showSettings, setShowSettings] = useState(false);
  const [whereError, setWhereError] = useState<{ where: string; message: string } | null>(null);
  const [config, setConfig] = useState<ServerConfig | null>(null);
  const [sources, setSources] = useState<Source[] | null>(null);
  const [picture, setPicture] = useState<Picture | null>(null);
  const [viewing, setViewing] = useState<ViewTarget | null>(null);
  const [needsToken, setNeedsToken] = useState(false);
  /** The saved token was refused (not merely missing). */
  const [tokenRejected, setTokenRejected] = useState(false);
  const [offline, setOffline] = useState<string | null>(null);

  useEffect(() => {
    const onHash = () => setView(viewOfHash());
    window.addEventListener('hashchange', onHash);
    whenUnauthorized(() => {
      setTokenRejected(savedToken() !== '');
      setNeedsToken(true);
    });
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // The picture cookie ends with the browser session: renew it whenever the app starts with a saved token.
  useEffect(() => {
    if (!savedToken()) return;
    openSession().then(
      (accepted) => {
        if (!accepted) {
          setTokenRejected(true);
          setNeedsToken(true);
        }
      },
      () => undefined,
    );
  }, []);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);

  const reload = useCallback(async () => {
    try {
      const [c, s] = await Promise.all([api.config(), api.sources()]);
      setConfig(c);
      setSources(s);
      setOffline(null);
    } catch (err) {
      const e = err as { status?: number; message: string };
      if (e.status !== 401) setOffline(e.message);
    }
  }, []);

  useEffect(() => {
    void reload();
    whenJobFinished(() => void reload());
  }, [reload]);

  // A model remembered from another server (or no longer offered) is dropped once the server says what it offers.
  useEffect(() => {
    if (!config) return;
    setSettings((s) => {
      const kept = withOfferedModel(s, config.answering.models);
      if (kept !== s) saveSettings(kept);
      return kept;
    });
  }, [config]);

  const go = (v: View) => {
    location.hash = `/${v}`;
    setView(v);
  };
  const changeSettings = (s: Settings) => {
    setSettings(s);
    saveSettings(s);
  };
  const toggleTheme = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    setTheme(next);
    localStorage.setItem('mmrag.theme', next);
  };
  const closePicture = useCallback(() => setPicture(null), []);
  const closeViewer = useCallback(() => setViewing(null), []);
  const count = sources?.length ?? null;

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="#/ask">
          <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="var(--accent)" />
            <circle cx="12" cy="13" r="5" fill="#fff" />
            <rect x="16" y="16" width="9" height="9" rx="1.5" fill="#c7d2fe" />
          </svg>
          <span>mmrag</span>
        </a>
        <nav class="tabs" aria-label="Views">
          {VIEWS.map((v) => (
            <a
              key={v.id}
              href={`#/${v.id}`}
              class={view === v.id ? 'active' : ''}
              aria-current={view === v.id ? 'page' : undefined}
            >
              {v.label}
              {v.id === 'library' && count ? <span class="count">{count}</span> : null}
            </a>
          ))}
        </nav>
        <div class="tools">
          <button
            type="button"
            class={`icon${showSettings ? ' on' : ''}`}
            onClick={() => setShowSettings(!showSettings)}
            aria-expanded={showSettings}
            aria-label="Settings"
            title="Settings"
          >
            ⚙
          </button>
          <button
            type="button"
            class="icon"
            onClick={toggleTheme}
            aria-label={`Switch to the ${theme === 'dark' ? 'light' : 'dark'} theme`}
            title={`Switch to the ${theme === 'dark' ? 'light' : 'dark'} theme`}
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
        </div>
      </header>
      {offline ? (
        <div class="banner" role="alert">
          {offline}{' '}
          <button type="button" class="ghost small" onClick={() => void reload()}>
            Retry
          </button>
        </div>
      ) : null}
      <main class="content" id="main" tabIndex={-1}>
        {showSettings ? (
          <SettingsPanel
            settings={settings}
            config={config}
            whereError={whereError}
            onChange={changeSettings}
            onClose={() => setShowSettings(false)}
          />
        ) : null}
        {view === 'ask' ? (
          <AskView
            config={config}
            settings={settings}
            sourceCount={count}
            onOpen={setPicture}
            onView={setViewing}
            goLibrary={() => go('library')}
            onWhereError={setWhereError}
            openSettings={() => {
              setShowSettings(true);
              window.scrollTo({ top: 0, behavior: 'smooth' });
            }}
          />
        ) : null}
        {view === 'library' ? (
          <LibraryView config={config} sources={sources} reload={reload} onOpen={setPicture} />
        ) : null}
        {view === 'search' ? (
          <SearchView
            settings={settings}
            sourceCount={count}
            onOpen={setPicture}
            onView={setViewing}
            goLibrary={() => go('library')}
          />
        ) : null}
      </main>
      {picture ? <Lightbox picture={picture} onClose={closePicture} /> : null}
      {viewing ? <Viewer key={viewing.id} target={viewing} onClose={closeViewer} /> : null}
      {needsToken ? (
        <TokenDialog
          rejected={tokenRejected}
          onAccepted={(token) => {
            saveToken(token);
            setNeedsToken(false);
            setTokenRejected(false);
            void reload();
          }}
        />
      ) : null}
    </div>
  );
}
