// The layers of src/ (docs/architecture.md), enforced in CI by `npm run lint:layers`. Imports run one way:
//   cli, server, mcp -> eval, tune -> kb.ts -> ingest, retrieve, generate, jobs -> enrich, embed, store
//   -> media, vector -> config.ts, errors.ts, redact.ts, types.ts, location.ts, text-form.ts
// Nothing imports upward and nothing forms a cycle. test/layers.test.ts runs these rules on a fixture tree that
// breaks each of them once, so a rule that stops firing fails the build too.

const LEAF = '^src/(config|errors|redact|types|location|text-form)\\.ts$';
const above = (...folders) => `^src/(${folders.join('|')})(/|\\.ts$)`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle ties modules together so that none can be changed or loaded alone.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'vector-is-a-leaf',
      severity: 'error',
      comment: 'src/vector/ (dot products, top-k, softmax) imports nothing of ours.',
      from: { path: '^src/vector/' },
      to: { path: '^src/', pathNot: '^src/vector/' },
    },
    {
      name: 'shared-leaves-stay-leaves',
      severity: 'error',
      comment:
        'config, errors, redact, types, location and text-form are imported by everyone: they import only each other.',
      from: { path: LEAF },
      to: { path: '^src/', pathNot: LEAF },
    },
    {
      name: 'media-below-everything-but-leaves',
      severity: 'error',
      comment: 'src/media/ decodes pictures, audio and video for every layer above it.',
      from: { path: '^src/media/' },
      to: { path: '^src/', pathNot: `^src/media/|${LEAF}|^src/vector/` },
    },
    {
      name: 'parts-never-import-the-layers-above',
      severity: 'error',
      comment:
        'enrich, embed and store are parts that the pipelines compose; they do not know the pipelines.',
      from: { path: '^src/(enrich|embed|store)/' },
      to: {
        path: above(
          'ingest',
          'retrieve',
          'generate',
          'jobs',
          'kb',
          'index',
          'eval',
          'tune',
          'server',
          'cli',
          'mcp',
        ),
      },
    },
    {
      name: 'pipelines-never-import-the-facade-or-the-edges',
      severity: 'error',
      comment: 'ingest, retrieve, generate and jobs are composed by kb.ts; they never reach back up to it.',
      from: { path: '^src/(ingest|retrieve|generate|jobs)/' },
      to: { path: above('kb', 'index', 'eval', 'tune', 'server', 'cli', 'mcp') },
    },
    {
      name: 'facade-never-imports-the-edges',
      severity: 'error',
      comment: 'kb.ts is used by the CLI, the server, MCP and library users: it knows none of them.',
      from: { path: '^src/(kb|index)\\.ts$' },
      to: { path: above('eval', 'tune', 'server', 'cli', 'mcp') },
    },
    {
      name: 'evaluation-and-tuning-never-import-the-edges',
      severity: 'error',
      from: { path: '^src/(eval|tune)/' },
      to: { path: above('server', 'cli', 'mcp') },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-the-cli-imports-the-server',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|server)/' },
      to: { path: '^src/server/' },
    },
    {
      name: 'mcp-is-imported-by-the-cli-and-the-server-only',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|server|mcp)/' },
      to: { path: '^src/mcp/' },
    },
    {
      name: 'mcp-does-not-import-the-server',
      severity: 'error',
      from: { path: '^src/mcp/' },
      to: { path: '^src/server/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type that flows upward is a dependency that flows upward.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|dist|web/dist)' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
