import type { Location } from './types.js';

/** Seconds as m:ss, or h:mm:ss from one hour on (fractions dropped; negative or non-finite as 0:00). */
export function formatTime(seconds: number): string {
  const total = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** A time range: `0:42-1:05`. */
export function formatTimeRange(start: number, end: number): string {
  return `${formatTime(start)}-${formatTime(end)}`;
}

/** `page 4`, `slide 2`, `sheet Sales, rows 2-9`, `1:05-1:20` (or `at 1:05`), joined with `, `; '' when empty. */
export function formatLocation(location: Location | undefined): string {
  if (!location) return '';
  const parts: string[] = [];
  if (location.page !== undefined) parts.push(`page ${location.page}`);
  if (location.slide !== undefined) parts.push(`slide ${location.slide}`);
  if (location.sheet !== undefined) parts.push(`sheet ${location.sheet}`);
  if (location.rows !== undefined) {
    const [first, last] = location.rows;
    parts.push(first === last ? `row ${first}` : `rows ${first}-${last}`);
  }
  if (location.start !== undefined) {
    parts.push(
      location.end !== undefined && location.end > location.start
        ? formatTimeRange(location.start, location.end)
        : `at ${formatTime(location.start)}`,
    );
  }
  return parts.join(', ');
}
