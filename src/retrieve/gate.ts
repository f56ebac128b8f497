import { createHash } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { Answerability, Level } from '../types.js';
import { embedQuery, type QueryModels } from './query.js';
import { bestEvidence, type QueryEvidence, type QueryForms, type SearchPlan } from './search.js';

/**
 * Questions about things a knowledge base is unlikely to hold, from many fields, plus word salad. Asked of a
 * knowledge base, the scores they get are what "unrelated" looks like there, with that embedding model: the
 * floor a real question must clear. A few of them may well be related to some corpus (a chemistry library and the
 * boiling point of mercury): the floor is a robust statistic, so a few related probes do not move it.
 */
export const PROBE_QUESTIONS: readonly string[] = [
  'What is the boiling point of mercury in kelvin?',
  'Who won the football world cup in 1974?',
  'How many moons does Neptune have?',
  'What is the capital city of Mongolia?',
  'When was the printing press invented?',
  'How do you bake sourdough bread at home?',
  'What is the airspeed of a migrating swallow?',
  'Which composer wrote the Goldberg Variations?',
  'What is the tax rate on capital gains in Norway?',
  'How does a diesel engine start in cold weather?',
  'What are the symptoms of vitamin B12 deficiency?',
  'Who painted the ceiling of the Sistine Chapel?',
  'What is the population of Lagos in 2020?',
  'How long does it take to learn Japanese?',
  'What does the Krebs cycle produce?',
  'Which programming language has the borrow checker?',
  'What is the best fertilizer for tomato plants?',
  'How tall is the tallest tree in California?',
  'What is the plot of the novel Moby Dick?',
  'When did the Byzantine empire fall?',
  'How is cheese made from milk?',
  'What is the rule for the offside position in hockey?',
  'Which river flows through Baghdad?',
  'What is the half-life of carbon-14?',
  'How do you replace a bicycle chain?',
  'What is the exchange rate between the yen and the peso?',
  'Who discovered penicillin and when?',
  'What are the rules of the game of cricket?',
  'How do bees communicate the location of flowers?',
  'What is the melting temperature of tungsten?',
  'quantum marmalade violin harbour seventeen',
  'zeppelin orthography cinnamon ledger',
  'purple elephant accounting spreadsheet tuesday',
  'the the of and to in',
  'xq zvbt plorg wemf',
  'Tell me about the history of the saxophone.',
  'How many bones are in the human hand?',
  'What is the speed of sound in water?',
  'Which planet has the longest day?',
  'How do you say thank you in Finnish?',
];

/** Words a full-text index ignores: they say nothing about what a question is about. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between ' +
    'both but by can could did do does doing down during each few for from further had has have having he her ' +
    'here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not ' +
    'now of off on once only or other our ours ourselves out over own same she should so some such than that the ' +
    'their theirs them themselves then there these they this those through to too under until up very was we ' +
    'were what when where which while who whom why will with would you your yours yourself yourselves tell much ' +
    'many'
  ).split(' '),
);

/** The words of a query that carry its meaning: lower-cased, stopwords left out, each once. */
export function contentTerms(text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words.filter((w) => !STOPWORDS.has(w)))];
}

/**
 * Evidence comparable between a one-word query and a long question: a BM25 score sums over the query's matching
 * words, so a ten-word question that brushes against a corpus in two common words can outscore a single rare word
 * that names exactly one document. Divided by the number of the query's content words, BM25 measures how much of
 * the question the best match covers, weighted by how rare the covered words are.
 */
export function perTermEvidence(evidence: QueryEvidence, text: string): QueryEvidence {
  const terms = Math.max(1, contentTerms(text).length);
  const scale = (side: { vector?: number; bm25?: number }) =>
    side.bm25 === undefined ? side : { ...side, bm25: side.bm25 / terms };
  return { text: scale(evidence.text), image: scale(evidence.image) };
}

/** Per modality and signal, the score a question must exceed to count as evidence. */
export type GateFloors = Answerability['floors'];

export type { Answerability };

/** A cosine floor is at least this far above the probes' median: identical probe scores leave no spread. */
const MIN_VECTOR_MARGIN = 0.02;
/** How many robust standard deviations (MAD * 1.4826) above the probes' median a floor sits. */
const SPREAD = 3;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/**
 * The floor for one signal from the probes' values: the highest of the probes' 90th percentile and their median
 * plus three robust standard deviations (and, for cosines, a small margin). Robust: a few probes that happen to
 * be related to the corpus raise neither the median nor the MAD much. A signal no probe produced (no BM25 match
 * anywhere) gets floor 0: any match at all is evidence.
 */
export function floorOf(values: readonly number[], kind: 'vector' | 'bm25'): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return kind === 'vector' ? 1 : 0;
  const median = quantile(sorted, 0.5);
  const mad =
    quantile(
      sorted.map((v) => Math.abs(v - median)).sort((a, b) => a - b),
      0.5,
    ) * 1.4826;
  const margin = kind === 'vector' ? MIN_VECTOR_MARGIN : 0;
  return Math.max(quantile(sorted, 0.9), median + SPREAD * mad, median + margin);
}

/** Floors from the evidence the probe questions got; a probe with no BM25 match counts as a score of 0. */
export function floorsFromProbes(probes: readonly QueryEvidence[]): GateFloors {
  const signal = (modality: 'text' | 'image', kind: 'vector' | 'bm25') =>
    floorOf(
      probes.flatMap((p) => {
        const value = p[modality][kind];
        if (value !== undefined) return [value];
        return kind === 'bm25' ? [0] : [];
      }),
      kind,
    );
  return {
    text: { vector: signal('text', 'vector'), bm25: signal('text', 'bm25') },
    image: { vector: signal('image', 'vector'), bm25: signal('image', 'bm25') },
    probes: probes.length,
  };
}

/**
 * A question is answerable when any of its evidence clears its floor: a text or a picture closer to it than what
 * unrelated questions get (vector), or its words matching better than unrelated questions' words do (BM25: the
 * rare word, name or part number an embedding model may not know). Pure.
 */
export function judgeAnswerability(evidence: QueryEvidence, floors: GateFloors): Answerability {
  const because: Answerability['because'] = [];
  for (const modality of ['text', 'image'] as const) {
    for (const kind of ['vector', 'bm25'] as const) {
      const value = evidence[modality][kind];
      if (value !== undefined && value > floors[modality][kind]) because.push(`${modality}.${kind}`);
    }
  }
  return { answerable: because.length > 0, because, evidence, floors };
}

/** What calibrating the gate needs: the store (sources, items, a place to keep floors) and the models. */
export interface GateDependencies {
  store: Store;
  /** The embedding models in use (floors of one model mean nothing for another). */
  models: QueryModels & { embedModel: string; textModel: string | undefined };
  /** The search plan of a question at a level (the probes are searched the same way, without a filter). */
  plan: (level: Level) => Promise<SearchPlan>;
}

interface StoredCalibration {
  version: 2;
  /** Floors by calibration key (models, level and the live sources' versions). */
  floors: Record<string, GateFloors & { createdAt: string }>;
}

const CALIBRATION_FILE = 'gate.json';
/** Calibrations kept at once (one per level in use, across a few recent versions of the corpus). */
const KEEP = 6;

/**
 * The answerability gate of one knowledge base. Its floors come from the knowledge base itself: the probe
 * questions are searched in it, and what they score is the floor. Computed on the first question after the
 * corpus changes (about one embedding batch and two top-1 searches per probe), kept with the knowledge base
 * (`gate.json`), and reused until a source is added, changed or removed.
 */
export class AnswerabilityGate {
  private readonly pending = new Map<string, Promise<GateFloors>>();

  constructor(private readonly deps: GateDependencies) {}

  /** The floors for questions at this level, calibrated when the corpus has changed since the last time. */
  async floors(level: Level): Promise<GateFloors> {
    const key = await this.calibrationKey(level);
    let floors = this.pending.get(key);
    if (!floors) {
      floors = this.loadOrCalibrate(key, level);
      this.pending.set(key, floors);
      floors.catch(() => this.pending.delete(key));
    }
    return floors;
  }

  /** Whether the documents can answer a query (its forms, as the plan searched them). */
  async judge(query: QueryForms, plan: SearchPlan): Promise<Answerability> {
    const evidence = perTermEvidence(await bestEvidence(this.deps.store, query, plan), query.text ?? '');
    return judgeAnswerability(evidence, await this.floors(plan.level));
  }

  private async calibrationKey(level: Level): Promise<string> {
    const versions = (await this.deps.store.listSources()).map((s) => `${s.source}\n${s.version}`).sort();
    return createHash('sha256')
      .update(
        `${this.deps.models.embedModel}\n${this.deps.models.textModel}\n${level}\n${versions.join('\n')}`,
      )
      .digest('hex')
      .slice(0, 32);
  }

  private async loadOrCalibrate(key: string, level: Level): Promise<GateFloors> {
    const stored = await this.readStored();
    const known = stored.floors[key];
    if (known) return known;
    const { store, models } = this.deps;
    const plan = { ...(await this.deps.plan(level)), where: undefined };
    const evidence: QueryEvidence[] = [];
    for (const probe of PROBE_QUESTIONS) {
      const forms = await embedQuery({ text: probe }, level, models, 0);
      evidence.push(perTermEvidence(await bestEvidence(store, forms, plan), probe));
    }
    const floors = floorsFromProbes(evidence);
    const latest = await this.readStored();
    const kept = Object.entries(latest.floors)
      .sort(([, a], [, b]) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, KEEP - 1);
    const next: StoredCalibration = {
      version: 2,
      floors: { ...Object.fromEntries(kept), [key]: { ...floors, createdAt: new Date().toISOString() } },
    };
    await this.deps.store.writeText(CALIBRATION_FILE, `${JSON.stringify(next, null, 1)}\n`);
    return floors;
  }

  private async readStored(): Promise<StoredCalibration> {
    const text = await this.deps.store.readText(CALIBRATION_FILE);
    if (!text) return { version: 2, floors: {} };
    try {
      const parsed = JSON.parse(text) as StoredCalibration;
      return parsed.version === 2 && parsed.floors ? parsed : { version: 2, floors: {} };
    } catch {
      // A damaged (or older) calibration is recomputed, never fatal.
      return { version: 2, floors: {} };
    }
  }
}
