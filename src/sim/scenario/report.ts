import type { SimEvent } from '../core/trace';
import type { RunExit } from '../kvm/run';
import type { SurfaceCount } from '../vmm/surface-view';
import type { MigrationInfo, MigrationRound } from '../vmm/migration/migration';
import type { MigrationParameters } from '../vmm/migration/params';
import type { PostcopySummary } from '../vmm/migration/postcopy';
import type { TdDesign } from '../vmm/migration/td-export';
import type { REPORT_FORMAT, REPORT_VERSION } from './report-json';

/** One migration in the report's summary: its setup, query-migrate at the end, and each round. */
export interface MigrationSummary {
  vm: string;
  to: string;
  link: string;
  parameters: MigrationParameters;
  capabilities: string[];
  info: MigrationInfo;
  rounds: MigrationRound[];
  /** A VM with private memory: the design its migration follows (the migrate step's td_design). */
  td_design?: TdDesign;
  /** A migration with postcopy-ram whose destination heard CMD_POSTCOPY_ADVISE. */
  postcopy?: PostcopySummary;
}

/** The report a scenario run produces (docs/scenario-format.md, "The report"). */

export type StepValue = number | string | boolean | null | Record<string, unknown> | unknown[];

/** The result of one step: what the call returned, as Linux would return it. */
export interface StepResult {
  step: number;
  do: string;
  ret: number;
  errno?: string;
  /** One sentence: why it failed, or what happened. */
  why?: string;
  value?: StepValue;
  exit?: RunExit;
  events: [number, number];
}

export interface VmSummary {
  name: string;
  /** The host the VM runs on. */
  host: string;
  type: string;
  memory: string;
  /**
   * Each vCPU: its run state (vmm/vcpu-thread.ts: running, halted, blocked, sleeping, paused,
   * panicked, stopped; `idle` for a VM built by hand, which has no VMM threads), instructions,
   * exits, and virtual ns spent in each state.
   */
  vcpus: VcpuSummary[];
  console: string;
  memslots: { slot: number; guest_phys_addr: string; memory_size: string; flags: number; userspace_addr: string; guest_memfd: number }[];
  privateGfns: number;
  mapped: { shared: number; private: number };
  td?: { hkid: number; attributes: string; gpaw: number; mrtd: string; pending: number; mapped: number; lifecycle: string };
  dead: string | null;
  instructions: number;
  /** For a VM the VMM built: its platform, the ACPI tables the guest found, the attack-surface figure. */
  platform?: { mode: string; boots: number; devices: string[]; acpi_tables: string[]; attack_surface: SurfaceCount };
}

export interface HostSummary {
  name: string;
  memory: string;
  frames_used: number;
  frames_by_owner: Record<string, number>;
}

export interface VcpuSummary {
  index: number;
  state: string;
  instructions: number;
  exits: number;
  time: Record<string, number>;
}

export interface LinkSummary {
  name: string;
  from: string;
  to: string;
  /** Bytes per virtual second. */
  bandwidth: number;
  /** Virtual nanoseconds. */
  latency: number;
  state: 'up' | 'down';
  /** Transfers delivered and failed, bytes delivered, times cut. */
  stats: { delivered: number; failed: number; bytesDelivered: number; cuts: number };
}

export interface Report {
  format: typeof REPORT_FORMAT;
  version: typeof REPORT_VERSION;
  title: string;
  seed: number;
  /** What the lab did to the scenario before running it (a version-1 file upgraded, ...). */
  notes: string[];
  results: StepResult[];
  events: SimEvent[];
  summary: {
    time_ns: number;
    /** The first host (the only one in a one-host scenario): as version-1 reports had it. */
    host: HostSummary;
    hosts: HostSummary[];
    links: LinkSummary[];
    vms: VmSummary[];
    /** Every migration the scenario started (absent when none), in the order they started. */
    migrations?: MigrationSummary[];
  };
}

/**
 * A trace saved from the lab's trace panel: a report with only the events it lists (and `notes`
 * saying which), so whatever reads a report's events reads it unchanged.
 */
export type TraceReport = Pick<Report, 'format' | 'version' | 'title' | 'seed' | 'notes' | 'events'>;
