import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { Hit, Location } from './api';

export function baseName(path: string): string {
  const parts = path.split(/[/\\]/);
  return parts[parts.length - 1] || path;
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** "page 3", "slide 2", "Sheet1 rows 2-10", "1:05-1:20" */
export function formatLocation(location: Location | undefined): string {
  if (!location) return '';
  const parts: string[] = [];
  if (location.page !== undefined) parts.push(`page ${location.page}`);
  if (location.slide !== undefined) parts.push(`slide ${location.slide}`);
  if (location.sheet) parts.push(location.sheet);
  if (location.rows) parts.push(`rows ${location.rows[0]}-${location.rows[1]}`);
  if (location.start !== undefined)
    parts.push(
      location.end !== undefined ? `${clock(location.start)}-${clock(location.end)}` : clock(location.start),
    );
  return parts.join(', ');
}

export function formatDate(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${Number((bytes / 1024 ** 3).toFixed(1))} GB`;
}

/** "score 0.312 · vector 0.290 · BM25 4.10 · rerank 0.880": how each retriever scored a hit, for a tooltip. */
export function scoreTitle(hit: Hit): string {
  const parts = [`score ${hit.score.toFixed(3)}`];
  const scores = hit.scores ?? {};
  if (scores.vector !== undefined) parts.push(`vector ${scores.vector.toFixed(3)}`);
  if (scores.bm25 !== undefined) parts.push(`BM25 ${scores.bm25.toFixed(2)}`);
  if (scores.rerank !== undefined) parts.push(`rerank ${scores.rerank.toFixed(3)}`);
  return parts.join(' · ');
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function EmptyState(props: { icon: string; title: string; children: ComponentChildren }) {
  return (
    <div class="empty">
      <div class="empty-icon" aria-hidden="true">
        {props.icon}
      </div>
      <h2>{props.title}</h2>
      <div class="empty-body">{props.children}</div>
    </div>
  );
}

export interface Picture {
  url: string;
  caption: string;
  title: string;
  detail: string;
  /** What a multimodal model saw in the picture at ingest. */
  description?: string;
}

/** The full-size picture over the page; Escape or a click outside closes it. */
export function Lightbox(props: { picture: Picture; onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    close.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      previous?.focus();
    };
  }, [props.onClose]);
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: Escape closes it (window listener above)
    <div
      class="lightbox"
      role="dialog"
      aria-modal="true"
      aria-label={props.picture.caption || 'Picture'}
      onClick={props.onClose}
    >
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: only stops the backdrop's click; Escape closes the dialog */}
      <figure onClick={(e) => e.stopPropagation()}>
        <img src={props.picture.url} alt={props.picture.caption || props.picture.title} />
        <figcaption>
          <strong>{props.picture.caption || 'No caption'}</strong>
          {props.picture.description ? <span class="description">{props.picture.description}</span> : null}
          <span>
            {props.picture.title}
            {props.picture.detail ? ` · ${props.picture.detail}` : ''}
          </span>
        </figcaption>
        <button type="button" class="lightbox-close" ref={close} onClick={props.onClose} aria-label="Close">
          ×
        </button>
      </figure>
    </div>
  );
}

/** A picture thumbnail that opens full size. */
export function Thumb(props: {
  url: string;
  caption: string;
  title: string;
  detail?: string;
  badge?: string;
  /** Tooltip of the badge (e.g. how each retriever scored the hit). */
  badgeTitle?: string;
  description?: string | undefined;
  id?: string;
  onOpen: (picture: Picture) => void;
}) {
  const picture: Picture = {
    url: props.url,
    caption: props.caption,
    title: props.title,
    detail: props.detail ?? '',
    ...(props.description ? { description: props.description } : {}),
  };
  return (
    <figure class="thumb" id={props.id}>
      <button
        type="button"
        onClick={() => props.onOpen(picture)}
        aria-label={`Open picture: ${props.caption || props.title}`}
      >
        <img src={props.url} alt={props.caption || props.title} loading="lazy" />
        {props.badge ? (
          <span class="badge" title={props.badgeTitle}>
            {props.badge}
          </span>
        ) : null}
      </button>
      <figcaption title={props.caption}>{props.caption || <em>No caption</em>}</figcaption>
      {props.description ? (
        <p class="thumb-description" title={props.description}>
          {props.description}
        </p>
      ) : null}
      <div class="thumb-meta" title={props.detail}>
        {props.title}
      </div>
    </figure>
  );
}

/** A picture hit as a thumbnail: caption, description, place and, on the badge's tooltip, its scores. */
export function HitThumb(props: {
  hit: Hit;
  badge: string;
  id?: string;
  onOpen: (picture: Picture) => void;
}) {
  const { hit } = props;
  return (
    <Thumb
      url={hit.mediaUrl!}
      caption={hit.caption ?? ''}
      title={hit.title}
      detail={[hit.section, formatLocation(hit.location)].filter(Boolean).join(' · ')}
      badge={props.badge}
      badgeTitle={scoreTitle(hit)}
      description={hit.description}
      {...(props.id ? { id: props.id } : {})}
      onOpen={props.onOpen}
    />
  );
}

/** A text snippet with its title, section and place in the source. */
export function TextCard(props: { hit: Hit; n?: number; id?: string; showScore?: boolean; cited?: boolean }) {
  const { hit } = props;
  const where = [hit.section, formatLocation(hit.location)].filter(Boolean).join(' · ');
  return (
    <article class={`text-card${props.cited ? ' cited' : ''}`} id={props.id}>
      <header>
        {props.n !== undefined ? (
          <span class="num" title={scoreTitle(hit)}>
            {props.n}
          </span>
        ) : null}
        <div class="text-card-title">
          <strong>{hit.title || baseName(hit.source)}</strong>
          {where ? <span class="muted">{where}</span> : null}
        </div>
        {props.showScore ? (
          <span class="score" title={scoreTitle(hit)}>
            {hit.score.toFixed(3)}
          </span>
        ) : null}
      </header>
      <p>{hit.text}</p>
      <footer class="muted" title={hit.source}>
        {baseName(hit.source)}
      </footer>
    </article>
  );
}

export function Spinner(props: { label?: string }) {
  return <span class="spinner" role="status" aria-label={props.label ?? 'Working'} />;
}

export function ErrorNote(props: { message: string; hint?: string | undefined }) {
  return (
    <div class="note note-error" role="alert">
      <strong>{props.message}</strong>
      {props.hint ? <div>{props.hint}</div> : null}
    </div>
  );
}
