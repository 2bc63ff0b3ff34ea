/**
 * Imported first by every entry point: on a Node older than 24 (slonik 49 and
 * the decorators need it) importing the package fails at once with one message
 * saying what to do, instead of loading and failing later in a driver.
 */
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  throw new Error(
    `platform-data needs Node.js >= 24 (this is ${process.version}): install Node 24 (nvm install 24), or add the node@24 devDependency (npm install --save-dev node@24, approve its install script) so npm scripts and npx use it`,
  );
}
