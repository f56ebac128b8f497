import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type SearchResult } from './api';
import { EmptyState, ErrorNote, HitThumb, type Picture, plural, Spinner, TextCard } from './components';
import { appendSearchFields, type Settings } from './settings';
import type { ViewTarget } from './view-target';

export const WHERE_EXAMPLE = 'type = pdf and page >= 3';
export const WHERE_HELP =
  'Fields: source, type, section, title, modality, page, slide, sheet, start, end, ingested. Operators: = != ~ (contains) > >= < <= in (a, b). Join with "and".';

export function SearchView(props: {
  settings: Settings;
  sourceCount: number | null;
  onOpen: (p: Picture) => void;
  onView: (target: ViewTarget) => void;
  goLibrary: () => void;
}) {
  const [query, setQuery] = useState('');
  const [picture, setPicture] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [result, setResult] = useState<SearchResult | null>(null);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [error, setError] = useState<{ message: string; hint?: string | undefined } | null>(null);
  const [where, setWhere] = useState(() => sessionStorage.getItem('mmrag.searchWhere') ?? '');
  const [whereError, setWhereError] = useState<string | null>(null);
  const pictureInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (!picture) {
      setPreview(null);
      return;
    }
    const url = URL.createObjectURL(picture);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [picture]);

  useEffect(() => sessionStorage.setItem('mmrag.searchWhere', where), [where]);

  const run = async (text: string, image: File | null) => {
    if (!text.trim() && !image) return;
    setBusy(true);
    setError(null);
    setWhereError(null);
    const filter = where.trim();
    try {
      const form = new FormData();
      if (text.trim()) form.append('q', text.trim());
      if (image) form.append('image', image, image.name);
      appendSearchFields(form, props.settings);
      // A picture is searched in CLIP space whatever level the settings choose.
      if (image) form.set('level', '3');
      if (filter) form.append('where', filter);
      setResult(await api.search(form));
    } catch (err) {
      const e = err as { message: string; hint?: string; code?: string };
      if (filter && e.code === 'usage') setWhereError(e.message);
      else setError({ message: e.message, hint: e.hint });
    } finally {
      setBusy(false);
    }
  };

  const choose = (file: File | undefined) => {
    if (!file) return;
    if (!file.type.startsWith('image/')) {
      setError({ message: `${file.name} is not a picture.`, hint: 'Drop a PNG, JPEG, WebP or GIF.' });
      return;
    }
    setPicture(file);
    void run(query, file);
  };

  const empty = props.sourceCount === 0;
  const nothing = result && result.text.length === 0 && result.images.length === 0;

  return (
    <div class="search-view">
      <form
        class={`search-bar${dragging ? ' dragging' : ''}`}
        onSubmit={(e) => {
          e.preventDefault();
          void run(query, picture);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          choose(e.dataTransfer?.files[0]);
        }}
      >
        {preview ? (
          <span class="query-picture">
            <img src={preview} alt="Your query" />
            <button
              type="button"
              class="ghost small"
              onClick={() => setPicture(null)}
              aria-label="Remove the picture"
            >
              ×
            </button>
          </span>
        ) : null}
        <label class="sr-only" for="search-input">
          Search
        </label>
        <input
          id="search-input"
          type="search"
          placeholder={
            picture
              ? 'Add words to the picture (optional)…'
              : 'Search text and pictures, or drop a picture here…'
          }
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
        <button
          type="button"
          class="secondary"
          onClick={() => pictureInput.current?.click()}
          title="Search by a picture"
        >
          Picture…
        </button>
        <button type="submit" class="primary" disabled={busy || (!query.trim() && !picture)}>
          {busy ? 'Searching…' : 'Search'}
        </button>
        <input
          ref={pictureInput}
          type="file"
          accept="image/*"
          hidden
          data-testid="picture-input"
          onChange={(e) => {
            choose(e.currentTarget.files?.[0]);
            e.currentTarget.value = '';
          }}
        />
      </form>
      <div class={`filter${whereError ? ' invalid' : ''}`}>
        <div class="filter-row">
          <label for="search-where">Filter</label>
          <input
            id="search-where"
            type="text"
            spellcheck={false}
            placeholder={`e.g. ${WHERE_EXAMPLE}`}
            value={where}
            aria-invalid={whereError ? true : undefined}
            aria-describedby="search-where-help"
            title={WHERE_HELP}
            onInput={(e) => {
              setWhere((e.target as HTMLInputElement).value);
              setWhereError(null);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                void run(query, picture);
              }
            }}
          />
          {where ? (
            <button
              type="button"
              class="ghost small"
              onClick={() => {
                setWhere('');
                setWhereError(null);
              }}
              aria-label="Clear the filter"
            >
              ×
            </button>
          ) : null}
        </div>
        <p
          id="search-where-help"
          class={`filter-help small${whereError ? ' error-text' : ' muted'}`}
          role={whereError ? 'alert' : undefined}
        >
          {whereError ?? (
            <>
              Only items that match, e.g. <code>{WHERE_EXAMPLE}</code>, <code>source ~ report</code>,{' '}
              <code>modality = image</code>.
            </>
          )}
        </p>
      </div>

      {error ? <ErrorNote message={error.message} hint={error.hint} /> : null}
      {busy && !result ? <Spinner label="Searching" /> : null}

      {!result && !busy ? (
        empty ? (
          <EmptyState icon="⌕" title="Nothing to search yet">
            <p>Add files in the Library first.</p>
            <button type="button" class="primary" onClick={props.goLibrary}>
              Go to the Library
            </button>
          </EmptyState>
        ) : (
          <EmptyState icon="⌕" title="Search without asking a model">
            <p>
              Type words to find the passages and pictures closest in meaning, or drop a picture to find
              similar ones.
            </p>
          </EmptyState>
        )
      ) : null}

      {nothing ? (
        empty ? (
          <EmptyState icon="⇪" title="Your knowledge base is empty">
            <p>There is nothing to search yet: add files in the Library first.</p>
            <button type="button" class="primary" onClick={props.goLibrary}>
              Go to the Library
            </button>
          </EmptyState>
        ) : (
          <EmptyState icon="∅" title="No results passed the thresholds">
            <p>Try other words, or lower the thresholds in the settings (⚙).</p>
          </EmptyState>
        )
      ) : null}

      {result && !nothing ? (
        <p class="result-meta muted small">
          {plural(result.images.length, 'picture')} and {plural(result.text.length, 'passage')}
          {result.level ? ` · level ${result.level}` : ''}
          {result.mode ? ` · ${result.mode === 'bm25' ? 'BM25' : result.mode}` : ''}
          {' · '}press a score to see how each retriever ranked the result
        </p>
      ) : null}
      {result && result.images.length > 0 ? (
        <section class="card">
          <header>
            <h2>Pictures</h2>
            <span class="muted small">{result.images.length}</span>
          </header>
          <div class="thumb-grid">
            {result.images.map((hit) => (
              <HitThumb key={hit.id} hit={hit} onOpen={props.onOpen} onView={props.onView} />
            ))}
          </div>
        </section>
      ) : null}
      {result && result.text.length > 0 ? (
        <section class="card">
          <header>
            <h2>Text</h2>
            <span class="muted small">{result.text.length}</span>
          </header>
          <div class="text-list">
            {result.text.map((hit) => (
              <TextCard key={hit.id} hit={hit} showScore onView={props.onView} />
            ))}
          </div>
        </section>
      ) : null}
    </div>
  );
}
