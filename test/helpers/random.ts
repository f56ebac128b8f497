// Tests and benchmarks use the product's own seeded generator: one implementation, the same sequences.
export { seededRandom } from '../../src/tune/random.js';
