// Uploads and their jobs, kept outside the Library view: switching views (or reloading the page) does not lose
// them. A card is an upload still being sent, or a job the server reports (GET /api/jobs) and follows by its events.
import { useEffect, useState } from 'preact/hooks';
import { api, followJob, type Job, type JobFile, type JobFileProgress, upload } from './api';

export interface Picked {
  file: File;
  path: string;
}

export interface UploadCard {
  key: string;
  label: string;
  /** Bytes sent so far, 0-1 (an upload); a web page by address has nothing to send. */
  sent: number;
  fetching?: boolean;
  job?: Job;
  error?: { message: string; hint?: string | undefined };
}

let cards: UploadCard[] = [];
const listeners = new Set<(cards: UploadCard[]) => void>();
const followed = new Set<string>();
let onFinished: () => void = () => {};

/** Jobs this tab started or showed, and the ones dismissed: a finished job is shown again after a reload until dismissed. */
const SHOWN_KEY = 'mmrag.jobs.shown';
const DISMISSED_KEY = 'mmrag.jobs.dismissed';

function idsOf(key: string): Set<string> {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(key) ?? '[]') as string[]);
  } catch {
    return new Set();
  }
}
function remember(key: string, id: string): void {
  const ids = idsOf(key);
  ids.add(id);
  sessionStorage.setItem(key, JSON.stringify([...ids].slice(-100)));
}

function publish(next: UploadCard[]): void {
  cards = next;
  for (const listener of listeners) listener(cards);
}

function patch(key: string, change: Partial<UploadCard> | ((card: UploadCard) => Partial<UploadCard>)): void {
  publish(
    cards.map((c) => (c.key === key ? { ...c, ...(typeof change === 'function' ? change(c) : change) } : c)),
  );
}

/** Called whenever a job ends (the sources changed): the app refreshes its list. */
export function whenJobFinished(handler: () => void): void {
  onFinished = handler;
}

/** The cards, updated as uploads and jobs progress. */
export function useUploads(): UploadCard[] {
  const [state, setState] = useState(cards);
  useEffect(() => {
    listeners.add(setState);
    setState(cards);
    return () => {
      listeners.delete(setState);
    };
  }, []);
  return state;
}

export function dismiss(key: string): void {
  const card = cards.find((c) => c.key === key);
  if (card?.job) remember(DISMISSED_KEY, card.job.id);
  publish(cards.filter((c) => c.key !== key));
}

/** Follow a job's events into its card until it is done. */
async function follow(key: string, id: string): Promise<void> {
  if (followed.has(id)) return;
  followed.add(id);
  remember(SHOWN_KEY, id);
  try {
    await followJob(id, (m) => {
      if (m.event === 'job' || m.event === 'done') patch(key, { job: JSON.parse(m.data) as Job });
      else if (m.event === 'file') {
        const { index, file } = JSON.parse(m.data) as JobFileProgress;
        patch(key, (card) => {
          if (!card.job) return {};
          const files: JobFile[] = [...card.job.files];
          files[index] = file;
          return { job: { ...card.job, files } };
        });
      }
    });
  } catch (err) {
    const e = err as { message: string; hint?: string };
    patch(key, { error: { message: e.message, hint: e.hint } });
  } finally {
    followed.delete(id);
    onFinished();
  }
}

/** Send files (each named by its path), then follow the job the server makes of them. */
export async function startUpload(picked: Picked[]): Promise<void> {
  if (picked.length === 0) return;
  const key = `upload-${Date.now()}-${Math.random()}`;
  const label = picked.length === 1 ? picked[0]!.path : `${picked.length} files`;
  publish([{ key, label, sent: 0 }, ...cards]);
  try {
    const { id } = await upload(picked, (sent) => patch(key, { sent }));
    // A view switched meanwhile may already show this job, rebuilt from the server's list: keep that card.
    if (cards.some((c) => c.key !== key && c.job?.id === id)) {
      publish(cards.filter((c) => c.key !== key));
      return;
    }
    patch(key, { sent: 1 });
    await follow(key, id);
  } catch (err) {
    const e = err as { message: string; hint?: string };
    patch(key, { error: { message: e.message, hint: e.hint } });
  }
}

/** Have the server fetch a web page, and follow the job. */
export async function startUrl(address: string): Promise<void> {
  const key = `url-${Date.now()}-${Math.random()}`;
  publish([{ key, label: address, sent: 1, fetching: true }, ...cards]);
  try {
    const { id } = await api.ingestUrls([address]);
    await follow(key, id);
  } catch (err) {
    const e = err as { message: string; hint?: string };
    patch(key, { error: { message: e.message, hint: e.hint } });
  }
}

/**
 * Rebuild the cards from the server's jobs: every job still queued or running (from this tab or another), and
 * the finished ones this tab showed and nobody dismissed. Unfinished ones are followed to the end.
 */
export async function resumeJobs(): Promise<void> {
  let jobs: Job[];
  try {
    jobs = await api.jobs();
  } catch {
    return;
  }
  const shown = idsOf(SHOWN_KEY);
  const dismissed = idsOf(DISMISSED_KEY);
  const known = new Set(cards.flatMap((c) => (c.job ? [c.job.id] : [])));
  const added: UploadCard[] = [];
  for (const job of jobs) {
    if (known.has(job.id) || followed.has(job.id) || dismissed.has(job.id)) continue;
    const unfinished = job.status === 'queued' || job.status === 'running';
    if (!unfinished && !shown.has(job.id)) continue;
    added.push({
      key: `job-${job.id}`,
      label: job.label,
      sent: 1,
      fetching: /^https?:\/\//i.test(job.label),
      job,
    });
  }
  if (added.length === 0) return;
  publish(
    [...cards, ...added].sort((a, b) => (b.job?.createdAt ?? Date.now()) - (a.job?.createdAt ?? Date.now())),
  );
  for (const card of added) {
    if (card.job && (card.job.status === 'queued' || card.job.status === 'running'))
      void follow(card.key, card.job.id);
  }
}
