// Which hits the viewer can show, and how their button reads. Kept apart from the viewer itself so that the cards
// (components.tsx) can offer the viewer without importing it.
import type { Hit } from './api';

/** What to open: an item, and what to call it while it loads. */
export interface ViewTarget {
  id: string;
  label: string;
}

export function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/**
 * The button a text hit gets when it has somewhere to be seen: its page or slide ("Show on page 3"), or its time in
 * a recording ("Play at 1:05"); undefined otherwise. Pictures open through their thumbnail.
 */
export function viewAction(hit: Pick<Hit, 'modality' | 'type' | 'location'>): string | undefined {
  const at = hit.location;
  if (!at) return undefined;
  if ((hit.type === 'audio' || hit.type === 'video') && at.start !== undefined)
    return `Play at ${clock(at.start)}`;
  if (hit.modality === 'image') return undefined;
  if (at.page !== undefined && (hit.type === 'pdf' || hit.type === 'page')) return `Show on page ${at.page}`;
  if (at.slide !== undefined && (hit.type === 'pptx' || hit.type === 'page')) return `Show slide ${at.slide}`;
  return undefined;
}

/** Whether a picture hit opens in the viewer (its page, or its recording) rather than as a plain picture. */
export function opensInViewer(hit: Pick<Hit, 'modality' | 'type' | 'location'>): boolean {
  return (
    hit.type === 'page' ||
    ((hit.type === 'video' || hit.type === 'audio') && hit.location?.start !== undefined) ||
    hit.location?.page !== undefined ||
    hit.location?.slide !== undefined
  );
}
