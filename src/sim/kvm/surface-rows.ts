/** Rows of the attack-surface view that KVM itself knows how to fill (MSRs, CPUID leaves, capabilities).
 * They live beside KVM so that kvm/ never imports from vmm/; vmm/surface-view.ts re-exports them. */

export interface MsrRow {
  index: string;
  name: string;
  purpose: string;
  /** The path a read / a write takes for this VM, one sentence each (e.g. "TDX module: #VE → TDVMCALL → KVM emulates"). */
  readPath: string;
  writePath: string;
  /** TD only: the TDX module's class. */
  tdClass: 'native' | 've' | 'gp' | null;
  /** The KVM_X86_SET_MSR_FILTER verdict for this index: allow/deny per direction. */
  filter: { read: 'allow' | 'deny'; write: 'allow' | 'deny' };
  /** The talk's additional constraint, if any. */
  constraint: { kind: 'fixed'; value: string } | { kind: 'read-only' } | null;
  /** Whether a guest access can reach host code (KVM or the VMM) through this MSR. */
  reachesHost: boolean;
  accesses: number;
}

export interface CpuidRow {
  leaf: string;
  subleaf: string;
  name: string;
  eax: string;
  ebx: string;
  ecx: string;
  edx: string;
  /** For a TD: how the TDX module virtualises the leaf; for an ordinary VM: "KVM_SET_CPUID2". */
  policy: string;
  /** For a TD: "#VE" when the leaf exits to the VMM. */
  ve: boolean;
}

export interface CapRow {
  name: string;
  number: number;
  /** KVM_CHECK_EXTENSION on /dev/kvm. */
  system: number;
  /** KVM_CHECK_EXTENSION on this VM's fd. */
  vm: number;
  note: string;
}

