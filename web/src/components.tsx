import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Hit, Location } from './api';
import { useFocusTrap } from './focus';
import { relevanceLabel, scoreLines } from './format';
import { opensInViewer, type ViewTarget, viewAction } from './view-target';

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

/** A hit's section and place, the place left out when it only repeats the section (a PDF's "Page 2"). */
export function sectionAndPlace(hit: Pick<Hit, 'section' | 'location'>): string {
  const place = formatLocation(hit.location);
  const repeats = place.toLowerCase() === hit.section.toLowerCase();
  return [hit.section, repeats ? '' : place].filter(Boolean).join(' · ');
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

export function plural(n: number, word: string): string {
  return `${n.toLocaleString()} ${word}${n === 1 ? '' : 's'}`;
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

/** The full-size picture over the page; Escape or a click outside closes it, and focus stays inside while open. */
export function Lightbox(props: { picture: Picture; onClose: () => void }) {
  const dialog = useRef<HTMLDivElement>(null);
  const close = useRef<HTMLButtonElement>(null);
  useFocusTrap(dialog, close);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: Escape closes it (window listener above)
    <div
      class="lightbox"
      role="dialog"
      aria-modal="true"
      aria-label={props.picture.caption || 'Picture'}
      ref={dialog}
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

/**
 * A hit's score as a button: its readable relevance (or the source's number in an answer), which shows how each
 * retriever scored the hit when pressed, by mouse, touch or keyboard; Escape closes the breakdown again.
 */
export function ScoreTip(props: { hit: Hit; label: string; name: string; class: string }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  const lines = scoreLines(props.hit);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: Escape closes the breakdown the button inside opened
    <span
      class={`score-tip${open ? ' open' : ''}`}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && open) {
          e.stopPropagation();
          setOpen(false);
        }
      }}
    >
      <button
        type="button"
        class={props.class}
        aria-expanded={open}
        aria-controls={id}
        aria-label={`${props.name}: ${props.label}. Show how each retriever scored it`}
        title={lines.join('\n')}
        onClick={(e) => {
          e.stopPropagation();
          setOpen(!open);
        }}
      >
        {props.label}
      </button>
      <span id={id} class="score-pop" role="status" hidden={!open}>
        {open ? lines.map((line) => <span key={line}>{line}</span>) : null}
      </span>
    </span>
  );
}

/** A picture thumbnail that opens full size; `badge` sits on its corner (a score button for hits). */
export function Thumb(props: {
  url: string;
  caption: string;
  title: string;
  detail?: string;
  badge?: ComponentChildren;
  description?: string | undefined;
  id?: string;
  onOpen: (picture: Picture) => void;
  /** Open something else than the picture alone (the viewer): replaces `onOpen`. */
  onActivate?: () => void;
  /** What pressing it opens, for the button's name (default: "picture"). */
  opens?: string;
  /** A page or slide rendered whole: shown as a page. */
  page?: boolean;
}) {
  const picture: Picture = {
    url: props.url,
    caption: props.caption,
    title: props.title,
    detail: props.detail ?? '',
    ...(props.description ? { description: props.description } : {}),
  };
  return (
    <figure
      class={`thumb${props.page ? ' page-thumb' : ''}`}
      id={props.id}
      tabIndex={props.id ? -1 : undefined}
    >
      <div class="thumb-frame">
        <button
          type="button"
          class="thumb-open"
          onClick={() => (props.onActivate ? props.onActivate() : props.onOpen(picture))}
          aria-label={`Open ${props.opens ?? 'picture'}: ${props.caption || props.title}`}
        >
          <img src={props.url} alt={props.caption || props.title} loading="lazy" />
        </button>
        {props.badge ? <span class="thumb-badge">{props.badge}</span> : null}
      </div>
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

/**
 * A picture hit as a thumbnail: caption, description, place, and a badge with its number (in an answer) or its
 * relevance (in search results) that opens the score breakdown.
 */
export function HitThumb(props: {
  hit: Hit;
  n?: number;
  id?: string;
  onOpen: (picture: Picture) => void;
  /** The viewer: a page, a picture cut from a page, or a video frame opens there (at its page or time). */
  onView?: (target: ViewTarget) => void;
}) {
  const { hit } = props;
  const label = props.n !== undefined ? String(props.n) : relevanceLabel(hit);
  const name = props.n !== undefined ? `Source ${props.n}, ${relevanceLabel(hit)}` : 'Relevance';
  const onView = props.onView;
  const viewer = onView && opensInViewer(hit);
  const where = formatLocation(hit.location);
  return (
    <Thumb
      page={hit.type === 'page'}
      {...(viewer
        ? {
            onActivate: () => onView({ id: hit.id, label: hit.title || baseName(hit.source) }),
            opens:
              hit.type === 'page'
                ? where || 'page'
                : hit.location?.start !== undefined
                  ? `the recording at ${where}`
                  : 'picture',
          }
        : {})}
      url={hit.mediaUrl!}
      caption={hit.caption ?? ''}
      title={hit.type === 'page' && where ? `${hit.title} · ${where}` : hit.title}
      detail={sectionAndPlace(hit)}
      badge={<ScoreTip hit={hit} label={label} name={name} class="badge" />}
      description={hit.description}
      {...(props.id ? { id: props.id } : {})}
      onOpen={props.onOpen}
    />
  );
}

/** A text snippet with its title, section and place in the source; its number or score opens the breakdown. */
export function TextCard(props: {
  hit: Hit;
  n?: number;
  id?: string;
  showScore?: boolean;
  cited?: boolean;
  /** The viewer: a passage from a PDF, a slide or a recording gets a button that shows it there. */
  onView?: (target: ViewTarget) => void;
}) {
  const { hit } = props;
  const where = sectionAndPlace(hit);
  const action = props.onView ? viewAction(hit) : undefined;
  const onView = props.onView;
  return (
    <article
      class={`text-card${props.cited ? ' cited' : ''}`}
      id={props.id}
      tabIndex={props.id ? -1 : undefined}
    >
      <header>
        {props.n !== undefined ? (
          <ScoreTip
            hit={hit}
            label={String(props.n)}
            name={`Source ${props.n}, ${relevanceLabel(hit)}`}
            class="num"
          />
        ) : null}
        <div class="text-card-title">
          <strong>{hit.title || baseName(hit.source)}</strong>
          {where ? <span class="muted">{where}</span> : null}
        </div>
        {props.showScore ? (
          <ScoreTip hit={hit} label={relevanceLabel(hit)} name="Relevance" class="score" />
        ) : null}
      </header>
      <p>{hit.text}</p>
      <footer class="muted">
        <span class="text-card-source" title={hit.source}>
          {baseName(hit.source)}
        </span>
        {action && onView ? (
          <button
            type="button"
            class="link small view-button"
            data-view={hit.id}
            onClick={() => onView({ id: hit.id, label: hit.title || baseName(hit.source) })}
          >
            {action}
          </button>
        ) : null}
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
