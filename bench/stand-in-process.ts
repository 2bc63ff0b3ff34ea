/**
 * Runs the MongoDB and Qdrant stand-ins in a process of their own, as real
 * servers would be: a row that measures our layers then does not also count
 * the servers' work on its own event loop. Prints one JSON line with the URLs,
 * and stops when its stdin closes (the parent ended) or on SIGTERM.
 */
import { MongoStandIn } from '../src/testing/mongo-stand-in.js';
import { QdrantStandIn } from '../src/testing/qdrant-stand-in.js';

const [mongo, qdrant] = await Promise.all([MongoStandIn.start({ replicaSet: 'rs0' }), QdrantStandIn.start()]);
let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= Promise.allSettled([mongo.stop(), qdrant.stop()]).then(() => process.exit(0));
  return stopping;
};
process.once('SIGTERM', () => void stop());
process.stdin.once('end', () => void stop());
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ mongo: mongo.uri, qdrant: qdrant.url })}\n`);
