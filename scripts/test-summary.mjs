// Prints "N passed, N failed" from vitest's JSON report, so that a run that executed no test is visible.
import { readFileSync } from 'node:fs';

const path = process.argv[2] ?? 'test-artifacts/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(path, 'utf8'));
} catch (err) {
  console.log(`no test report at ${path} (${err.message})`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const failedSuites = report.testResults.filter(
  (r) => r.status === 'failed' && r.assertionResults.length === 0,
).length;
const skipped = report.numPendingTests + report.numTodoTests;
console.log(
  `${report.numPassedTests} passed, ${report.numFailedTests + failedSuites} failed, ${skipped} skipped`,
);
process.exit(report.numFailedTests + failedSuites > 0 || report.numPassedTests === 0 ? 1 : 0);
