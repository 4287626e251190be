import type { Clock } from '../core/clock';
import type { TraceSink } from '../core/trace';
import { GiB, MiB, PAGE_SIZE, hex } from '../core/units';
import { HostMemory } from './physmem';
import { Process } from './process';

export interface HostConfig {
  name: string;
  memoryBytes: number;
}

/** The result of a privileged host's direct access to a physical range. */
export interface PhysAccess {
  bytes: Uint8Array;
  /** Lines that read as zeros because they belong to a TD (TD-owner bit set, host key used). */
  tdOwnedLines: number;
  /** Lines poisoned by this write (host write over TD-private data). */
  poisonedLines: number;
}

/**
 * One physical machine: its memory, its processes (the VMM among them), the host kernel. The host
 * is privileged: it can read and write any physical frame directly (through the kernel's direct
 * map, /dev/mem, a DMA-capable device). That is the attacker the lessons are about.
 */
export class Host {
  readonly memory: HostMemory;
  readonly processes: Process[] = [];
  private nextPid = 1000;

  constructor(readonly config: HostConfig, readonly clock: Clock, readonly trace: TraceSink) {
    // The host kernel keeps ~1.5% of memory for itself (at least 64 MiB): text, slab, page tables.
    const reserved = Math.max(64 * MiB, Math.min(2 * GiB, Math.floor(config.memoryBytes / 64)));
    this.memory = new HostMemory(config.memoryBytes, reserved);
  }

  get name(): string {
    return this.config.name;
  }

  spawn(name: string): Process {
    const p = new Process(this, this.nextPid++, name);
    this.processes.push(p);
    return p;
  }

  /**
   * Read host physical memory directly. Lines of TD-private frames read as zeros: the access uses
   * the host's key ID, the line's TD-owner bit does not match, and the TDX memory controller returns
   * zeros instead of ciphertext.
   */
  readPhys(hpa: number, len: number): PhysAccess {
    const out = new Uint8Array(len);
    let tdOwnedLines = 0;
    this.walk(hpa, len, (f, off, n, at) => {
      if (this.memory.hkid[f] !== 0) {
        tdOwnedLines += Math.ceil((off + n) / 64) - Math.floor(off / 64);
        return;
      }
      const d = this.memory.peek(f);
      if (d) out.set(d.subarray(off, off + n), at);
    });
    return { bytes: out, tdOwnedLines, poisonedLines: 0 };
  }

  /**
   * Write host physical memory directly. Writing a TD-private line with the host key clears its
   * TD-owner bit and breaks its integrity: the line is poisoned and the TD's next read of it takes a
   * machine check.
   */
  writePhys(hpa: number, bytes: Uint8Array): PhysAccess {
    let poisonedLines = 0;
    this.walk(hpa, bytes.length, (f, off, n, at) => {
      if (this.memory.hkid[f] !== 0) {
        poisonedLines += this.memory.poison(f, off, n);
        return;
      }
      this.memory.bytes(f).set(bytes.subarray(at, at + n), off);
    });
    return { bytes, tdOwnedLines: 0, poisonedLines };
  }

  private walk(hpa: number, len: number, fn: (f: number, off: number, n: number, at: number) => void): void {
    for (let at = 0; at < len; ) {
      const a = hpa + at;
      const f = Math.floor(a / PAGE_SIZE);
      if (f >= this.memory.nframes) throw new RangeError(`host physical address ${hex(a)} is beyond the end of memory`);
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - at);
      fn(f, off, n, at);
      at += n;
    }
  }
}
