// The viewer: an item shown where it is in its source. A passage or picture from a PDF or a slide opens its page
// with the item's boxes drawn on it (zoomable, by keyboard too); a passage or frame from a recording opens a player
// at its time; a picture opens the picture (and its page, when it was cut from one). Everything by item id.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type ItemView } from './api';
import { baseName, Spinner, sectionAndPlace } from './components';
import { useFocusTrap } from './focus';
import { clock, type ViewTarget } from './view-target';

const ZOOMS = [1, 1.5, 2, 3, 4];

/** A page picture with boxes over it, zoomed by buttons or the keyboard (+, -, 0), scrolled to the first box. */
function PageImage(props: { page: NonNullable<ItemView['page']>; label: string }) {
  const { page } = props;
  // On a phone the page starts at twice its fitted width, so that its text can be read; elsewhere it fits.
  const [zoom, setZoom] = useState(() => (window.innerWidth < 600 ? 2 : 0));
  const [loaded, setLoaded] = useState(false);
  const firstBox = useRef<HTMLDivElement>(null);
  const frame = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const box = firstBox.current;
    const view = frame.current;
    if (!loaded || !box || !view) return;
    // Centre the first box in the frame (the frame scrolls; the dialog does not move); a line wider than the frame
    // is shown from its start.
    const wide = box.offsetWidth > view.clientWidth - 32;
    view.scrollTo({
      left: wide ? box.offsetLeft - 16 : box.offsetLeft + box.offsetWidth / 2 - view.clientWidth / 2,
      top: box.offsetTop + box.offsetHeight / 2 - view.clientHeight / 2,
    });
  }, [loaded, zoom]);
  const step = (by: number) => setZoom((z) => Math.min(ZOOMS.length - 1, Math.max(0, z + by)));
  const percent = Math.round(ZOOMS[zoom]! * 100);
  const unit = page.unit === 'page' ? 'Page' : 'Slide';
  return (
    <div class="page-view">
      <div class="page-tools" role="toolbar" aria-label="Zoom">
        <button
          type="button"
          class="secondary small"
          onClick={() => step(-1)}
          disabled={zoom === 0}
          aria-label="Zoom out"
        >
          −
        </button>
        <output class="small" aria-live="polite" data-testid="zoom">
          {percent}%
        </output>
        <button
          type="button"
          class="secondary small"
          onClick={() => step(1)}
          disabled={zoom === ZOOMS.length - 1}
          aria-label="Zoom in"
        >
          +
        </button>
        <button type="button" class="ghost small" onClick={() => setZoom(0)} disabled={zoom === 0}>
          Fit
        </button>
        <span class="muted small page-hint">
          {page.boxes.length > 0 ? `Highlighted: where it is on this ${unit.toLowerCase()}` : ''}
        </span>
      </div>
      <section
        class="page-frame"
        ref={frame}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: the page scrolls and zooms by keyboard (arrows, +, -, 0)
        tabIndex={0}
        aria-label={`${unit} ${page.number}, ${percent}%. Arrow keys scroll, + and - zoom, 0 fits.`}
        onKeyDown={(e) => {
          if (e.key === '+' || e.key === '=') step(1);
          else if (e.key === '-' || e.key === '_') step(-1);
          else if (e.key === '0') setZoom(0);
          else return;
          e.preventDefault();
        }}
      >
        <div class="page-sheet" style={{ width: `${percent}%` }} data-testid="page-sheet">
          <img
            src={page.mediaUrl}
            alt={`${unit} ${page.number} of ${props.label}`}
            onLoad={() => setLoaded(true)}
          />
          {page.boxes.map(([x0, y0, x1, y1], i) => (
            <div
              key={`${x0},${y0}`}
              ref={i === 0 ? firstBox : undefined}
              class="page-box"
              data-testid="page-box"
              aria-hidden="true"
              style={{
                left: `${x0 * 100}%`,
                top: `${y0 * 100}%`,
                width: `${(x1 - x0) * 100}%`,
                height: `${(y1 - y0) * 100}%`,
              }}
            />
          ))}
        </div>
      </section>
    </div>
  );
}

/** The original recording, started at the item's time. */
function Player(props: { recording: NonNullable<ItemView['recording']>; label: string }) {
  const { recording } = props;
  const media = useRef<HTMLMediaElement>(null);
  const playFromStart = () => {
    const el = media.current;
    if (!el) return;
    el.currentTime = recording.start;
    // A browser may refuse to play without a gesture: the position is set either way.
    void el.play().catch(() => undefined);
  };
  const common = {
    ref: media as never,
    controls: true,
    preload: 'metadata' as const,
    src: `${recording.url}#t=${recording.start}`,
    onLoadedMetadata: playFromStart,
    'data-testid': 'player',
    'aria-label': `${props.label} from ${clock(recording.start)}`,
  };
  return (
    <div class="player">
      {recording.media === 'video' ? <video {...common} playsInline /> : <audio {...common} />}
      <div class="row">
        <button type="button" class="secondary small" onClick={playFromStart}>
          Play from {clock(recording.start)}
        </button>
      </div>
    </div>
  );
}

/** The viewer over the page; Escape or a click outside closes it, focus stays inside while it is open. */
export function Viewer(props: { target: ViewTarget; onClose: () => void }) {
  const [view, setView] = useState<ItemView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [onPage, setOnPage] = useState(false);
  const dialog = useRef<HTMLDivElement>(null);
  const close = useRef<HTMLButtonElement>(null);
  useFocusTrap(dialog, close);
  useEffect(() => {
    let live = true;
    api.view(props.target.id).then(
      (v) => live && setView(v),
      (err: Error) => live && setError(err.message),
    );
    return () => {
      live = false;
    };
  }, [props.target.id]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);

  const title = view?.title || (view ? baseName(view.source) : props.target.label);
  const where = view ? sectionAndPlace(view) : '';
  let body = null;
  if (error) body = <p class="error-text">{error}</p>;
  else if (!view) body = <Spinner label="Opening" />;
  else if (view.kind === 'recording' && view.recording)
    body = <Player recording={view.recording} label={title} />;
  else if ((view.kind === 'page' || onPage) && view.page) body = <PageImage page={view.page} label={title} />;
  else if (view.kind === 'picture' && view.picture)
    body = (
      <figure class="viewer-picture">
        <img src={view.picture.mediaUrl} alt={view.picture.caption || title} />
        {view.picture.description ? <figcaption>{view.picture.description}</figcaption> : null}
      </figure>
    );
  else
    body = (
      <p class="muted">
        {view.type === 'pptx'
          ? 'No picture of this slide was kept (the server needs LibreOffice for that).'
          : 'There is nothing more to show for this item than its text.'}
      </p>
    );
  const text = view?.kind === 'picture' ? view.picture?.caption : view?.text;

  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: Escape closes it (window listener above)
    <div
      class="viewer-backdrop"
      ref={dialog}
      role="dialog"
      aria-modal="true"
      aria-labelledby="viewer-title"
      onClick={props.onClose}
    >
      {/* biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: only stops the backdrop's click */}
      <section class="viewer" data-testid="viewer" onClick={(e) => e.stopPropagation()}>
        <header class="viewer-head">
          <div class="viewer-title">
            <h2 id="viewer-title">{title}</h2>
            {where ? <span class="muted small">{where}</span> : null}
          </div>
          {view?.kind === 'picture' && view.page ? (
            <button
              type="button"
              class="secondary small"
              onClick={() => setOnPage(!onPage)}
              aria-pressed={onPage}
            >
              {onPage ? 'Show the picture' : `Show on ${view.page.unit} ${view.page.number}`}
            </button>
          ) : null}
          <button
            type="button"
            class="icon viewer-close"
            ref={close}
            onClick={props.onClose}
            aria-label="Close"
          >
            ×
          </button>
        </header>
        <div class="viewer-body">{body}</div>
        {text && view?.type !== 'page' ? <p class="viewer-text">{text}</p> : null}
        {view ? (
          <footer class="muted small" title={view.source}>
            {baseName(view.source)}
          </footer>
        ) : null}
      </section>
    </div>
  );
}
