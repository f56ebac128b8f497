import { z } from 'zod';

/*
 * The tools' arguments and results. Argument names are a public contract: agent configurations and prompts are
 * written against them, so they never change (new ones may be added, optional).
 */

const level = z
  .int()
  .min(1, 'level is 1, 2 or 3')
  .max(3, 'level is 1, 2 or 3')
  .describe(
    '1: search the text forms of items (captions, OCR, transcripts) and show the answering model no pictures; 2: search text forms, show the model the pictures found; 3 (default): search text and pictures together in CLIP space.',
  );

const where = z
  .string()
  .max(2000)
  .describe(
    'Only items matching this filter, e.g. "type = pdf and page >= 3", "source ~ report", "type in (pdf, docx)", "start < 1:30". Fields: source, type, section, title, modality, page, slide, sheet, start, end, ingested; operators = != ~ (contains) > >= < <= in; clauses joined with "and".',
  );

export const searchArguments = {
  query: z.string().max(4000).optional().describe('What to look for, in words. Give this, image, or both.'),
  image: z
    .string()
    .max(40_000_000)
    .optional()
    .describe(
      'A picture to search by: a base64 data URL (data:image/png;base64,...), or, when the server runs on your machine (stdio), a file path. Needs level 3.',
    ),
  k: z
    .int()
    .min(1, 'k is at least 1')
    .max(50, 'k is at most 50')
    .optional()
    .describe('Most hits to return per modality (text and pictures); default: 15 text, 5 pictures.'),
  level: level.optional(),
  mode: z
    .enum(['hybrid', 'vector', 'bm25'])
    .optional()
    .describe(
      'hybrid (default): embedding and keyword rankings fused; vector: embeddings only; bm25: keywords only.',
    ),
  where: where.optional(),
};

export const askArguments = {
  question: z.string().min(1, 'question must not be empty').max(4000).describe('The question to answer.'),
  level: level.optional(),
  where: where.optional(),
};

export const ingestArguments = {
  paths: z
    .array(z.string().min(1, 'a path must not be empty').max(4096))
    .min(1, 'paths needs at least one file, folder or URL')
    .max(1000, 'at most 1000 paths per call')
    .describe(
      'Files, folders (walked recursively, honouring .gitignore) or http(s) URLs of web pages. Over HTTP, local paths must lie inside the folders the server allows (mcp.ingestRoots).',
    ),
};

export const getItemArguments = {
  id: z
    .string()
    .regex(/^[0-9a-f]{8,64}$/, 'id is an item id as search returns it (hexadecimal)')
    .describe('An item id, as search, ask or list results give it.'),
};

export const deleteSourceArguments = {
  source: z
    .string()
    .min(1, 'source must not be empty')
    .max(4096)
    .describe('The source to remove, exactly as list_sources shows it (a file path or URL).'),
};

const location = z
  .object({
    page: z.number().optional(),
    slide: z.number().optional(),
    sheet: z.string().optional(),
    rows: z.array(z.number()).optional(),
    start: z.number().optional(),
    end: z.number().optional(),
  })
  .describe('Where inside its source the item sits.');

export const hitSchema = z.object({
  id: z.string(),
  modality: z.enum(['text', 'image']),
  score: z.number().describe('Orders the hits (a fused rank score in hybrid searches).'),
  relevance: z
    .object({ kind: z.enum(['cosine', 'softmax', 'bm25', 'rerank', 'fused']), value: z.number() })
    .optional()
    .describe('The score a person can read, and which retriever gave it.'),
  title: z.string(),
  section: z.string(),
  source: z.string(),
  type: z.string(),
  location: location.optional(),
  /** `page 4`, `sheet Sales, rows 2-9`, `1:05-1:20`. */
  where: z.string().describe('The location as people write it: "page 4", "1:05-1:20".'),
  text: z.string().optional(),
  caption: z.string().optional(),
  description: z.string().optional(),
  media: z
    .string()
    .optional()
    .describe('Picture hits: the mmrag://media/{id} resource of the stored picture.'),
});

export const searchOutput = {
  query: z.string(),
  level: z.number(),
  mode: z.string(),
  text: z.array(hitSchema),
  images: z.array(hitSchema),
};

export const askOutput = {
  question: z.string(),
  answer: z.string().nullable().describe('null when no model answered.'),
  model: z.string().nullable(),
  level: z.number(),
  sources: z
    .array(hitSchema.extend({ number: z.number() }))
    .describe('Numbered as the answer cites them: [n].'),
  citations: z.array(z.number()),
  picturesShown: z.array(z.string()).describe('Ids of the pictures handed to the model.'),
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }).optional(),
};

const outcome = z.object({
  file: z.string(),
  status: z.enum(['ingested', 'unchanged', 'skipped', 'failed']),
  type: z.string().optional(),
  items: z.number(),
  textItems: z.number(),
  imageItems: z.number(),
  warnings: z.array(z.string()),
  reason: z.string().optional(),
});

export const ingestOutput = {
  files: z.number(),
  ingested: z.number(),
  unchanged: z.number(),
  skipped: z.number(),
  failed: z.number(),
  items: z.number(),
  textItems: z.number(),
  imageItems: z.number(),
  seconds: z.number(),
  outcomes: z.array(outcome),
};

export const listSourcesOutput = {
  sources: z.array(
    z.object({
      source: z.string(),
      type: z.string(),
      items: z.number(),
      textItems: z.number(),
      imageItems: z.number(),
      bytes: z.number(),
      ingestedAt: z.string().describe('ISO 8601 time of the last ingest.'),
    }),
  ),
};

export const getItemOutput = {
  item: z.object({
    id: z.string(),
    modality: z.enum(['text', 'image']),
    type: z.string(),
    source: z.string(),
    title: z.string(),
    section: z.string(),
    text: z.string().describe('The chunk (text items) or the caption (pictures).'),
    description: z.string().optional(),
    location: location.optional(),
    where: z.string(),
    media: z.string().optional(),
    ingestedAt: z.string(),
  }),
};

export const deleteSourceOutput = {
  source: z.string(),
  removed: z.number().describe('Items removed.'),
};

export type HitView = z.infer<typeof hitSchema>;
export type IngestView = z.infer<z.ZodObject<typeof ingestOutput>>;
export type ItemView = z.infer<typeof getItemOutput.item>;
