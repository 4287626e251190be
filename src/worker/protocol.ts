/** Messages between the UI and the lab worker (the UI never runs the simulation itself). */
import type { Report } from '../sim/scenario/runner';

export type ToWorker = { kind: 'run'; id: number; scenario: unknown };
export type FromWorker =
  | { kind: 'report'; id: number; report: Report; inWorker: boolean }
  | { kind: 'invalid'; id: number; issues: { path: string; message: string }[] }
  | { kind: 'crash'; id: number; message: string };
