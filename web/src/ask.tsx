import { useEffect, useRef, useState } from 'preact/hooks';
import {
  type AskDone,
  type AskError,
  type AskPrompt,
  askStream,
  type Hit,
  type Level,
  type ServerConfig,
} from './api';
import { EmptyState, HitThumb, type Picture, Spinner, TextCard } from './components';
import { renderAnswer } from './markdown';
import { askOptions, type Settings } from './settings';
import { opensInViewer, type ViewTarget, viewAction } from './view-target';

interface Turn {
  id: number;
  question: string;
  answer: string;
  sources: Hit[];
  /** True once the sources arrived (they come before the answer). */
  retrieved?: boolean;
  citations: number[];
  model: string | null;
  /** The level that answered. */
  level?: Level;
  /** What the model was sent: the prompt and the pictures attached. */
  prompt?: AskPrompt;
  /** False: nothing in the knowledge base is close to the question (the model was not asked). */
  answerable?: boolean;
  error?: AskError;
  /** `stopped`: the reader pressed Stop (the partial answer is kept); `failed`: the question did not get through. */
  state: 'streaming' | 'done' | 'stopped' | 'failed';
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

/**
 * Move to source n of a turn: scroll it into view, flash it and give it the focus (a text source inside closed
 * details is opened first), so that keyboard users continue from the source, not from the citation.
 */
function focusSource(turn: number, n: number): void {
  const el = document.getElementById(`src-${turn}-${n}`);
  if (!el) return;
  const details = el.closest('details');
  if (details && !details.open) details.open = true;
  el.focus({ preventScroll: true });
  el.scrollIntoView({ behavior: 'smooth', block: 'center' });
  el.classList.remove('flash');
  void el.offsetWidth;
  el.classList.add('flash');
}

/**
 * The answer as sanitised Markdown; citations link to (and move the focus to) the sources of this turn, and a source
 * that can be seen where it is (its page, its time in a recording) opens there too.
 */
function AnswerText(props: {
  text: string;
  turn: number;
  sources: Hit[];
  onView: (target: ViewTarget) => void;
}) {
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: clicks come from the citation links inside (Enter on a link clicks it)
    <div
      class="answer-text markdown"
      onClick={(e) => {
        const link = (e.target as HTMLElement).closest<HTMLAnchorElement>('a[data-cite]');
        if (!link) return;
        e.preventDefault();
        const n = Number(link.dataset.cite);
        // The source takes the focus first: closing the viewer gives it back there.
        focusSource(props.turn, n);
        const hit = props.sources[n - 1];
        if (hit && (hit.modality === 'image' ? opensInViewer(hit) : viewAction(hit)))
          props.onView({ id: hit.id, label: hit.title });
      }}
      dangerouslySetInnerHTML={{ __html: renderAnswer(props.text, props.turn, props.sources.length) }}
    />
  );
}

function Sources(props: {
  turn: Turn;
  empty: boolean;
  onOpen: (p: Picture) => void;
  onView: (target: ViewTarget) => void;
  goLibrary: () => void;
}) {
  const { turn } = props;
  const cited = new Set(turn.citations);
  const numbered = turn.sources.map((hit, i) => ({ hit, n: i + 1 }));
  const texts = numbered.filter((s) => s.hit.modality === 'text');
  const pictures = numbered.filter((s) => s.hit.modality === 'image');
  if (turn.sources.length === 0) {
    if (turn.state === 'streaming' && !turn.retrieved) return null;
    if (turn.state === 'failed') return null;
    return props.empty ? (
      <p class="muted small">
        Your knowledge base is empty, so there was nothing to answer from.{' '}
        <button type="button" class="link small" onClick={props.goLibrary}>
          Add files in the Library
        </button>
      </p>
    ) : (
      <p class="muted small">
        No sources passed the thresholds. Try other words, or lower thresholds in the settings.
      </p>
    );
  }
  return (
    <section class="sources" aria-label={turn.answerable === false ? 'Closest sources' : 'Sources'}>
      {turn.answerable === false ? <h3 class="closest-title">Closest sources</h3> : null}
      {pictures.length > 0 ? (
        <div class="thumb-grid">
          {pictures.map(({ hit, n }) => (
            <HitThumb
              key={hit.id}
              id={`src-${turn.id}-${n}`}
              hit={hit}
              n={n}
              onOpen={props.onOpen}
              onView={props.onView}
            />
          ))}
        </div>
      ) : null}
      {texts.length > 0 ? (
        <details
          class="text-sources"
          open={texts.some((t) => cited.has(t.n)) || turn.answer === '' || turn.answerable === false}
        >
          <summary>
            {texts.length} text source{texts.length === 1 ? '' : 's'}
            {cited.size > 0 ? ` · ${texts.filter((t) => cited.has(t.n)).length} cited` : ''}
          </summary>
          <div class="text-list">
            {texts.map(({ hit, n }) => (
              <TextCard
                key={hit.id}
                hit={hit}
                n={n}
                id={`src-${turn.id}-${n}`}
                cited={cited.has(n)}
                onView={props.onView}
              />
            ))}
          </div>
        </details>
      ) : null}
    </section>
  );
}

/**
 * The answerability gate's verdict: nothing in the knowledge base is close enough to the question, so no model was
 * asked (it would only have guessed). The closest sources follow; the question can be put to the model anyway.
 */
function NotFound(props: { closest: number; askAnyway?: () => void }) {
  const { closest } = props;
  return (
    <div class="not-found" role="status" data-testid="not-found">
      <span class="not-found-icon" aria-hidden="true">
        ∅
      </span>
      <div class="not-found-body">
        <strong>Not found in your documents</strong>
        <p>
          Nothing in your knowledge base is close enough to this question, so no model was asked
          {closest > 0
            ? `. The ${closest === 1 ? 'closest source is' : `${closest} closest sources are`} below, in case one helps.`
            : ', and there is no source to show.'}
        </p>
        {props.askAnyway ? (
          <button type="button" class="secondary small" onClick={props.askAnyway}>
            Ask the model anyway
          </button>
        ) : null}
      </div>
    </div>
  );
}

/** Exactly what the model was sent: the prompt's text and the pictures attached to it, in order. */
function PromptView(props: { turn: Turn; onOpen: (p: Picture) => void }) {
  const [open, setOpen] = useState(false);
  const prompt = props.turn.prompt;
  if (!prompt) return null;
  const id = `prompt-${props.turn.id}`;
  return (
    <div class="prompt-view">
      <button
        type="button"
        class="link small"
        aria-expanded={open}
        aria-controls={id}
        onClick={() => setOpen(!open)}
      >
        {open ? 'Hide the prompt' : 'Show the prompt'}
      </button>
      {open ? (
        <section id={id} class="prompt-box" aria-label="What the model was sent">
          <p class="muted small">
            {prompt.willAnswer ? 'Sent to the model' : 'What a model would have been sent'} at level{' '}
            {prompt.level}
            {prompt.attached.length > 0
              ? `, with ${prompt.attached.length} picture${prompt.attached.length === 1 ? '' : 's'} attached in this order:`
              : ', with no picture attached.'}
          </p>
          {prompt.attached.length > 0 ? (
            <ol class="attached">
              {prompt.attached.map((picture, i) => (
                <li key={picture.id} class="attached-item">
                  <button
                    type="button"
                    class="attached-thumb"
                    aria-label={`Open attached picture ${i + 1}`}
                    onClick={() =>
                      props.onOpen({
                        url: picture.mediaUrl,
                        caption: `Picture ${i + 1} sent to the model`,
                        title: picture.path,
                        detail: '',
                      })
                    }
                  >
                    <img src={picture.mediaUrl} alt={`Attachment ${i + 1}`} loading="lazy" />
                  </button>
                </li>
              ))}
            </ol>
          ) : null}
          <pre class="prompt-text">{prompt.prompt}</pre>
        </section>
      ) : null}
    </div>
  );
}

/** Why a question has no answer, in the words of someone using the web app, with the way out. */
function TurnNote(props: { turn: Turn; openSettings: () => void; retry: () => void }) {
  const { turn } = props;
  const error = turn.error;
  if (!error) return null;
  if (error.code === 'llm_none') {
    const turnedOff = /turned off/.test(error.message);
    const sources = turn.sources.length > 0;
    return (
      <div class="note note-info" role="status">
        <strong>{error.message}</strong>
        <div>
          {sources ? 'The sources below are what your files hold on this question. ' : ''}
          {turnedOff
            ? 'To have a model answer, choose the server’s model in Settings.'
            : 'The server’s operator can start the model; or turn answering off in Settings to get the sources without this note.'}{' '}
          <button type="button" class="link small" onClick={props.openSettings}>
            Open Settings
          </button>
        </div>
      </div>
    );
  }
  return (
    <div class="note note-error" role="alert">
      <strong>{error.message}</strong>
      {error.hint ? <div>{error.hint}</div> : null}
      {turn.state === 'failed' ? (
        <div class="row">
          {error.code === 'bad_filter' || error.code === 'bad_request' ? (
            <button type="button" class="secondary small" onClick={props.openSettings}>
              {error.code === 'bad_filter' ? 'Edit the filter' : 'Open Settings'}
            </button>
          ) : null}
          <button type="button" class="secondary small" onClick={props.retry}>
            Try again
          </button>
        </div>
      ) : null}
    </div>
  );
}

export function AskView(props: {
  config: ServerConfig | null;
  settings: Settings;
  sourceCount: number | null;
  onOpen: (p: Picture) => void;
  onView: (target: ViewTarget) => void;
  goLibrary: () => void;
  /** The server refused the filter of the settings: its message (shown there too), or null when it passed. */
  onWhereError: (error: { where: string; message: string } | null) => void;
  openSettings: () => void;
}) {
  const [turns, setTurns] = useState<Turn[]>(loadTurns);
  const [draft, setDraft] = useState('');
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

  /** Ask a question (again, in place of turn `replacing`); `overrides` change this question's options only. */
  const ask = async (question: string, replacing?: number, overrides: { gate?: false } = {}) => {
    const q = question.trim();
    if (!q || busy) return;
    setDraft('');
    const id = Date.now();
    // The gate's "not found" is not an answer the model gave: it is not part of the conversation.
    const history = turns
      .filter((t) => t.answer && t.id !== replacing && t.state !== 'failed' && t.answerable !== false)
      .slice(-6)
      .flatMap((t) => [
        { role: 'user' as const, content: t.question },
        { role: 'assistant' as const, content: t.answer },
      ]);
    setTurns((all) => [
      ...all.filter((t) => t.id !== replacing),
      { id, question: q, answer: '', sources: [], citations: [], model: null, state: 'streaming' },
    ]);
    const ctl = new AbortController();
    controller.current = ctl;
    const where = props.settings.where.trim();
    try {
      await askStream(
        { question: q, history, ...askOptions(props.settings), ...overrides },
        ctl.signal,
        (m) => {
          if (m.event === 'token') update(id, (t) => ({ answer: t.answer + m.data }));
          else if (m.event === 'sources')
            update(id, () => ({ sources: JSON.parse(m.data) as Hit[], retrieved: true }));
          else if (m.event === 'prompt') {
            const prompt = JSON.parse(m.data) as AskPrompt;
            update(id, () => ({ prompt, level: prompt.level }));
          } else if (m.event === 'done') {
            const done = JSON.parse(m.data) as AskDone;
            update(id, (t) => ({
              // An answer that was not streamed (the documents do not say) comes whole with the end.
              answer: t.answer || done.answer || '',
              answerable: done.answerable,
              model: done.model,
              citations: done.citations,
              state: t.state === 'streaming' ? 'done' : t.state,
              ...(done.level ? { level: done.level } : {}),
              ...(done.error ? { error: done.error } : {}),
            }));
          } else if (m.event === 'error') {
            update(id, () => ({ error: JSON.parse(m.data) as AskError, state: 'failed' }));
          }
        },
      );
      update(id, (t) => ({
        state: t.state === 'streaming' ? (ctl.signal.aborted ? 'stopped' : 'done') : t.state,
      }));
      if (where) props.onWhereError(null);
    } catch (err) {
      if (ctl.signal.aborted) {
        // Stopped by the reader: keep what arrived, ask nothing more.
        update(id, () => ({ state: 'stopped' }));
        return;
      }
      const e = err as { message: string; hint?: string; code?: string };
      // The filter language's parser refuses with code `usage`; nothing else in a question can.
      const badFilter = where !== '' && e.code === 'usage';
      if (badFilter) props.onWhereError({ where, message: e.message });
      update(id, () => ({
        state: 'failed',
        error: {
          code: badFilter ? 'bad_filter' : (e.code ?? 'error'),
          message: badFilter ? `The filter in the settings is not valid: ${e.message}` : e.message,
          ...(e.hint ? { hint: e.hint } : {}),
        },
      }));
    } finally {
      if (controller.current === ctl) controller.current = null;
      if (!ctl.signal.aborted) input.current?.focus();
    }
  };

  const stop = () => {
    controller.current?.abort();
    input.current?.focus();
  };
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
              <div class="answer" aria-busy={turn.state === 'streaming'}>
                {turn.answerable === false ? (
                  // An empty knowledge base says so below, with the way to add files.
                  empty ? null : (
                    <NotFound
                      closest={turn.sources.length}
                      {...(props.settings.provider === 'none'
                        ? {}
                        : { askAnyway: () => void ask(turn.question, turn.id, { gate: false }) })}
                    />
                  )
                ) : turn.answer ? (
                  <AnswerText
                    text={turn.answer}
                    turn={turn.id}
                    sources={turn.sources}
                    onView={props.onView}
                  />
                ) : turn.state === 'streaming' ? (
                  <div class="thinking">
                    <Spinner label="Answering" />{' '}
                    {turn.retrieved
                      ? turn.prompt?.willAnswer === false
                        ? 'Sources found.'
                        : 'Sources found; the model is writing…'
                      : 'Searching your files…'}
                  </div>
                ) : null}
                {turn.state === 'stopped' ? (
                  <p class="stopped muted small">
                    {turn.answer ? 'Stopped: the answer above is incomplete.' : 'Stopped before the answer.'}
                  </p>
                ) : null}
                {/* With no sources, why there are none comes first (an empty knowledge base says so). */}
                {turn.sources.length === 0 ? (
                  <Sources
                    turn={turn}
                    empty={empty}
                    onOpen={props.onOpen}
                    onView={props.onView}
                    goLibrary={props.goLibrary}
                  />
                ) : null}
                <TurnNote
                  turn={turn}
                  openSettings={props.openSettings}
                  retry={() => void ask(turn.question, turn.id)}
                />
                {turn.sources.length > 0 ? (
                  <Sources
                    turn={turn}
                    empty={empty}
                    onOpen={props.onOpen}
                    onView={props.onView}
                    goLibrary={props.goLibrary}
                  />
                ) : null}
                {turn.state !== 'streaming' && turn.state !== 'failed' && (turn.model || turn.level) ? (
                  <div class="muted small model">
                    {turn.model ? `Answered by ${turn.model}` : 'Sources retrieved'}
                    {turn.level ? ` at level ${turn.level}` : ''}
                  </div>
                ) : null}
                <PromptView turn={turn} onOpen={props.onOpen} />
              </div>
            </div>
          ))
        )}
        <div ref={bottom} />
      </div>
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
        {/* Distinct keys: Stop must not turn into the submit button under the same click. */}
        {busy ? (
          <button
            key="stop"
            type="button"
            class="secondary"
            onClick={(e) => {
              e.preventDefault();
              stop();
            }}
          >
            Stop
          </button>
        ) : (
          <button key="ask" type="submit" class="primary" disabled={!draft.trim()}>
            Ask
          </button>
        )}
        {turns.length > 0 && !busy ? (
          <button
            key="new"
            type="button"
            class="ghost"
            onClick={() => setTurns([])}
            title="Start a new conversation"
          >
            New chat
          </button>
        ) : null}
      </form>
    </div>
  );
}
