/// <reference lib="webworker" />
import { ScenarioRun } from '../sim/scenario/runner';
import { ScenarioError } from '../sim/scenario/schema';
import type { FromWorker, ToWorker } from './protocol';

const post = (m: FromWorker): void => (self as unknown as DedicatedWorkerGlobalScope).postMessage(m);

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.kind !== 'run') return;
  try {
    const report = ScenarioRun.fromJson(m.scenario).runAll();
    post({ kind: 'report', id: m.id, report, inWorker: typeof (self as { document?: unknown }).document === 'undefined' });
  } catch (e) {
    if (e instanceof ScenarioError) post({ kind: 'invalid', id: m.id, issues: e.issues });
    else post({ kind: 'crash', id: m.id, message: e instanceof Error ? e.message : String(e) });
  }
};
