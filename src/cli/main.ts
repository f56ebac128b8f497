import { Command, Option } from 'commander';
import type {
  AskFlags,
  DemoFlags,
  DoctorFlags,
  EvalFlags,
  IngestFlags,
  KbFlags,
  McpFlags,
  SearchFlags,
  ServeFlags,
  TuneFlags,
} from './flags.js';

// Only commander is loaded up front: every command imports what it needs when it runs, so --help is instant.

const kbOptions = (cmd: Command) =>
  cmd
    .option('--kb <dir>', 'knowledge base folder (default ./.mmrag, or MMRAG_KB)')
    .option(
      '--embed-model <id|path>',
      'embedding model: a Hugging Face id or a local folder (default: the model the knowledge base was built with, else Xenova/clip-vit-base-patch32)',
    )
    .addOption(
      new Option('--embed-dtype <dtype>', 'model weights precision').choices([
        'fp32',
        'fp16',
        'q8',
        'int8',
        'uint8',
        'q4',
      ]),
    )
    .option(
      '--text-model <id|path>',
      'a dedicated text embedding model for text forms and text-to-text retrieval (default: CLIP)',
    )
    .option('--offline', 'never download models (use the local cache or a local folder)')
    .option('--config <file>', 'JSON config file (default ./mmrag.config.json, or MMRAG_CONFIG)');

const retrievalOptions = (cmd: Command) =>
  cmd
    .option('--image <path>', 'search by a picture (with a query: by both)')
    .option('--text-k <n>', 'text results to keep (default 15)')
    .option('--image-k <n>', 'picture results to keep (default 5)')
    .option('--text-threshold <x>', 'minimum text score (softmax default 0.01; cosine default 0.2)')
    .option('--image-threshold <x>', 'minimum picture score (softmax default 0.25; cosine default 0.2)')
    .option('--text-temperature <x>', 'softmax temperature for text (default 0.25)')
    .option('--image-temperature <x>', 'softmax temperature for pictures (default 0.5)')
    .addOption(
      new Option(
        '--scoring <method>',
        'vector scoring: cosine (default) or softmax (the reference); alone, it selects --mode vector',
      ).choices(['softmax', 'cosine']),
    )
    .addOption(
      new Option(
        '--level <n>',
        '1: text forms only; 2: text forms, pictures to the LLM; 3: CLIP space (default)',
      ).choices(['1', '2', '3']),
    )
    .addOption(
      new Option('--mode <mode>', 'hybrid (default: vector + BM25, fused), vector, or bm25').choices([
        'hybrid',
        'vector',
        'bm25',
      ]),
    )
    .option(
      '--where <filter>',
      'only items matching, e.g. "type = pdf and page >= 3", "source ~ report", "start < 1:30"',
    )
    .option(
      '--diversity <lambda>',
      'MMR in (0, 1]: lower is more diverse (near-duplicate frames stop filling the list)',
    )
    .option('--rerank', 'rerank the candidates with the configured reranker')
    .option('--no-rerank', 'do not rerank, even when a reranker is configured')
    .option('--no-adapter', 'search without the query adapter `mmrag tune` trained (to compare)');
const llmOptions = (cmd: Command) =>
  cmd
    .addOption(
      new Option('--llm <provider>', 'answering model provider (default auto: Ollama if it answers)').choices(
        ['auto', 'ollama', 'openai', 'none'],
      ),
    )
    .option('--llm-url <url>', 'provider URL (Ollama http://127.0.0.1:11434; OpenAI-compatible .../v1)')
    .option('--llm-model <name>', 'model name (Ollama default llama3.2-vision; OpenAI default gpt-4o-mini)');

export function buildProgram(): Command {
  const program = new Command('mmrag')
    .description(
      'Multimodal RAG over your files: ingest pages, PDFs, pictures and more; ask questions answered from text and pictures, with sources.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');

  llmOptions(
    kbOptions(
      program
        .command('ingest')
        .description(
          'add files and folders to the knowledge base (unchanged files are skipped, changed ones replaced)',
        )
        .argument('<paths...>', 'files or folders'),
    ),
  )
    .option('--no-remote', 'do not download remote images referenced by pages')
    .option('--no-ocr', 'do not read text in pictures and scanned pages')
    .option('--caption', 'describe every picture with the multimodal LLM (level 1; uses the --llm settings)')
    .addOption(
      new Option('--transcribe <provider>', 'speech to text for audio and video (default whisper)').choices([
        'whisper',
        'openai',
        'none',
      ]),
    )
    .option('--include <globs...>', 'only files matching these globs (relative to each folder given)')
    .option('--exclude <globs...>', 'leave out files and folders matching these globs')
    .option('--prune', 'remove sources inside the given folders whose files are gone')
    .option('--json', 'one JSON line per file, then a summary line')
    .action(async (paths: string[], flags: IngestFlags) =>
      (await import('./commands.js')).ingestCommand(paths, flags),
    );

  llmOptions(
    retrievalOptions(
      kbOptions(
        program
          .command('search')
          .description('find the text and pictures most related to a query (no LLM)')
          .argument('[query]', 'what to look for'),
      ),
    ),
  )
    .option('--json', 'print {"query", "text": [hit], "images": [hit]}')
    .action(async (query: string | undefined, flags: SearchFlags) =>
      (await import('./commands.js')).searchCommand(query, flags),
    );

  llmOptions(
    retrievalOptions(
      kbOptions(
        program
          .command('ask')
          .description('answer a question from the retrieved text and pictures, with numbered sources')
          .argument('<question>', 'the question'),
      ),
    ),
  )
    .option('--show-prompt', 'print the exact prompt sent to the model, and the pictures attached, by path')
    .option(
      '--no-gate',
      'ask the model even when nothing in the knowledge base is close to the question (default: say so instead)',
    )
    .addOption(
      new Option(
        '--prompt <style>',
        "mmrag (default: numbered sources the answer cites) or reference (the reference pipeline's prompt, exactly)",
      ).choices(['mmrag', 'reference']),
    )
    .option('--json', 'print {"answer", "sources": [hit], "model", "prompt", "attached", ...}')
    .action(async (question: string, flags: AskFlags) =>
      (await import('./commands.js')).askCommand(question, flags),
    );

  kbOptions(program.command('sources').description('list what is in the knowledge base'))
    .option('--json', 'print the sources as JSON')
    .action(async (flags: KbFlags & { json?: boolean }) =>
      (await import('./commands.js')).sourcesCommand(flags),
    );

  kbOptions(
    program
      .command('delete')
      .description('remove a source (a file path as listed by `mmrag sources`) and its items')
      .argument('<source>', 'the source to remove'),
  )
    .option('--json', 'print {"source", "removed"}')
    .action(async (source: string, flags: KbFlags & { json?: boolean }) =>
      (await import('./commands.js')).deleteCommand(source, flags),
    );

  llmOptions(
    program
      .command('demo')
      .description('ingest the bundled sample pages, search them and ask a question (works offline)')
      .option('--kb <dir>', 'where to build the demo knowledge base (default ./.mmrag-demo)')
      .option('--offline', 'do not try to download the default model; use the bundled one'),
  ).action(async (flags: DemoFlags) => (await import('./demo.js')).demoCommand(flags));

  llmOptions(
    kbOptions(
      program
        .command('serve')
        .description('start the web app and HTTP API (http://127.0.0.1:7860 by default)')
        .option(
          '--host <host>',
          'address to listen on (default 127.0.0.1; 0.0.0.0 exposes it to the network)',
        )
        .option('--port <port>', 'port (default 7860)')
        .option(
          '--token <token>',
          'require Authorization: Bearer <token> on every API call but health (or MMRAG_TOKEN)',
        ),
    ),
  ).action(async (flags: ServeFlags) => (await import('./serve.js')).serveCommand(flags));

  llmOptions(
    kbOptions(
      program
        .command('mcp')
        .description(
          'serve the knowledge base to an agent over MCP on stdio (Claude Desktop, Cursor, VS Code)',
        ),
    ),
  ).action(async (flags: McpFlags) => (await import('./mcp.js')).mcpCommand(flags));

  llmOptions(
    kbOptions(
      program.command('doctor').description('check what works on this machine and what to do about the rest'),
    ),
  )
    .option('--json', 'print the checks as JSON')
    .action(async (flags: DoctorFlags) => (await import('./doctor.js')).doctorCommand(flags));

  kbOptions(
    program
      .command('eval')
      .description('measure retrieval on your questions: recall@k, MRR and nDCG@10 per modality and overall')
      .argument('<questions>', 'JSONL file, one {"query", "image"?, "relevant": [...], "grades"?} per line'),
  )
    .option('--k <n>', 'cut-off of recall@k (default 5)')
    .option(
      '--settings <names>',
      'comma-separated settings to compare: default, level1, level2, level3, vector, bm25, hybrid, hybrid+rerank',
    )
    .option(
      '--json',
      'print {"k", "questions", "overall": {"recall@k", "mrr", "ndcg@10"}, "settings": [...]}',
    )
    .action(async (file: string, flags: EvalFlags) => (await import('./eval.js')).evalCommand(file, flags));

  llmOptions(
    kbOptions(
      program
        .command('tune')
        .description(
          'adapt query embeddings to your documents: train a small adapter on pairs from the knowledge base (see docs/tuning.md)',
        ),
    ),
  )
    .option(
      '--pairs <file>',
      'extra training pairs, JSONL: {"query", "item"} or {"query", "relevant": [...]}',
    )
    .option(
      '--eval <file>',
      'an eval questions file: its questions become pairs (held-out ones only measured)',
    )
    .option('--epochs <n>', 'passes over the training pairs at most (default 30; stops early)')
    .option('--synthetic <n>', 'have the LLM write questions for n sampled chunks and pictures (cached)')
    .option('--rank <r>', 'a low-rank adapter W = I + U V^T of rank r (default: a full matrix)')
    .option(
      '--seed <n>',
      'seed of the held-out split and the training (default: the one the adapter in place used, else 1)',
    )
    .option('--reset', 'remove the adapter: searches use the model as it is')
    .option('--json', 'print the report as JSON')
    .action(async (flags: TuneFlags) => (await import('./tune.js')).tuneCommand(flags));

  return program;
}

/**
 * A reader that stops reading (`mmrag sources --json | head -c 10`) closes the pipe: that ends the command quietly,
 * as it ends `cat`, instead of an unhandled EPIPE with a stack trace.
 */
function endQuietlyWhenThePipeCloses(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  endQuietlyWhenThePipeCloses();
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const { reportError } = await import('./open.js');
    process.exitCode = reportError(err);
  }
}
