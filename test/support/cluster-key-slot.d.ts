// cluster-key-slot ships no types: the Redis Cluster slot of a key (CRC16-CCITT of the hash tag or key, mod 16384).
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
  export function generateMulti(keys: ReadonlyArray<string | Buffer>): number;
}
