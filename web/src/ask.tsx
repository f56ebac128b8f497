import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { type AskDone, type AskError, askStream, type Hit, type Level, type ServerConfig } from './api';
import { EmptyState, ErrorNote, HitThumb, type Picture, Spinner, TextCard } from './components';
import { askOptions, type Settings } from './settings';

interface Turn {
  id: number;
  question: string;
  answer: string;
  sources: Hit[];
  citations: number[];
  model: string | null;
  /** The level that answered. */
  level?: Level;
  error?: AskError;
  state: 'streaming' | 'done' | 'stopped';
}

const HISTORY_KEY = 'mmrag.chat';

function loadTurns(): Turn[] {
  try {
    const turns = JSON.parse(sessionStorage.getItem(HISTORY_KEY) ?? '[]') as Turn[];
    return turns.map((t) => (t.state === 'streaming' ? { ...t, state: 'stopped' } : t));
  } catch {
    return [];
  }
}

/** The answer with each [n] turned into a link to source n of this turn. */
function AnswerText(props: { text: string; turn: number; count: number }) {
  const parts = props.text.split(/(\[\d+(?:\s*,\s*\d+)*\])/g);
  return (
    <div class="answer-text">
      {parts.map((part, i) => {
        const match = /^\[(\d+(?:\s*,\s*\d+)*)\]$/.exec(part);
        if (!match) return <Fragment key={i}>{part}</Fragment>;
        const numbers = match[1]!.split(',').map((n) => Number(n.trim()));
        return (
          <sup key={i} class="cite">
            {numbers.map((n, j) =>
              n >= 1 && n <= props.count ? (
                <a key={j} href={`#src-${props.turn}-${n}`} onClick={(e) => focusSource(e, props.turn, n)}>
                  {n}
                </a>
              ) : (
                <span key={j}>{n}</span>
              ),
            )}
          </sup>
        );
      })}
    </div>
  );
}

function focusSource(e: Event, turn: number, n: number): void {
  e.preventDefault();
  const el = document.getElementById(`src-${turn}-${n}`);
  if (!el) return;
  el.scrollIntoView({ behavior: 'smooth', block: 'center' });
  el.classList.remove('flash');
  void el.offsetWidth;
  el.classList.add('flash');
}

function Sources(props: { turn: Turn; onOpen: (p: Picture) => void }) {
  const { turn } = props;
  const cited = new Set(turn.citations);
  const numbered = turn.sources.map((hit, i) => ({ hit, n: i + 1 }));
  const texts = numbered.filter((s) => s.hit.modality === 'text');
  const pictures = numbered.filter((s) => s.hit.modality === 'image');
  if (turn.sources.length === 0) {
    return turn.state === 'streaming' ? null : (
      <p class="muted small">
        No sources passed the thresholds. Try lower thresholds in the settings, or add files.
      </p>
    );
  }
  return (
    <section class="sources" aria-label="Sources">
      {pictures.length > 0 ? (
        <div class="thumb-grid">
          {pictures.map(({ hit, n }) => (
            <HitThumb
              key={hit.id}
              id={`src-${turn.id}-${n}`}
              hit={hit}
              badge={String(n)}
              onOpen={props.onOpen}
            />
          ))}
        </div>
      ) : null}
      {texts.length > 0 ? (
        <details class="text-sources" open={texts.some((t) => cited.has(t.n)) || turn.answer === ''}>
          <summary>
            {texts.length} text source{texts.length === 1 ? '' : 's'}
            {cited.size > 0 ? ` · ${texts.filter((t) => cited.has(t.n)).length} cited` : ''}
          </summary>
          <div class="text-list">
            {texts.map(({ hit, n }) => (
              <TextCard key={hit.id} hit={hit} n={n} id={`src-${turn.id}-${n}`} cited={cited.has(n)} />
            ))}
          </div>
        </details>
      ) : null}
    </section>
  );
}

export function AskView(props: {
  config: ServerConfig | null;
  settings: Settings;
  sourceCount: number | null;
  onOpen: (p: Picture) => void;
  goLibrary: () => void;
  /** The server refused the filter of the settings: its message (shown there too), or null when it passed. */
  onWhereError: (error: { where: string; message: string } | null) => void;
  openSettings: () => void;
}) {
  const [turns, setTurns] = useState<Turn[]>(loadTurns);
  const [draft, setDraft] = useState('');
  const [failure, setFailure] = useState<AskError | null>(null);
  const controller = useRef<AbortController | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const busy = turns.some((t) => t.state === 'streaming');

  useEffect(() => {
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(turns.slice(-30)));
  }, [turns]);
  useEffect(() => {
    bottom.current?.scrollIntoView({ block: 'end' });
  }, [turns.length]);
  useEffect(() => () => controller.current?.abort(), []);

  const update = (id: number, change: (t: Turn) => Partial<Turn>) =>
    setTurns((all) => all.map((t) => (t.id === id ? { ...t, ...change(t) } : t)));

  const ask = async (question: string) => {
    const q = question.trim();
    if (!q || busy) return;
    setFailure(null);
    setDraft('');
    const id = Date.now();
    const history = turns
      .filter((t) => t.answer)
      .slice(-6)
      .flatMap((t) => [
        { role: 'user' as const, content: t.question },
        { role: 'assistant' as const, content: t.answer },
      ]);
    setTurns((all) => [
      ...all,
      { id, question: q, answer: '', sources: [], citations: [], model: null, state: 'streaming' },
    ]);
    const ctl = new AbortController();
    controller.current = ctl;
    const where = props.settings.where.trim();
    try {
      await askStream({ question: q, history, ...askOptions(props.settings) }, ctl.signal, (m) => {
        if (m.event === 'token') update(id, (t) => ({ answer: t.answer + m.data }));
        else if (m.event === 'sources') update(id, () => ({ sources: JSON.parse(m.data) as Hit[] }));
        else if (m.event === 'done') {
          const done = JSON.parse(m.data) as AskDone;
          update(id, () => ({
            model: done.model,
            citations: done.citations,
            state: 'done',
            ...(done.level ? { level: done.level } : {}),
            ...(done.error ? { error: done.error } : {}),
          }));
        } else if (m.event === 'error') {
          update(id, () => ({ error: JSON.parse(m.data) as AskError, state: 'done' }));
        }
      });
      update(id, (t) => ({
        state: t.state === 'streaming' ? (ctl.signal.aborted ? 'stopped' : 'done') : t.state,
      }));
      if (where) props.onWhereError(null);
    } catch (err) {
      const e = err as { message: string; hint?: string; code?: string };
      setTurns((all) => all.filter((t) => t.id !== id));
      setDraft(q);
      // The filter language's parser refuses with code `usage`; nothing else in a question can.
      const badFilter = where !== '' && e.code === 'usage';
      if (badFilter) props.onWhereError({ where, message: e.message });
      setFailure({
        code: badFilter ? 'bad_filter' : 'error',
        message: badFilter ? `The filter in the settings is not valid: ${e.message}` : e.message,
        ...(e.hint ? { hint: e.hint } : {}),
      });
    } finally {
      controller.current = null;
      input.current?.focus();
    }
  };

  const stop = () => controller.current?.abort();
  const empty = props.sourceCount === 0;

  return (
    <div class="ask-view">
      <div class="chat" aria-live="polite">
        {turns.length === 0 ? (
          empty ? (
            <EmptyState icon="⇪" title="Your knowledge base is empty">
              <p>
                Add web pages, PDFs, slides, spreadsheets, pictures or recordings, then ask questions about
                them.
              </p>
              <button type="button" class="primary" onClick={props.goLibrary}>
                Add files in the Library
              </button>
            </EmptyState>
          ) : (
            <EmptyState icon="?" title="Ask your files">
              <p>
                Questions are answered from the text <em>and</em> the pictures in your files, with numbered
                sources.
              </p>
              <p class="muted small">
                Enter sends, Shift+Enter starts a new line. Settings (⚙) set how many sources are retrieved
                and which model answers.
              </p>
            </EmptyState>
          )
        ) : (
          turns.map((turn) => (
            <div class="turn" key={turn.id}>
              <div class="question">
                <div class="bubble">{turn.question}</div>
              </div>
              <div class="answer">
                {turn.answer ? (
                  <AnswerText text={turn.answer} turn={turn.id} count={turn.sources.length} />
                ) : turn.state === 'streaming' ? (
                  <div class="thinking">
                    <Spinner label="Answering" /> Searching your files and asking the model…
                  </div>
                ) : null}
                {turn.state === 'streaming' && turn.answer ? <span class="caret" aria-hidden="true" /> : null}
                {turn.error ? (
                  <div
                    class={`note ${turn.error.code === 'llm_none' ? 'note-info' : 'note-error'}`}
                    role="status"
                  >
                    <strong>{turn.error.message}</strong>
                    {turn.error.hint ? <div>{turn.error.hint}</div> : null}
                    {turn.error.code === 'llm_none' && turn.sources.length > 0 ? (
                      <div>The sources below are what your files hold on this question.</div>
                    ) : null}
                  </div>
                ) : null}
                {turn.state === 'stopped' ? <p class="muted small">Stopped.</p> : null}
                <Sources turn={turn} onOpen={props.onOpen} />
                {turn.state !== 'streaming' && (turn.model || turn.level) ? (
                  <div class="muted small model">
                    {turn.model ? `Answered by ${turn.model}` : 'Sources retrieved'}
                    {turn.level ? ` at level ${turn.level}` : ''}
                  </div>
                ) : null}
              </div>
            </div>
          ))
        )}
        <div ref={bottom} />
      </div>
      {failure ? (
        <div class="failure">
          <ErrorNote message={failure.message} hint={failure.hint} />
          {failure.code === 'bad_filter' ? (
            <button type="button" class="secondary small" onClick={props.openSettings}>
              Edit the filter
            </button>
          ) : null}
        </div>
      ) : null}
      {props.settings.where.trim() ? (
        <div class="active-filter muted small">
          Filter: <code>{props.settings.where.trim()}</code>{' '}
          <button type="button" class="link small" onClick={props.openSettings}>
            change
          </button>
        </div>
      ) : null}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          void ask(draft);
        }}
      >
        <label class="sr-only" for="question">
          Question
        </label>
        <textarea
          id="question"
          ref={input}
          rows={1}
          placeholder={empty ? 'Add files first, then ask about them…' : 'Ask a question about your files…'}
          value={draft}
          onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void ask(draft);
            }
          }}
        />
        {busy ? (
          <button type="button" class="secondary" onClick={stop}>
            Stop
          </button>
        ) : (
          <button type="submit" class="primary" disabled={!draft.trim()}>
            Ask
          </button>
        )}
        {turns.length > 0 && !busy ? (
          <button type="button" class="ghost" onClick={() => setTurns([])} title="Start a new conversation">
            New chat
          </button>
        ) : null}
      </form>
    </div>
  );
}
