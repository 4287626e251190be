/**
 * Structure-aware fuzz targets, in process: inputs are made from the grammar of what the lab reads
 * (the scenario's zod schema, the assembler's syntax, the lab URL, an imported file) and then
 * mutated, and each is run the way the lab runs it. Each input ends one of five ways:
 *
 * - refused: the lab said what is wrong and where (a ScenarioError, an assembler error, a URL problem);
 * - ran: it ran to its end;
 * - crashed: any other exception (a TypeError from runner.ts is a bug: a user can type it);
 * - hung: it took more than `hangMs` of CPU time (measured between slices of the run): CPU, not wall
 *   time, so that a run at nice 19 on a busy machine does not call a slow-but-finite input hung;
 * - blew up: a RangeError (an allocation, the stack) or more than `heapBytes` of memory kept.
 *
 * `fuzz()` runs one target with a seed and counts the outcomes; each failure is shrunk (smaller
 * while it fails the same way) and its smallest reproducer kept. npm run fuzz (bench/fuzz.ts) runs
 * every target at volume and writes the reproducers to files; src/fuzz/fuzz.test.ts runs a seeded
 * 2,000 per target in CI. Every reproducer found so far is a unit test (src/fuzz/repro.test.ts).
 */
import { readUrl } from '../app/url';
import { assembleWithDiagnostics } from '../sim/guest/asm';
import { KERNEL_SERVICES } from '../sim/guest/kernel/kernel';
import { ScenarioRun } from '../sim/scenario/runner';
import { DEVICE_NAMES, FLAG_NAMES } from '../sim/scenario/fields';
import { LIMITS, Scenario, ScenarioError } from '../sim/scenario/schema';
import { PRESETS } from '../scenarios';
import { CAPABILITY_NAMES } from '../sim/vmm/migration/params';
import { MIGRATION_STATUSES } from '../sim/vmm/migration/migration';
import { TD_DESIGNS } from '../sim/vmm/migration/td-export';

export type Outcome = 'refused' | 'ran' | 'crashed' | 'hung' | 'blew-up';
export const OUTCOMES: readonly Outcome[] = ['refused', 'ran', 'crashed', 'hung', 'blew-up'];
export const FAILURES: readonly Outcome[] = ['crashed', 'hung', 'blew-up'];

export interface Limits {
  /** CPU time (ms, this process's) an input may take before it counts as hung. */
  hangMs: number;
  /** Memory an input may keep (heap and array buffers) before it counts as blown up. */
  heapBytes: number;
}

/** A small seeded PRNG (mulberry32): the fuzzers must replay from their seed. */
export class Rand {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Strings a careless or malicious user types where a name goes. */
const HOSTILE_WORDS = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'prototype', '', ' ', '\u0000', '\u001b[2J', '\u202e', 'x'.repeat(300), '💥', 'null', 'undefined', 'NaN'];
const NUMBERS = [0, 1, -1, 2, 7, 8, 9, 255, 256, 4095, 4096, 65535, 0x100000, 0x7fffffff, 0xffffffff, 2 ** 32, 2 ** 52, 2 ** 53 - 1, 2 ** 53, 1e21, -1e21, 0.5, -0.0, 1e308];
const SIZES = ['4K', '64K', '1M', '2M', '16M', '64M', '256M', '1G', '4G', '64G', '65G', '1T', '64T', '0x1000', '0x0', '0xfffffffffffff', '-4K', 'lots', '0.3K', '1e3', ' 4 KiB ', '9999999999999999999G'];
const DURATIONS = ['0', '1ns', '50us', '2ms', '1s', '10s', '1e9s', '-1ms', 'soon', 1, 0, 1e15];

/** Instruction budgets: mostly small, so an input runs in milliseconds; sometimes at and past the limits. */
const BUDGETS = [1, 10, 100, 1000, 5000, 20_000, 100_000, LIMITS.wholeStepInstructions, LIMITS.runInstructions, LIMITS.runInstructions + 1, 2 ** 53 - 1, 0, -1, 1.5];

// ---- guest programs from the assembler's grammar ----------------------------------------------

const REGS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r15', 'eax', 'ax', 'al', 'ah', 'r9d', 'r10w', 'r11b', 'spl', 'rip'];
const MNEMONICS = ['mov', 'movzx', 'movsx', 'lea', 'xchg', 'add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp', 'test', 'not', 'neg', 'inc', 'dec', 'shl', 'shr', 'sar', 'imul', 'push', 'pop', 'call', 'ret', 'jmp', 'loop', 'nop', 'pause', 'hlt', 'rdmsr', 'wrmsr', 'cpuid', 'in', 'out', 'tdcall', 'vmcall', 'ud2', 'int3', 'cld', 'je', 'jne', 'jb', 'jae', 'jl', 'jg', 'sete', 'cmovne', 'stosb', 'movsq', 'rep stosb', 'rep movsb'];
const DIRECTIVES = ['db', 'dw', 'dd', 'dq', 'resb', 'resq', 'times', 'align', 'org', 'equ', 'section .text', 'bits 64', 'global _start'];
const SERVICES = [...KERNEL_SERVICES];

function expr(r: Rand, depth = 0): string {
  const atom = () => r.pick([String(r.pick(NUMBERS)), `0x${r.int(0x100000).toString(16)}`, "'a'", '$', '$$', 'label', '.local', 'msg', r.pick(HOSTILE_WORDS.filter((w) => /^\w+$/.test(w)))]);
  if (depth > 3 || r.chance(0.5)) return atom();
  switch (r.int(4)) {
    case 0: return `(${expr(r, depth + 1)})`;
    case 1: return `${r.pick(['-', '~', '+'])}${expr(r, depth + 1)}`;
    default: return `${expr(r, depth + 1)} ${r.pick(['+', '-', '*', '/', '%', '<<', '>>', '&', '|', '^'])} ${expr(r, depth + 1)}`;
  }
}

function operand(r: Rand): string {
  switch (r.int(4)) {
    case 0: return r.pick(REGS);
    case 1: return expr(r);
    case 2: return `${r.pick(['', 'byte ', 'word ', 'dword ', 'qword '])}[${r.pick(REGS)}${r.chance(0.5) ? ` + ${r.pick(REGS)}*${r.pick([1, 2, 4, 8, 3])}` : ''}${r.chance(0.5) ? ` + ${expr(r)}` : ''}]`;
    default: return r.pick(['dx', 'cl', 'label', 'msg', ...SERVICES]);
  }
}

/** One line of NASM-like Intel syntax, most of them valid. */
function programLine(r: Rand): string {
  const label = r.chance(0.2) ? `${r.pick(['label', '.local', 'msg', 'loop1', '_start', 'x'])}: ` : '';
  switch (r.int(6)) {
    case 0: {
      const d = r.pick(DIRECTIVES);
      if (d === 'times') return `${label}times ${r.pick(['4', '16', '0x100', expr(r), '100000000'])} ${r.pick(['nop', 'db 0', 'dq 1, 2', 'resb 1'])}`;
      if (d === 'equ') return `${r.pick(['N', 'size', 'label'])} equ ${expr(r)}`;
      if (d.startsWith('res') || d === 'align' || d === 'org') return `${label}${d} ${r.pick(['1', '8', '4096', '0x100000', '0x1000000000', expr(r)])}`;
      if (d.startsWith('d')) return `${label}${d} ${Array.from({ length: 1 + r.int(4) }, () => r.pick(["'hello', 0", expr(r), '"x"'])).join(', ')}`;
      return d;
    }
    case 1: return `${label}${r.pick(MNEMONICS)}`;
    case 2: return `${label}${r.pick(MNEMONICS)} ${operand(r)}`;
    case 3: return `${label}call ${r.pick(SERVICES)}`;
    case 4: return `${label}; ${r.pick(['comment', 'mov rax, 1', "'"])}`;
    default: return `${label}${r.pick(MNEMONICS)} ${operand(r)}, ${operand(r)}`;
  }
}

/** A program from the grammar: a `_start`, a few lines, usually a halt. */
export function genProgram(r: Rand): string {
  const lines = ['_start:'];
  const n = 1 + r.int(12);
  for (let k = 0; k < n; k++) lines.push(`  ${programLine(r)}`);
  if (r.chance(0.8)) lines.push('  hlt');
  return lines.join('\n');
}

/** Mutate program text: characters, lines, nesting, hostile words. */
export function mutateProgram(r: Rand, src: string): string {
  const lines = src.split('\n');
  const n = 1 + r.int(3);
  for (let k = 0; k < n; k++) {
    const i = r.int(lines.length);
    switch (r.int(8)) {
      case 0: lines.splice(i, 1); break;
      case 1: lines.splice(i, 0, lines[r.int(lines.length)] ?? ''); break;
      case 2: lines[i] = (lines[i] ?? '').slice(0, r.int((lines[i] ?? '').length + 1)); break;
      case 3: lines[i] = `${lines[i] ?? ''}${r.pick([',', '[', ']', '(', ')', ':', "'", '"', ';', '+', '*', ' '])}`; break;
      case 4: lines[i] = `  ${r.pick(HOSTILE_WORDS)} ${r.pick(['1', 'rax', '[rax]', ''])}`; break;
      case 5: lines[i] = `  mov rax, ${'('.repeat(r.pick([10, 63, 64, 65, 1000]))}1${')'.repeat(r.pick([10, 64, 65, 1000]))}`; break;
      case 6: lines[i] = `  dq ${Array.from({ length: r.pick([10, 1000, 3000]) }, () => '1').join('+')}`; break;
      default: lines[i] = (lines[i] ?? '').replace(/\w+/, r.pick([...MNEMONICS, ...REGS, 'byte', 'qword', 'times', 'equ'])); break;
    }
  }
  return lines.join('\n');
}

// ---- scenarios from the zod schema ------------------------------------------------------------

type Def = { type: string; [k: string]: unknown };
const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

/** Names the scenario being made has, so that references often resolve (and sometimes do not). */
interface Names {
  vms: string[];
  hosts: string[];
  links: string[];
  made: string[];
}

/** A value for field `key` of a schema, from its zod definition: valid mostly, hostile sometimes. */
function fromSchema(r: Rand, schema: unknown, key: string, names: Names, depth = 0): unknown {
  const d = defOf(schema);
  // Hostile values come rarely here (a scenario has dozens of fields) and from mutateJson.
  if (r.chance(0.003)) return randomJson(r, 2);
  const hostile = () => r.chance(0.03);
  switch (d.type) {
    case 'default':
    case 'optional':
    case 'nullable':
      if (r.chance(0.4)) return undefined;
      return fromSchema(r, d.innerType, key, names, depth);
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(d.shape as Record<string, unknown>)) {
        // A step's question (ask.ts) is never read by the simulator: generated, it would only get
        // scenarios refused at load (its own checks are schema.test.ts's).
        if (k === 'ask') continue;
        const x = fromSchema(r, v, k, names, depth + 1);
        if (x !== undefined) out[k] = x;
      }
      return out;
    }
    case 'array': {
      const n = key === 'hosts' ? 1 + r.int(2) : r.int(3);
      return Array.from({ length: n }, () => fromSchema(r, d.element, `${key}[]`, names, depth + 1)).filter((x) => x !== undefined);
    }
    case 'union': {
      return fromSchema(r, r.pick(d.options as unknown[]), key, names, depth);
    }
    case 'pipe': return fromSchema(r, d.in, key, names, depth);
    case 'literal': return r.pick(d.values as unknown[]);
    case 'enum': return r.pick(Object.values(d.entries as Record<string, unknown>));
    case 'boolean': return r.chance(0.5);
    case 'record': return r.chance(0.5) ? {} : { [r.pick(['pic', 'rtc', 'com1', 'virtio-net', 'constructor'])]: r.chance(0.5) };
    case 'number': {
      if (key === 'vcpu' || key === 'id' || key === 'slot') return r.pick([0, 0, 0, 0, 1, 2, 7, 8, -1]);
      if (key === 'max_instructions') return hostile() ? r.pick(BUDGETS) : r.pick(BUDGETS.slice(0, 7));
      if (key === 'vcpus') return r.pick([1, 1, 2, 4, 8, 9, 0]);
      if (key === 'seed') return r.int(1000);
      if (key === 'pct') return r.pick([0, 1, 50, 99, 100, 101]);
      return hostile() ? r.pick(NUMBERS) : r.pick([0, 1, 2, 4096, 0x100000]);
    }
    case 'string': {
      if (key === 'vm' || key === 'name' && depth > 2) return !hostile() ? r.pick([...names.vms, ...names.made]) ?? 'g' : r.pick(HOSTILE_WORDS);
      if (key === 'host' || key === 'from' || key === 'to') return !hostile() ? r.pick(names.hosts) : r.pick(HOSTILE_WORDS);
      if (key === 'link') return !hostile() && names.links.length ? r.pick(names.links) : r.pick(HOSTILE_WORDS);
      if (key === 'as') return r.pick(['byhand', 'gm', 'mem', 'vm2', ...HOSTILE_WORDS.slice(0, 3)]);
      if (key === 'program') return r.chance(0.7) ? genProgram(r) : mutateProgram(r, genProgram(r));
      if (key === 'cap') return hostile() ? r.pick(['KVM_CAP_NOPE', ...HOSTILE_WORDS]) : r.pick(['KVM_CAP_GUEST_MEMFD', 'KVM_CAP_MEMORY_ATTRIBUTES', 'KVM_CAP_VM_TYPES', 'KVM_CAP_X86_MSR_FILTER', 'KVM_CAP_USER_MEMORY2']);
      if (key === 'device') return hostile() ? r.pick(HOSTILE_WORDS) : r.pick(DEVICE_NAMES);
      if (['flags[]', 'mode[]', 'attributes[]', 'args[]'].includes(key)) return hostile() ? r.pick(HOSTILE_WORDS) : r.pick([...FLAG_NAMES.keys()]);
      if (key === 'data') return r.pick(['secret', 'hex:de ad be ef', 'hex:zz', '', 'x'.repeat(5000)]);
      if (['memory', 'gpa', 'size', 'length', 'hpa', 'offset', 'len', 'address', 'guest_phys_addr', 'memory_size', 'bytes', 'origin', 'firmware_accept', 'start', 'end', 'nmsrs', 'first_page', 'num_pages', 'msr', 'value', 'guest_memfd_offset', 'userspace_addr'].includes(key))
        return hostile() ? r.pick(SIZES) : r.pick(['0x0', '0x1000', '0x100000', '0x200000', '4K', '64K', '1M', '2M', 4096, 0, 16]);
      if (key === 'bandwidth') return r.pick(['10Gbit', '1GiB', '1bit', '0', 'fast']);
      if (['latency', 'time', 'at', 'after'].includes(key)) return r.pick(DURATIONS);
      if (key === 'flags' || key === 'mode' || key === 'attributes') return r.pick(['0x0', '0x8', '0xffffffffffffffff', '0x1ffffffffffffffff', 'lots']);
      return !hostile() ? r.pick(['t', 'title', 'host0', 'g', 'data']) : r.pick(HOSTILE_WORDS);
    }
    default:
      return randomJson(r, 1);
  }
}

/** Any JSON value, nested up to `depth`. */
export function randomJson(r: Rand, depth: number): unknown {
  switch (r.int(depth > 0 ? 7 : 5)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick(NUMBERS);
    case 3: return r.pick([...HOSTILE_WORDS, ...SIZES]);
    case 4: return r.pick(DURATIONS);
    case 5: return Array.from({ length: r.int(4) }, () => randomJson(r, depth - 1));
    default: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['a', 'do', 'vm', '__proto__', 'constructor']), randomJson(r, depth - 1)]));
  }
}

/** A scenario made from the schema, small enough to run in milliseconds most of the time. */
export function genScenario(r: Rand): Record<string, unknown> {
  const hostNames = r.chance(0.7) ? ['host0'] : ['a', 'b'];
  const names: Names = { vms: [], hosts: hostNames, links: hostNames.length > 1 ? ['wan'] : [], made: [] };
  // The world first (small machines, so that building one costs little), then steps that name it.
  const made = fromSchema(r, Scenario, '', names);
  const s = (made !== null && typeof made === 'object' && !Array.isArray(made) ? made : {}) as Record<string, unknown>;
  s.version = r.chance(0.97) ? 2 : r.pick([1, 3, '2']);
  s.title ??= 'fuzz';
  if (r.chance(0.9)) s.hosts = hostNames.map((name) => ({ name, memory: r.pick(['128M', '256M', '1G']) }));
  if (r.chance(0.9)) s.links = hostNames.length > 1 ? [{ name: 'wan', from: 'a', to: 'b', bandwidth: r.pick(['10Gbit', '1GiB']), latency: r.pick(['50us', 0, '1ms']) }] : [];
  if (r.chance(0.9)) {
    s.vms = ['g', 'td'].slice(0, 1 + r.int(2)).map((name) => {
      const vm: Record<string, unknown> = {
        name, type: r.pick(['default', 'sw-protected', 'tdx']), memory: r.pick(['16M', '64M', '16M']), vcpus: r.pick([1, 1, 2]),
        program: r.chance(0.6) ? r.pick(SAFE_PROGRAMS) : genProgram(r),
      };
      if (hostNames.length > 1) vm.host = r.pick(hostNames);
      return vm;
    });
  }
  const nameOf = (v: unknown) => (v !== null && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string' ? (v as { name: string }).name : 'g');
  names.vms = Array.isArray(s.vms) ? s.vms.map(nameOf) : ['g'];
  if (r.chance(0.3)) names.made.push('byhand');
  const stepSchema = defOf(defOf((defOf(Scenario).shape as Record<string, unknown>).steps).innerType).element;
  const steps: unknown[] = [];
  if (names.made.length) steps.push({ do: 'KVM_CREATE_VM', as: 'byhand', type: r.pick([0, 1, 5]), ...(hostNames.length > 1 ? { host: r.pick(hostNames) } : {}) });
  const n = r.int(8);
  for (let k = 0; k < n; k++) {
    const st = fromSchema(r, stepSchema, 'step', names) as Record<string, unknown> | undefined;
    if (st && typeof st === 'object') {
      for (const key of Object.keys(st)) if (st[key] === undefined) delete st[key];
      steps.push(st);
    }
  }
  s.steps = steps;
  return s;
}

/**
 * A migration scenario: two hosts and a link, a guest that dirties memory, and steps drawn from the
 * migration vocabulary (migrate with capabilities, parameters, a TD design or resume; pre-copy's and
 * post-copy's controls, migrate_recover and query_migrate on either side; the link cut and restored;
 * run_until a time or a status) in an order that often makes sense and sometimes does not. A
 * scenario drawn from the whole schema almost never starts a migration, let alone switches one to
 * post-copy; these do, so post-copy's steps and states are fuzzed too.
 */
export function genMigrationScenario(r: Rand): Record<string, unknown> {
  const type = r.pick(['default', 'default', 'sw-protected', 'tdx']);
  // Mostly a design the VM's type has (and the destination kernel it needs), sometimes any.
  const design = type === 'default' || r.chance(0.3) ? undefined
    : r.chance(0.9) ? r.pick(type === 'tdx' ? ['upstream', 'talk', 'tdx-module'] : ['upstream', 'talk', 'kvm-userfault']) : r.pick(TD_DESIGNS);
  const userfault = design === 'kvm-userfault' ? r.chance(0.9) : r.chance(0.2);
  const vm: Record<string, unknown> = { name: 'guest', host: 'src', type, memory: '8M', vcpus: r.pick([1, 1, 2]) };
  if (r.chance(0.8)) vm.workload = { rate: r.pick(['1M', '4M', '16M']), pattern: r.pick(['uniform', 'sequential', 'hot-set']), base: '4M', working_set: r.pick(['1M', '2M']), ...(r.chance(0.03) ? { cpu_bound: true } : {}), ...(r.chance(0.3) ? { prefill: false } : {}) };
  // A guest spinning at full speed would run a run_until's whole instruction budget (seconds of CPU): those halt.
  else vm.program = r.pick(SAFE_PROGRAMS.filter((p) => p.includes('hlt')));
  if (r.chance(0.1)) vm.dirty_ring_size = r.pick([1024, 4096]);
  const bandwidth = r.pick(['100Mbit', '100Mbit', '1Gbit', '10Gbit']);
  // Mostly a combination QEMU accepts (post-copy's three, or one of the throttles), sometimes any.
  const caps = (): string[] => r.chance(0.2) ? CAPABILITY_NAMES.filter(() => r.chance(0.35))
    : [...(r.chance(0.7) ? ['postcopy-ram', ...(r.chance(0.5) ? ['postcopy-preempt'] : []), ...(r.chance(0.5) ? ['postcopy-blocktime'] : [])] : []), ...(r.chance(0.2) ? ['auto-converge'] : [])];
  const params = (): Record<string, unknown> => {
    const odd = r.chance(0.1);
    const all: Record<string, () => unknown> = {
      'max-bandwidth': () => r.pick(['32MiB', '1Gbit', 0]),
      'downtime-limit': () => r.pick([1, 50, 300, 2000]),
      'max-postcopy-bandwidth': () => (odd ? r.pick([1, 'fast', -1]) : r.pick(['8MiB', '100Mbit', 0])),
      'cpu-throttle-initial': () => (odd ? r.pick([0, 100]) : r.pick([20, 99])),
      'vcpu-dirty-limit': () => (odd ? 0 : r.pick([1, 10])),
      'x-vcpu-dirty-limit-period': () => r.pick([100, 1000]),
    };
    return Object.fromEntries(Object.entries(all).filter(() => r.chance(0.25)).map(([k, f]) => [k, f()]));
  };
  let t = 0;
  const time = () => `${(t += r.pick([10, 30, 100, 200]))}ms`;
  const statuses = [...MIGRATION_STATUSES];
  const makers: (() => Record<string, unknown>)[] = [
    () => ({ do: 'cont', vm: 'guest' }),
    () => ({ do: 'stop', vm: r.pick(['guest', 'guest@dst']) }),
    () => ({ do: 'run_until', time: time() }),
    () => ({ do: 'run_until', vm: r.pick(['guest', 'guest', 'guest@dst']), status: r.pick(statuses), time: `${t + r.pick([100, 300, 1000])}ms` }),
    () => ({ do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', ...(r.chance(0.7) ? { capabilities: caps() } : {}), ...(r.chance(0.4) ? { parameters: params() } : {}),
      ...(design ? { td_design: design } : {}), ...(r.chance(0.25) ? { resume: true } : {}) }),
    () => ({ do: 'migrate_start_postcopy', vm: r.pick(['guest', 'guest', 'guest@dst']) }),
    () => ({ do: 'migrate_recover', vm: r.pick(['guest@dst', 'guest@dst', 'guest']) }),
    () => ({ do: 'query_migrate', vm: r.pick(['guest', 'guest@dst']) }),
    () => ({ do: 'migrate_set_capabilities', vm: 'guest', capabilities: caps().map((capability) => ({ capability, state: r.chance(0.8) })) }),
    () => ({ do: 'migrate_set_parameters', vm: 'guest', parameters: params() }),
    () => ({ do: 'migrate_cancel', vm: 'guest' }),
    () => ({ do: 'link_down', link: 'wan', ...(r.chance(0.3) ? { after: r.pick(['1ms', '50ms']) } : {}) }),
    () => ({ do: 'link_up', link: 'wan' }),
    () => ({ do: 'read_migration_stream', vm: 'guest', gpa: r.pick(['0x400000', '0x0', '0x1000']) }),
  ];
  // Often the usual order: start the guest, run a little, migrate, switch, cut, recover, resume.
  const steps: Record<string, unknown>[] = r.chance(0.7) ? [makers[0](), makers[2](), makers[4]()] : [];
  if (steps.length && r.chance(0.6)) {
    delete steps[2].resume;
    (steps[2] as { capabilities?: string[] }).capabilities = ['postcopy-ram', ...(r.chance(0.5) ? ['postcopy-preempt'] : []), ...(r.chance(0.5) ? ['postcopy-blocktime'] : [])];
    // Switched at once mostly (a small guest's pre-copy may otherwise converge first).
    if (r.chance(0.3)) steps.push(makers[2]());
    steps.push({ do: 'migrate_start_postcopy', vm: 'guest' }, { do: 'run_until', vm: 'guest', status: 'postcopy-active', time: `${t + 500}ms` });
    // The link cut while pages are still missing: both sides pause, and recover.
    if (r.chance(0.6)) steps.push({ do: 'link_down', link: 'wan', after: r.pick(['100us', '1ms', '1ms', '5ms']) }, { do: 'run_until', vm: 'guest', status: 'postcopy-paused', time: `${t + 1000}ms` },
      { do: 'link_up', link: 'wan' }, { do: 'migrate_recover', vm: 'guest@dst' }, { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', resume: true });
  }
  const n = r.int(steps.length ? 4 : 10);
  for (let k = 0; k < n; k++) steps.splice(r.int(steps.length + 1), 0, r.pick(makers)());
  if (r.chance(0.5)) steps.push({ do: 'run_until', vm: 'guest', status: r.pick(['completed', 'failed', 'postcopy-paused']), time: `${t + 1000}ms` }, { do: 'query_migrate', vm: 'guest@dst' });
  return {
    version: 2, title: 'fuzz: a migration', seed: r.int(1000),
    hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M', ...(userfault ? { kernel_series: ['kvm-userfault'] } : {}) }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth, latency: r.pick(['50us', '1ms']) }],
    vms: [vm],
    steps,
  };
}

/** Programs that do something for a while, then halt (or not). */
const SAFE_PROGRAMS = [
  '_start:\n  mov al, 0x41\n  mov dx, 0x3f8\n  out dx, al\n  hlt',
  '_start:\n  mov rcx, 1000\n.l:\n  mov [0x200000 + rcx*8], rcx\n  loop .l\n  hlt',
  '_start:\n  add rax, 1\n  jmp _start',
  '_start:\n  mov rax, [0x300000]\n  hlt',
];

/** Structural mutations of a JSON document: drop, duplicate, replace, retype, nest. */
export function mutateJson(r: Rand, doc: unknown): unknown {
  const root = structuredClone(doc);
  const n = 1 + r.int(3);
  for (let k = 0; k < n; k++) {
    // A random place: walk down a few levels.
    let parent: Record<string | number, unknown> | unknown[] | null = null;
    let key: string | number = '';
    let cur: unknown = root;
    for (let depth = 0; depth < 5 && cur !== null && typeof cur === 'object' && r.chance(0.75); depth++) {
      const keys = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
      if (keys.length === 0) break;
      parent = cur as Record<string, unknown>;
      key = r.pick(keys as (string | number)[]);
      cur = (cur as Record<string | number, unknown>)[key];
    }
    if (parent === null) continue;
    const p = parent as Record<string | number, unknown>;
    switch (r.int(7)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete p[key];
        break;
      case 1: if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(cur)); break;
      case 2: p[key] = randomJson(r, 2); break;
      case 3: p[key] = r.pick(HOSTILE_WORDS); break;
      case 4: p[key] = r.pick(NUMBERS); break;
      case 5: p[key] = typeof cur === 'string' && cur.includes('\n') ? mutateProgram(r, cur) : r.pick(SIZES); break;
      default: p[key] = [[[[cur]]]]; break;
    }
  }
  return root;
}

// ---- running an input -------------------------------------------------------------------------

export interface Result {
  outcome: Outcome;
  /** For a failure, the error (its first line) or what took too long. */
  detail?: string;
}

/** Kept memory (heap and array buffers), for the blow-up check. */
function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Classify an exception: a refusal by the lab's own error types, a blow-up, or a crash. */
function failure(e: unknown): Result {
  if (e instanceof ScenarioError) return { outcome: 'refused' };
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  if (e instanceof RangeError || /out of memory|allocation failed/i.test(msg)) return { outcome: 'blew-up', detail: msg.split('\n')[0] };
  return { outcome: 'crashed', detail: `${msg.split('\n')[0]}${e instanceof Error && e.stack ? ` (${e.stack.split('\n')[1]?.trim()})` : ''}` };
}

/** Load a scenario as the lab does and run it to its end by slices, watching the clock and memory. */
export function runScenario(input: unknown, limits: Limits): Result {
  const m0 = memory();
   
  const c0 = process.cpuUsage();
  const cpuMs = () => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  try {
    const run = ScenarioRun.fromJson(input);
    while (!run.done) {
      run.advance(100_000);
      if (cpuMs() > limits.hangMs) return { outcome: 'hung', detail: `still running step ${run.next} ("${run.scenario.steps[run.next]?.do}") after ${limits.hangMs} ms of CPU time` };
    }
    run.report();
  } catch (e) {
    return failure(e);
  }
  const kept = memory() - m0;
  if (kept > limits.heapBytes) return { outcome: 'blew-up', detail: `kept ${Math.round(kept / 2 ** 20)} MiB` };
  return { outcome: 'ran' };
}

export interface Target<T> {
  name: string;
  /** A new input (made and mutated from the grammar). */
  gen(r: Rand): T;
  run(input: T, limits: Limits): Result;
  /** Smaller inputs than `input`, to try while shrinking (the first that fails the same way is kept). */
  smaller(input: T): T[];
  /** The input as a file's text (the reproducer). */
  show(input: T): string;
}

/** Smaller JSON: each array element or object key dropped, long strings halved, nested values lifted. */
function smallerJson(v: unknown): unknown[] {
  const out: unknown[] = [];
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) out.push([...v.slice(0, i), ...v.slice(i + 1)]);
    for (let i = 0; i < v.length; i++) for (const s of smallerJson(v[i])) out.push(v.map((x, k) => (k === i ? s : x)));
  } else if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const { [k]: _, ...rest } = o;
      out.push(rest);
    }
    for (const k of Object.keys(o)) for (const s of smallerJson(o[k])) out.push({ ...o, [k]: s });
  } else if (typeof v === 'string' && v.length > 1) {
    const lines = v.split('\n');
    if (lines.length > 1) for (let i = 0; i < lines.length; i++) out.push([...lines.slice(0, i), ...lines.slice(i + 1)].join('\n'));
    else out.push(v.slice(0, Math.ceil(v.length / 2)), v.slice(Math.floor(v.length / 2)));
  }
  return out;
}

function smallerText(s: string): string[] {
  const out: string[] = [];
  const lines = s.split('\n');
  if (lines.length > 1) for (let i = 0; i < lines.length; i++) out.push([...lines.slice(0, i), ...lines.slice(i + 1)].join('\n'));
  if (s.length > 1) out.push(s.slice(0, Math.ceil(s.length / 2)), s.slice(Math.floor(s.length / 2)));
  return out;
}

export const scenarioTarget: Target<unknown> = {
  name: 'scenario',
  gen: (r) => {
    const s = r.chance(0.3) ? genMigrationScenario(r) : genScenario(r);
    return r.chance(0.5) ? mutateJson(r, s) : s;
  },
  run: runScenario,
  smaller: smallerJson,
  show: (v) => JSON.stringify(v, null, 2),
};

/** A guest program: assembled (refused with a line and column, or an image), then run in a small VM. */
export const programTarget: Target<string> = {
  name: 'program',
  gen: (r) => (r.chance(0.5) ? mutateProgram(r, genProgram(r)) : genProgram(r)),
  run: (src, limits) => {
    let ok: boolean;
    try {
      ok = assembleWithDiagnostics(src, { origin: 0x100000, services: KERNEL_SERVICES }).errors.length === 0;
    } catch (e) {
      return failure(e);
    }
    if (!ok) return { outcome: 'refused' };
    return runScenario({
      version: 2, title: 'program', hosts: [{ name: 'h', memory: '256M' }],
      vms: [{ name: 'g', type: 'default', memory: '16M', program: src }], steps: [{ do: 'run', vm: 'g', max_instructions: 5000 }],
    }, limits);
  },
  smaller: smallerText,
  show: (s) => s,
};

/** base64url of text, as the lab's links carry scenarios and commands. */
const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** A lab link's query string: read as the page reads it (never throws), and its scenario loaded. */
export const urlTarget: Target<string> = {
  name: 'url',
  gen: (r) => {
    const q: string[] = [];
    if (r.chance(0.9)) q.push(`v=${r.pick(['2', '2', '1', '9', '', '%00', '2.0'])}`);
    if (r.chance(0.6)) q.push(`preset=${encodeURIComponent(r.pick([...Object.keys(PRESETS), ...HOSTILE_WORDS]))}`);
    if (r.chance(0.5)) q.push(`scenario=${r.chance(0.8) ? b64(JSON.stringify(scenarioTarget.gen(r))) : r.pick(['%%%', 'e30', '', 'bm90IGpzb24', '_-_-'])}`);
    if (r.chance(0.3)) q.push(`c=${b64(JSON.stringify(r.chance(0.5) ? [{ step: 0, instr: r.pick([0, 5, -1]), command: { do: 'host_read', vm: 'g', gpa: 0, via: 'physical' } }] : randomJson(r, 2)))}`);
    if (r.chance(0.3)) q.push(`e=${r.pick(['0', '5', '-4', '12x', '999999999999999', '1e3'])}`);
    if (r.chance(0.1)) q.push(r.pick(['debug=1', '&&&', '=', 'preset', '%E0%A4%A']));
    const s = `?${q.join('&')}`;
    return r.chance(0.3) ? mutateText(r, s) : s;
  },
  run: (search, limits) => {
    let state: ReturnType<typeof readUrl>;
    try {
      state = readUrl(search);
    } catch (e) {
      return failure(e);
    }
    if (state.problem) return { outcome: 'refused' };
    if (state.scenario === null) return { outcome: 'ran' };
    return runScenario(state.scenario, limits);
  },
  smaller: (s) => smallerText(s).concat(s.split('&').length > 1 ? s.split('&').map((_, i, a) => [...a.slice(0, i), ...a.slice(i + 1)].join('&')) : []),
  show: (s) => s,
};

/** Byte-level mutations of text: flips, cuts, insertions. */
function mutateText(r: Rand, s: string): string {
  let t = s;
  const n = 1 + r.int(4);
  for (let k = 0; k < n; k++) {
    const i = r.int(t.length + 1);
    switch (r.int(5)) {
      case 0: t = t.slice(0, i) + t.slice(i + 1 + r.int(8)); break;
      case 1: t = t.slice(0, i) + String.fromCharCode(r.int(128)) + t.slice(i + 1); break;
      case 2: t = t.slice(0, i) + r.pick(['{', '}', '[', ']', '"', ',', ':', '\\', '\\u0000', 'null', '1e999', '-0']) + t.slice(i); break;
      case 3: t = t.slice(0, i); break;
      default: t = t.slice(0, i) + r.pick(['[[[[[[[[[[', '{"a":'.repeat(50), '"__proto__":{"x":1},', '"constructor":1,']) + t.slice(i); break;
    }
  }
  return t;
}

/** An imported file: its size checked, parsed as JSON, loaded and run, as the page and the CLI do. */
export const importTarget: Target<string> = {
  name: 'import',
  gen: (r) => {
    // A preset now and then (a run of one takes a few hundred milliseconds), mostly a made scenario.
    const base = r.chance(0.1) ? JSON.stringify(r.pick(Object.values(PRESETS).slice(0, 4)), null, r.chance(0.5) ? 2 : undefined) : JSON.stringify(scenarioTarget.gen(r));
    return r.chance(0.8) ? mutateText(r, base) : base;
  },
  run: (text, limits) => {
    if (Buffer.byteLength(text) > LIMITS.scenarioBytes) return { outcome: 'refused' };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      if (e instanceof SyntaxError) return { outcome: 'refused' };
      return failure(e);
    }
    // Presets stay small in the fuzzer: the heavy one's guests would touch gigabytes.
    return runScenario(capBudgets(json), limits);
  },
  smaller: smallerText,
  show: (s) => s,
};

/** The same document with every run budget at most 200,000 (a fuzzer input must end in milliseconds). */
function capBudgets(json: unknown): unknown {
  const steps = (json as { steps?: unknown })?.steps;
  if (!Array.isArray(steps)) return json;
  return { ...(json as object), steps: steps.map((s) => (s && typeof s === 'object' && typeof (s as { max_instructions?: unknown }).max_instructions === 'number'
    ? { ...s, max_instructions: Math.min((s as { max_instructions: number }).max_instructions, 200_000) } : s)) };
}

export const TARGETS = [scenarioTarget, programTarget, urlTarget, importTarget] as Target<unknown>[];

export interface FuzzReport {
  target: string;
  tried: number;
  counts: Record<Outcome, number>;
  /** The smallest reproducer of each kind of failure found, with what happened. */
  failures: { outcome: Outcome; detail: string; input: string }[];
  ms: number;
}

/** Shrink a failing input while it fails the same way (at most `budget` tries, and 20 s: a hang costs hangMs a try). */
function shrink<T>(t: Target<T>, input: T, outcome: Outcome, limits: Limits, budget = 300): { input: T; detail: string } {
  let best = input;
  let detail = t.run(input, limits).detail ?? '';
  let tries = 0;
   
  const end = performance.now() + 20_000;
  for (let improved = true; improved && tries < budget;) {
    improved = false;
    for (const c of t.smaller(best)) {
       
      if (++tries > budget || performance.now() > end) break;
      const r = t.run(c, limits);
      if (r.outcome === outcome) {
        best = c;
        detail = r.detail ?? detail;
        improved = true;
        break;
      }
    }
  }
  return { input: best, detail };
}

/**
 * Run `n` inputs of a target from `seed`; count the outcomes (`progress` hears them every 5,000);
 * shrink one reproducer per kind of failure and detail. With `from`, inputs `from` to n - 1 of that
 * seed only: the ones before are made (the sequence is the same) but not run, so a long run can be
 * finished in a second process (`tried` counts the inputs run).
 */
export function fuzz<T>(t: Target<T>, n: number, seed: number, limits: Limits, progress?: (f: FuzzReport) => void, from = 0): FuzzReport {
  const r = new Rand(seed);
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const found = new Map<string, { outcome: Outcome; input: T }>();
   
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const input = t.gen(r);
    if (i < from) continue;
    const res = t.run(input, limits);
    counts[res.outcome]++;
    // A long run says how far it is (and what it found so far) every 5,000 inputs.
    if (progress && (i + 1) % 5000 === 0 && i + 1 < n) progress({ target: t.name, tried: i + 1 - from, counts: { ...counts }, failures: [], ms: performance.now() - t0 });
    if (FAILURES.includes(res.outcome)) {
      const key = `${res.outcome}: ${(res.detail ?? '').replace(/\d+/g, 'N').slice(0, 120)}`;
      const prev = found.get(key);
      if (!prev || t.show(input).length < t.show(prev.input).length) found.set(key, { outcome: res.outcome, input });
    }
  }
  const failures = [...found.values()].slice(0, 20).map((f) => {
    const s = shrink(t, f.input, f.outcome, limits);
    return { outcome: f.outcome, detail: s.detail, input: t.show(s.input) };
  });
   
  return { target: t.name, tried: Math.max(0, n - from), counts, failures, ms: performance.now() - t0 };
}

/** The report as a table row. */
export function row(f: FuzzReport): string {
  const c = f.counts;
  return `${f.target.padEnd(9)} ${String(f.tried).padStart(8)} ${String(c.refused).padStart(8)} ${String(c.ran).padStart(8)} ${String(c.crashed).padStart(8)} ${String(c.hung).padStart(5)} ${String(c['blew-up']).padStart(8)} ${(f.ms / 1000).toFixed(1).padStart(8)} s`;
}
export const HEADER = `${'target'.padEnd(9)} ${'tried'.padStart(8)} ${'refused'.padStart(8)} ${'ran'.padStart(8)} ${'crashed'.padStart(8)} ${'hung'.padStart(5)} ${'blew up'.padStart(8)} ${'time'.padStart(10)}`;
