/**
 * A PlatformHost for the device tests: a clock the test moves, 1 MiB of guest memory the VMM maps
 * (everything above it unmapped, as TD-private memory would be), and a record of traces and resets.
 */
import type { ArgValue, Layer } from '../../core/trace';
import { defaultDevices } from './catalogue';
import { Platform, type PlatformConfig, type PlatformHost } from './platform';

export interface TestHost extends PlatformHost {
  t: number;
  memory: Uint8Array;
  traces: { layer: Layer; name: string; args: Record<string, ArgValue>; text: string }[];
  resets: string[];
  powerOffs: string[];
}

export const TEST_MEMORY = 0x100000;

export function testHost(): TestHost {
  const h: TestHost = {
    t: 0,
    memory: new Uint8Array(TEST_MEMORY),
    traces: [],
    resets: [],
    powerOffs: [],
    trace: (layer, name, args, text) => { h.traces.push({ layer, name, args, text }); },
    now: () => h.t,
    readGuest: (gpa, len) => (gpa + len <= TEST_MEMORY ? h.memory.slice(gpa, gpa + len) : null),
    writeGuest: (gpa, bytes) => {
      if (gpa + bytes.length > TEST_MEMORY) return false;
      h.memory.set(bytes, gpa);
      return true;
    },
    requestReset: (why) => { h.resets.push(why); },
    requestPowerOff: (why) => { h.powerOffs.push(why); },
  };
  return h;
}

/** An ordinary q35 VM with 2 GiB, or (td: true) a TD as upstream QEMU builds it, with overrides. */
export function platform(o: Partial<PlatformConfig> & { td?: boolean } = {}, host = testHost()): { p: Platform; host: TestHost } {
  const td = o.td ?? false;
  const config: PlatformConfig = {
    devices: defaultDevices(td ? 'td' : 'q35'),
    irqchip: td ? 'split' : 'kernel',
    mode: 'upstream',
    td,
    memory: { below4g: 2 * 2 ** 30, above4g: 0 },
    fwCfgFiles: new Map(),
    ...o,
  };
  return { p: new Platform(config, host), host };
}
