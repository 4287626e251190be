/**
 * The layers a trace event belongs to, in the order the trace panel shows them. A leaf module
 * (imports nothing): core/trace.ts re-exports it, and the app reads it through src/sim/view-model.ts
 * without pulling the trace into the page's main chunk.
 */
export type Layer = 'guest' | 'tdx-module' | 'kvm' | 'vmm' | 'host' | 'link';
export const LAYERS: readonly Layer[] = ['guest', 'tdx-module', 'kvm', 'vmm', 'host', 'link'];
