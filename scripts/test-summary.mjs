// Prints "tests: N passed, N failed[, N skipped]" from vitest's JSON report (the line CI reads)
// and exits non-zero unless the run really passed: any failed test, any test file that failed
// without running its tests (an import or setup error counts as one failure), or no test at all.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  console.log('tests: 0 passed, 1 failed');
  console.error(`no readable vitest report at ${file} (the run died before reporting): ${error.message}`);
  process.exit(1);
}
const count = (name) => (Number.isInteger(report[name]) ? report[name] : 0);
const passed = count('numPassedTests');
// A file that failed to load reports no failed test; count each such file once.
const brokenFiles = (report.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'));
const failed = count('numFailedTests') + brokenFiles.length;
const skipped = count('numPendingTests') + count('numTodoTests');
console.log(`tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
for (const f of brokenFiles) console.error(`failed to run: ${f.name}: ${String(f.message ?? '').split('\n')[0]}`);
if (failed > 0 || report.success === false) process.exit(1);
if (passed === 0) {
  console.error('no test ran');
  process.exit(3);
}
