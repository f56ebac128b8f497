import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { z } from 'zod';
import type { Job, JobError, JobFile, JobSummary } from '../../jobs/queue.js';
import {
  type errorDetailSchema,
  jobEventSchema,
  type jobFileSchema,
  jobIdParams,
  jobSchema,
  type jobSummarySchema,
  jobsSchema,
} from '../contract.js';
import { httpError } from '../http-errors.js';
import { sseResponse } from '../sse.js';
import { errorResponses, json, type RouteContext, routeGroup, wantsEventStream } from './context.js';

// The job layer defines the job shapes (src/jobs/queue.ts); the contract describes them on the wire. These types
// fail to compile when the two differ in any field, in either direction.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export type JobShapesAgree = [
  Same<Job, z.infer<typeof jobSchema>>,
  Same<JobFile, z.infer<typeof jobFileSchema>>,
  Same<JobError, z.infer<typeof errorDetailSchema>>,
  Same<JobSummary, z.infer<typeof jobSummarySchema>>,
];
export const jobShapesAgree: JobShapesAgree = [true, true, true, true];

const noSuchJob = (id: string) =>
  httpError('not_found', `No job ${id} (jobs are kept in memory until the server stops).`);

const eventStream = { 'text/event-stream': { schema: jobEventSchema } };

const list = createRoute({
  method: 'get',
  path: '/api/jobs',
  tags: ['jobs'],
  operationId: 'listJobs',
  summary: 'Ingest jobs since the server started, newest first',
  responses: { 200: json(jobsSchema, 'the jobs'), ...errorResponses() },
});

const one = createRoute({
  method: 'get',
  path: '/api/jobs/{id}',
  tags: ['jobs'],
  operationId: 'getJob',
  summary: 'One job: status and per-file progress (with Accept: text/event-stream, its live progress)',
  request: { params: jobIdParams },
  responses: {
    200: {
      description: 'the job, or with Accept: text/event-stream the events of /api/jobs/{id}/events',
      content: { 'application/json': { schema: jobSchema }, ...eventStream },
    },
    ...errorResponses({ 404: 'No such job.' }),
  },
});

const events = createRoute({
  method: 'get',
  path: '/api/jobs/{id}/events',
  tags: ['jobs'],
  operationId: 'jobEvents',
  summary: 'Live progress of one job as Server-Sent Events',
  request: { params: jobIdParams },
  responses: {
    200: {
      description: '`job`, then `file` per file started or finished, then `done`',
      content: eventStream,
    },
    ...errorResponses({ 404: 'No such job.' }),
  },
});

/** Ingest jobs: the list, one job, and one job's live progress. */
export function jobRoutes(ctx: RouteContext) {
  const { jobs } = ctx;

  const jobEvents = async (c: Context, id: string) => {
    const job = await jobs.get(id);
    if (!job) throw noSuchJob(id);
    return sseResponse(async (send, signal) => {
      const finished = job.status === 'done' || job.status === 'failed';
      send('job', JSON.stringify(job));
      if (finished) {
        send('done', JSON.stringify(job));
        return;
      }
      await new Promise<void>((resolveDone) => {
        const stop = jobs.subscribe(id, (event) => {
          if (event.type === 'file') send('file', JSON.stringify({ index: event.index, file: event.file }));
          else send(event.type, JSON.stringify(event.job));
          if (event.type === 'done') {
            stop();
            resolveDone();
          }
        });
        signal.addEventListener('abort', () => {
          stop();
          resolveDone();
        });
      });
    }, c.req.raw.signal);
  };

  return routeGroup()
    .openapi(list, async (c) => c.json({ jobs: await jobs.list() }, 200))
    .openapi(one, async (c) => {
      const { id } = c.req.valid('param');
      if (wantsEventStream(c)) return jobEvents(c, id);
      const job = await jobs.get(id);
      if (!job) throw noSuchJob(id);
      return c.json(job, 200);
    })
    .openapi(events, (c) => jobEvents(c, c.req.valid('param').id));
}
