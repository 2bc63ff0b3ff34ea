#!/usr/bin/env node
// Plain JavaScript that any Node can parse, so an old Node gets one clear line instead of a stack trace.
var major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    'platform-data needs Node.js >= 24 (this is ' +
      process.version +
      '). ' +
      "Run it through npm so the project's own Node 24 is used: `npx platform-data ...` or `npm start`.\n",
  );
  process.exit(1);
}
import('../dist/cli/main.js').then(
  function (m) {
    return m.main(process.argv);
  },
  function (error) {
    if (error && error.code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write('platform-data is not built: run `npm install` (or `npm run build`) first.\n');
      process.exit(1);
    }
    throw error;
  },
);
