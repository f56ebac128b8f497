import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Item, type JobFile, type ServerConfig, type Source } from './api';
import {
  baseName,
  EmptyState,
  ErrorNote,
  formatBytes,
  formatDate,
  formatLocation,
  type Picture,
  plural,
  Spinner,
  Thumb,
} from './components';
import {
  dismiss,
  type Picked,
  resumeJobs,
  startUpload,
  startUrl,
  type UploadCard as Upload,
  useUploads,
} from './uploads';

/** Files of a drop, folders walked (their relative paths kept). */
async function droppedFiles(data: DataTransfer): Promise<Picked[]> {
  const entries = [...data.items]
    .map((item) => (item.kind === 'file' ? item.webkitGetAsEntry() : null))
    .filter((e): e is FileSystemEntry => e !== null);
  if (entries.length === 0) return [...data.files].map((file) => ({ file, path: file.name }));
  const out: Picked[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject),
      );
      out.push({ file, path: prefix + entry.name });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
        reader.readEntries(resolve, reject),
      );
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
    }
  };
  for (const entry of entries) await walk(entry, '');
  return out;
}

const STATUS_TEXT: Record<JobFile['status'], string> = {
  processing: 'Processing',
  ingested: 'Added',
  unchanged: 'Unchanged',
  skipped: 'Skipped',
  failed: 'Failed',
};

const percent = (fraction: number) => `${Math.floor(fraction * 100)}%`;

/** How far a file is: its items embedded so far, while a large file is embedded. */
function fileFraction(file: JobFile): number {
  if (file.status !== 'processing') return 1;
  return file.progress && file.progress.total > 0 ? file.progress.done / file.progress.total : 0;
}

function FileRow(props: { file: JobFile }) {
  const f = props.file;
  const counts =
    f.status === 'ingested' || f.status === 'unchanged'
      ? `${plural(f.textItems, 'passage')}, ${plural(f.imageItems, 'picture')}`
      : '';
  const progress = f.status === 'processing' ? f.progress : undefined;
  const status =
    progress && progress.done >= progress.total
      ? 'Saving'
      : progress
        ? `Embedding ${progress.done.toLocaleString()} of ${progress.total.toLocaleString()} items (${percent(fileFraction(f))})`
        : STATUS_TEXT[f.status];
  return (
    <li class={`file-row status-${f.status}`}>
      <span class="file-icon" aria-hidden="true">
        {f.status === 'processing' ? (
          <Spinner />
        ) : f.status === 'failed' ? (
          '✕'
        ) : f.status === 'skipped' ? (
          '–'
        ) : (
          '✓'
        )}
      </span>
      <span class="file-name" title={f.name}>
        {f.name}
      </span>
      <span class="file-status">
        {status}
        {counts ? <span class="muted"> · {counts}</span> : null}
      </span>
      {progress ? (
        <div
          class="progress file-progress"
          role="progressbar"
          aria-label={`${f.name}: items embedded`}
          aria-valuemin={0}
          aria-valuemax={progress.total}
          aria-valuenow={progress.done}
          aria-valuetext={`${progress.done} of ${progress.total} items`}
        >
          <div style={{ width: `${Math.max(2, fileFraction(f) * 100)}%` }} />
        </div>
      ) : null}
      {f.reason ? <span class="file-reason">{f.reason}</span> : null}
      {f.warnings.length > 0 ? (
        <span class="file-reason warn" title={f.warnings.join('\n')}>
          {f.warnings.length === 1 ? f.warnings[0] : `${f.warnings.length} warnings: ${f.warnings[0]} …`}
        </span>
      ) : null}
    </li>
  );
}

/** What a card says at the top, for each moment of an upload's life. */
function cardTitle(u: Upload): string {
  const job = u.job;
  const finished = job?.files.filter((f) => f.status !== 'processing').length ?? 0;
  const total = job?.total ?? job?.uploaded ?? 0;
  const failed = job?.files.filter((f) => f.status === 'failed').length ?? 0;
  const unchanged = job?.files.filter((f) => f.status === 'unchanged').length ?? 0;
  if (u.error) return `Could not add ${u.label}`;
  if (!job) {
    if (u.fetching) return `Sending ${u.label}…`;
    return u.sent < 1 ? `Uploading ${u.label}… ${percent(u.sent)}` : `Saving ${u.label} on the server…`;
  }
  if (job.status === 'queued') return `Waiting: ${u.label} is next after the upload in progress`;
  if (job.status === 'running') {
    if (u.fetching) return `Fetching and reading ${u.label}…`;
    if (total <= 1) return `Processing ${u.label}…`;
    return `Processing ${u.label}: ${finished} of ${total} files done`;
  }
  if (job.status === 'failed') return `The ingest of ${u.label} stopped`;
  if (u.fetching) return failed ? `Could not add ${u.label}` : `Done: ${plural(finished, 'page')} added`;
  const added = finished - failed - unchanged;
  const counts: Array<[number, string]> = [
    [added, 'added'],
    [unchanged, 'unchanged'],
    [failed, 'failed'],
  ];
  const parts = counts
    .filter(([n]) => n > 0)
    .map(([n, what], i) => `${i === 0 ? plural(n, 'file') : n} ${what}`);
  return parts.length > 0 ? `Done: ${parts.join(', ')}` : 'Done: nothing to add';
}

function UploadCard(props: { upload: Upload; onDismiss: () => void }) {
  const { upload: u } = props;
  const job = u.job;
  const total = job?.total ?? job?.uploaded ?? 0;
  const failed = job?.files.filter((f) => f.status === 'failed').length ?? 0;
  const running = !u.error && job?.status !== 'done' && job?.status !== 'failed';
  // Files count whole when finished, and by their items embedded while one is being embedded.
  const done = job?.files.reduce((n, f) => n + fileFraction(f), 0) ?? 0;
  const fraction = job ? (job.status === 'queued' ? 0 : total > 0 ? done / total : 0) : u.sent;
  const title = cardTitle(u);
  return (
    <section
      class={`card upload-card${failed || u.error || job?.status === 'failed' ? ' has-errors' : ''}`}
      aria-label={title}
    >
      <header>
        <strong>{title}</strong>
        {!running ? (
          <button
            type="button"
            class="ghost small"
            onClick={props.onDismiss}
            aria-label={`Dismiss: ${title}`}
          >
            Dismiss
          </button>
        ) : null}
      </header>
      {running ? (
        <div
          class={`progress${job?.status === 'queued' ? ' waiting' : ''}`}
          role="progressbar"
          aria-label={title}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(fraction * 100)}
        >
          <div style={{ width: job?.status === 'queued' ? '100%' : `${Math.max(3, fraction * 100)}%` }} />
        </div>
      ) : null}
      {u.error ? <ErrorNote message={u.error.message} hint={u.error.hint} /> : null}
      {job?.error ? <ErrorNote message={job.error.message} hint={job.error.hint} /> : null}
      {job && job.files.length > 0 ? (
        <ul class="file-list">
          {job.files.map((f) => (
            <FileRow key={f.name} file={f} />
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function SourceDetail(props: { source: Source; onClose: () => void; onOpen: (p: Picture) => void }) {
  const [items, setItems] = useState<Item[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setItems(null);
    api
      .items(props.source.id)
      .then((r) => setItems(r.items))
      .catch((e: Error) => setError(e.message));
  }, [props.source.id]);
  const pictures = items?.filter((i) => i.modality === 'image') ?? [];
  const texts = items?.filter((i) => i.modality === 'text') ?? [];
  return (
    <section class="card detail" aria-label={`Items of ${props.source.name}`}>
      <header>
        <div>
          <h2>{baseName(props.source.name)}</h2>
          <div class="muted small">
            {props.source.type.toUpperCase()} · {plural(props.source.textItems, 'passage')} ·{' '}
            {plural(props.source.imageItems, 'picture')} · {formatBytes(props.source.bytes)}
          </div>
        </div>
        <button type="button" class="ghost" onClick={props.onClose}>
          Close
        </button>
      </header>
      {error ? <ErrorNote message={error} /> : null}
      {items === null && !error ? <Spinner label="Loading items" /> : null}
      {pictures.length > 0 ? (
        <>
          <h3>Pictures and frames</h3>
          <div class="thumb-grid">
            {pictures.map((item) => (
              <Thumb
                key={item.id}
                url={item.mediaUrl!}
                caption={item.text}
                title={item.section || item.title}
                detail={formatLocation(item.location)}
                {...(item.location?.start !== undefined
                  ? { badge: <span class="badge">{formatLocation(item.location)}</span> }
                  : {})}
                onOpen={props.onOpen}
              />
            ))}
          </div>
        </>
      ) : null}
      {texts.length > 0 ? (
        <>
          <h3>Text</h3>
          <ol class="chunk-list">
            {texts.map((item) => (
              <li key={item.id}>
                <div class="muted small">
                  {[item.section, formatLocation(item.location)].filter(Boolean).join(' · ') || item.title}
                </div>
                <p>{item.text}</p>
              </li>
            ))}
          </ol>
        </>
      ) : null}
      {items?.length === 0 ? <p class="muted">No text or pictures were found in this file.</p> : null}
    </section>
  );
}

export function LibraryView(props: {
  config: ServerConfig | null;
  sources: Source[] | null;
  reload: () => Promise<void>;
  onOpen: (p: Picture) => void;
}) {
  const uploads = useUploads();
  const [dragging, setDragging] = useState(false);
  const [open, setOpen] = useState<Source | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [error, setError] = useState<{ message: string; hint?: string | undefined } | null>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const limits = props.config?.limits;

  // Jobs still running (from this tab before a view switch or a reload, or from another tab) come back.
  useEffect(() => {
    void resumeJobs();
  }, []);

  const start = (picked: Picked[]) => void startUpload(picked);

  const [url, setUrl] = useState('');
  const addUrl = () => {
    const address = url.trim();
    if (!address) return;
    setUrl('');
    void startUrl(address);
  };

  const fromInput = (input: HTMLInputElement) => {
    const picked = [...(input.files ?? [])].map((file) => ({
      file,
      path: file.webkitRelativePath || file.name,
    }));
    input.value = '';
    start(picked);
  };

  const remove = async (source: Source) => {
    if (
      !window.confirm(
        `Remove ${source.name} and its ${plural(source.items, 'item')} from the knowledge base?`,
      )
    )
      return;
    setDeleting(source.id);
    setError(null);
    try {
      await api.deleteSource(source.id);
      if (open?.id === source.id) setOpen(null);
      await props.reload();
    } catch (err) {
      const e = err as { message: string; hint?: string };
      setError({ message: e.message, hint: e.hint });
    } finally {
      setDeleting(null);
    }
  };

  return (
    <div class="library-view">
      {/* biome-ignore lint/a11y/noStaticElementInteractions: a drop target; the buttons inside are the keyboard way in */}
      <div
        class={`dropzone${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          if (e.dataTransfer) void droppedFiles(e.dataTransfer).then(start);
        }}
      >
        <div class="dropzone-icon" aria-hidden="true">
          ⇪
        </div>
        <p>
          <strong>Drop files or folders here</strong>
        </p>
        <p class="muted small">
          Web pages saved with their pictures, PDFs, Word, PowerPoint, Excel, CSV, Markdown, pictures, audio
          and video.
          {limits
            ? ` Up to ${limits.maxUploadFiles} files and ${formatBytes(limits.maxUploadBytes)} at a time.`
            : ''}
        </p>
        <div class="row">
          <button type="button" class="primary" onClick={() => filesInput.current?.click()}>
            Choose files
          </button>
          <button type="button" class="secondary" onClick={() => folderInput.current?.click()}>
            Choose a folder
          </button>
        </div>
        <input
          ref={filesInput}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => fromInput(e.currentTarget)}
        />
        <input
          ref={folderInput}
          type="file"
          hidden
          data-testid="folder-input"
          {...{ webkitdirectory: true, directory: true }}
          onChange={(e) => fromInput(e.currentTarget)}
        />
      </div>

      {props.config?.urlIngest !== false ? (
        <form
          class="url-form"
          onSubmit={(e) => {
            e.preventDefault();
            addUrl();
          }}
        >
          <label for="ingest-url">Add a web page by its address</label>
          <div class="url-row">
            <input
              id="ingest-url"
              type="url"
              inputMode="url"
              spellcheck={false}
              placeholder="https://example.org/article.html"
              value={url}
              onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
            />
            <button type="submit" class="secondary" disabled={!/^https?:\/\/\S+/i.test(url.trim())}>
              Add page
            </button>
          </div>
          <p class="muted small">
            The server fetches the page and its pictures; addresses on this machine or the local network are
            refused unless the server allows them (<code>ingest.allowPrivateNetwork</code>).
          </p>
        </form>
      ) : null}

      {uploads.map((u) => (
        <UploadCard key={u.key} upload={u} onDismiss={() => dismiss(u.key)} />
      ))}

      {error ? <ErrorNote message={error.message} hint={error.hint} /> : null}

      {open ? <SourceDetail source={open} onClose={() => setOpen(null)} onOpen={props.onOpen} /> : null}

      <section class="card">
        <header>
          <h2>Sources</h2>
          {props.sources ? (
            <span class="muted small">
              {plural(props.sources.length, 'file')} ·{' '}
              {plural(
                props.sources.reduce((n, s) => n + s.items, 0),
                'item',
              )}
            </span>
          ) : null}
        </header>
        {props.sources === null ? (
          <Spinner label="Loading sources" />
        ) : props.sources.length === 0 ? (
          <EmptyState icon="⇪" title="Nothing here yet">
            <p>
              Drop files above to add them. Each file is read, its text split into passages and its pictures
              kept.
            </p>
          </EmptyState>
        ) : (
          <div class="table-wrap">
            <table class="sources-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col" class="num-col">
                    Items
                  </th>
                  <th scope="col">Added</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {props.sources.map((s) => (
                  <tr key={s.id} class={open?.id === s.id ? 'selected' : ''}>
                    <td class="name-cell">
                      <button type="button" class="link" onClick={() => setOpen(s)} title={s.source}>
                        {s.name}
                      </button>
                    </td>
                    <td>
                      <span class="type-pill">{s.type}</span>
                    </td>
                    <td
                      class="num-col"
                      title={`${plural(s.textItems, 'passage')}, ${plural(s.imageItems, 'picture')}`}
                    >
                      {s.textItems.toLocaleString()} <span class="muted">text</span> ·{' '}
                      {s.imageItems.toLocaleString()} <span class="muted">pic</span>
                    </td>
                    <td class="muted">{formatDate(s.ingestedAt)}</td>
                    <td class="actions">
                      <button type="button" class="ghost small" onClick={() => setOpen(s)}>
                        Open
                      </button>
                      <button
                        type="button"
                        class="danger small"
                        disabled={deleting === s.id}
                        onClick={() => void remove(s)}
                        aria-label={`Delete ${s.name}`}
                      >
                        {deleting === s.id ? 'Deleting…' : 'Delete'}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
