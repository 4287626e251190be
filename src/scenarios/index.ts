import hostReadsSecret from './host-reads-secret.json';
import sharedBuffer from './shared-buffer.json';
import lazyAccept from './lazy-accept.json';
import selftestByHand from './selftest-by-hand.json';

/** The preset lessons, by id. The app and the CLI load the same files. */
export const PRESETS: Record<string, unknown> = {
  'host-reads-secret': hostReadsSecret,
  'shared-buffer': sharedBuffer,
  'lazy-accept': lazyAccept,
  'selftest-by-hand': selftestByHand,
};
