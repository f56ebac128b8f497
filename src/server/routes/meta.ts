import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { redactConfig } from '../../config.js';
import {
  healthSchema,
  type Level,
  openApiDocumentSchema,
  serverConfigSchema,
  statsSchema,
} from '../contract.js';
import { API_VERSION, errorResponses, json, type RouteContext, routeGroup } from './context.js';

const LEVELS: Level[] = [1, 2, 3];

const health = createRoute({
  method: 'get',
  path: '/api/health',
  tags: ['service'],
  operationId: 'health',
  summary: 'Liveness (never needs a token)',
  security: [],
  responses: { 200: json(healthSchema, 'up'), ...errorResponses({}, { open: true }) },
});

const openapi = createRoute({
  method: 'get',
  path: '/api/openapi.json',
  tags: ['service'],
  operationId: 'openapi',
  summary: 'This document',
  responses: { 200: json(openApiDocumentSchema, 'OpenAPI 3.1'), ...errorResponses() },
});

const config = createRoute({
  method: 'get',
  path: '/api/config',
  tags: ['service'],
  operationId: 'config',
  summary: 'The configuration without secrets, the levels and the limits',
  responses: { 200: json(serverConfigSchema, 'the configuration'), ...errorResponses() },
});

const stats = createRoute({
  method: 'get',
  path: '/api/stats',
  tags: ['service'],
  operationId: 'stats',
  summary: 'Counts of sources and items',
  responses: { 200: json(statsSchema, 'the counts'), ...errorResponses() },
});

type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>;

/**
 * The OpenAPI document of every route composed into `root`, generated from their definitions on first request
 * (routes do not change afterwards).
 */
export function describeApi(root: OpenAPIHono): () => OpenApiDocument {
  root.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  root.openAPIRegistry.registerComponent('securitySchemes', 'mediaCookie', {
    type: 'apiKey',
    in: 'cookie',
    name: 'mmrag_media',
    description:
      'a key derived from the token, in an HttpOnly SameSite=Strict cookie set by POST /api/session; accepted by GET /api/media/{id} only',
  });
  let document: OpenApiDocument | undefined;
  return () => {
    document ??= root.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'mmrag HTTP API',
        version: API_VERSION,
        description:
          'Ask your files: upload, search text and pictures, ask a multimodal LLM with sources. With a token, every call but /api/health needs `Authorization: Bearer <token>`.',
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'service', description: 'health, this document, the configuration and counts' },
        { name: 'ingest', description: 'uploads and web pages, ingested by jobs' },
        { name: 'jobs', description: 'ingest jobs and their live progress' },
        { name: 'search', description: 'text and pictures, without a model' },
        { name: 'ask', description: 'answers from a multimodal model, with sources' },
        { name: 'sources', description: 'what the knowledge base holds' },
        { name: 'items', description: 'text chunks and pictures by id' },
      ],
    });
    return document;
  };
}

/** Service routes: health, this API's description, the configuration and the counts. */
export function metaRoutes(ctx: RouteContext, document: () => OpenApiDocument) {
  const { kb } = ctx;
  return routeGroup()
    .openapi(health, (c) => c.json({ status: 'ok' as const, version: API_VERSION }, 200))
    .openapi(openapi, (c) => c.json(document(), 200))
    .openapi(config, (c) =>
      c.json(
        {
          version: API_VERSION,
          config: { ...redactConfig(kb.config), kb: kb.dir },
          embedModel: kb.embedModel,
          levels: LEVELS,
          level: kb.config.search.level,
          mode: kb.config.search.mode,
          rerank: kb.config.search.rerank.provider !== 'none',
          answering: {
            provider: ctx.answering.provider,
            ...(ctx.answering.model ? { model: ctx.answering.model } : {}),
            models: ctx.answering.models,
          },
          tokenRequired: ctx.tokenRequired,
          urlIngest: true,
          limits: ctx.limits,
        },
        200,
      ),
    )
    .openapi(stats, async (c) => c.json(await kb.stats(), 200));
}
