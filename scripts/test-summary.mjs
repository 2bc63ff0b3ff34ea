// Prints "tests: N passed, N failed" from vitest's JSON report (the line CI reads).
// Exits 3 when the report says no test ran, so "ran no test" can never look green.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  console.log('tests: 0 passed, 0 failed');
  console.error(`no readable vitest report at ${file}: ${error.message}`);
  process.exit(1);
}
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed`);
if (report.numTotalTests === 0) process.exit(3);
