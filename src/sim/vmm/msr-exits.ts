/**
 * How the VMM answers KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR. User space fills kvm_run.msr and
 * re-enters: msr.error = 1 makes KVM inject #GP (or fail a TD's TDVMCALL); otherwise a read returns
 * msr.data in EDX:EAX. Modelled on tools/testing/selftests/kvm/x86/userspace_msr_exit_test.c
 * (process_rdmsr()/process_wrmsr(): a value, a remembered write, an exact value only, or error = 1)
 * and on QEMU's kvm_handle_rdmsr()/kvm_handle_wrmsr() (target/i386/kvm/kvm.c), which look the index
 * up in the handlers QEMU registered with its own MSR filter (e.g. MSR_CORE_THREAD_COUNT) and set
 * msr.error = 1 when a handler fails.
 */
import type { ArgValue } from '../core/trace';
import { hex } from '../core/units';
import type { RunExit } from '../kvm/run';

export type MsrExit = Extract<RunExit, { reason: 'KVM_EXIT_X86_RDMSR' | 'KVM_EXIT_X86_WRMSR' }>;

/** What the VMM does for one MSR index. */
export interface VmmMsrHandler {
  /** RDMSR: a value, 'stored' (the last write the VMM kept; 0 before any), or 'gp' (msr.error = 1). */
  read?: bigint | 'stored' | 'gp';
  /** WRMSR: 'accept' (dropped), 'store' (kept for later reads), 'gp', or { only: v } (any other value → #GP). */
  write?: 'accept' | 'store' | 'gp' | { only: bigint };
}

/** The VMM's MSR handlers, per index, and the values it keeps for 'store'. */
export class VmmMsrPolicy {
  readonly handlers = new Map<number, VmmMsrHandler>();
  readonly stored = new Map<number, bigint>();

  set(index: number, handler: VmmMsrHandler | null): void {
    if (handler) this.handlers.set(index >>> 0, handler);
    else this.handlers.delete(index >>> 0);
  }

  /** What the VMM does with an exit for this MSR, in a few words (for the MSR table's paths). */
  describe(index: number, access: 'read' | 'write'): string {
    const h = this.handlers.get(index >>> 0);
    const a = access === 'read' ? h?.read : h?.write;
    if (a === undefined) return 'the VMM has no handler: msr.error = 1, the guest gets #GP';
    if (a === 'gp') return 'the VMM refuses it: msr.error = 1, the guest gets #GP';
    if (typeof a === 'bigint') return `the VMM answers ${hex(a)}`;
    if (typeof a === 'object') return `the VMM accepts only ${hex(a.only)}`;
    return { stored: 'the VMM answers with the value it stored', store: 'the VMM stores the value', accept: 'the VMM accepts and drops it' }[a];
  }
}

/** One vmm-layer trace event describing the answer (the caller emits it). */
export interface MsrAnswerEvent {
  name: 'kvm_handle_rdmsr' | 'kvm_handle_wrmsr';
  args: Record<string, ArgValue>;
  text: string;
}

/**
 * Fill kvm_run.msr for the exit (error, and data for a read) from the policy. An index without a
 * handler for this direction gets error = 1, as a VMM that does not know the MSR must refuse it.
 */
export function answerMsrExit(exit: MsrExit, policy: VmmMsrPolicy): MsrAnswerEvent {
  const { index } = exit.msr;
  const h = policy.handlers.get(index);
  if (exit.reason === 'KVM_EXIT_X86_RDMSR') {
    const r = h?.read;
    if (r === undefined || r === 'gp') {
      exit.msr.error = 1;
      return { name: 'kvm_handle_rdmsr', args: { index: hex(index), error: 1 },
        text: `The VMM ${r === 'gp' ? 'refuses' : 'has no handler for'} the read of MSR ${hex(index)}: it sets msr.error = 1, so the guest gets #GP.` };
    }
    const v = r === 'stored' ? policy.stored.get(index) ?? 0n : r;
    exit.msr.error = 0;
    exit.msr.data = hex(BigInt.asUintN(64, v));
    return { name: 'kvm_handle_rdmsr', args: { index: hex(index), data: exit.msr.data },
      text: `The VMM answers the read of MSR ${hex(index)} with ${exit.msr.data}; KVM puts it in EDX:EAX.` };
  }
  const value = BigInt.asUintN(64, BigInt(exit.msr.data));
  const w = h?.write;
  const ok = w === 'accept' || w === 'store' || (typeof w === 'object' && w.only === value);
  exit.msr.error = ok ? 0 : 1;
  if (ok && w === 'store') policy.stored.set(index, value);
  return { name: 'kvm_handle_wrmsr', args: { index: hex(index), data: hex(value), error: exit.msr.error },
    text: ok ? `The VMM ${w === 'store' ? 'keeps' : 'accepts'} the write of ${hex(value)} to MSR ${hex(index)}.`
      : `The VMM ${w === undefined ? 'has no handler for' : 'refuses'} the write of ${hex(value)} to MSR ${hex(index)}: msr.error = 1, so the guest gets #GP.` };
}
