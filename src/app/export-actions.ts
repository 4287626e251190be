/**
 * The exports as entries of the action registry (actions.ts): the trace as CSV or as JSON in the
 * report's shape, the whole report as the CLI prints it, the page map as PNG, the migration chart as
 * SVG or PNG. The panels that show what is exported draw the same entries as buttons (ExportButton).
 * An entry is disabled, with the reason as its tooltip, while the panel it exports is not shown.
 */
import type { Action } from './action-types';
import { exportChartPng, exportChartSvg, exportMapPng, exportReport, exportTraceCsv, exportTraceJson } from './export';
import type { LabState } from './store';

const plain = (e: KeyboardEvent) => !e.ctrlKey && !e.metaKey && !e.altKey;
const key = (k: string, shift: boolean) => (e: KeyboardEvent) => plain(e) && e.shiftKey === shift && e.key.toLowerCase() === k;
const ready = (s: LabState) => s.status === 'ready' && s.packet !== null;
/** Whether a panel is on screen in the memory view (the grid, or that panel maximised). */
const shown = (s: LabState, ...panels: LabState['maximized'][]) => s.view === 'memory' && (s.maximized === null || panels.includes(s.maximized));
const hasMigration = (s: LabState) => (s.packet?.frame.migrations.length ?? 0) > 0;

function why(s: LabState, panel: string, ...panels: LabState['maximized'][]): string | null {
  if (!ready(s)) return 'No lesson is loaded yet.';
  if (s.view !== 'memory') return `The ${panel} is in the memory view: press V.`;
  if (!shown(s, ...panels)) return `The ${panel} is not shown: restore the grid (Esc).`;
  return null;
}

type ExportAction = Omit<Action, 'why' | 'enabled'> & { why: (s: LabState) => string | null };

const traceWhy = (s: LabState) => why(s, 'trace panel', 'trace');
const mapWhy = (s: LabState) => why(s, 'page map', 'translation', 'migration', 'host');
const chartWhy = (s: LabState) => why(s, 'migration chart', 'migration') ?? (hasMigration(s) ? null : 'No migration yet: the chart appears once one starts.');

const ENTRIES: readonly ExportAction[] = [
  {
    id: 'export-trace-csv', label: 'Save the trace as CSV (the rows listed)', short: 'CSV', shortcut: 'O', group: 'export',
    keyTest: key('o', false), why: traceWhy, perform: ({ store }) => void exportTraceCsv(store),
  },
  {
    id: 'export-trace-json', label: 'Save the trace as JSON (the rows listed, in the report\'s shape)', short: 'JSON', shortcut: 'Shift+O', group: 'export',
    keyTest: key('o', true), why: traceWhy, perform: ({ store }) => void exportTraceJson(store),
  },
  {
    id: 'export-report', label: 'Save the whole report (as npm run sim prints it)', short: 'Report', shortcut: 'W', group: 'export',
    keyTest: key('w', false), why: (s) => (ready(s) ? null : 'No lesson is loaded yet.'),
    perform: ({ store, client }) => void exportReport(store, () => client.report()),
  },
  {
    id: 'export-map-png', label: 'Save the focused VM\'s page map as PNG (as shown, at its zoom)', short: 'PNG', shortcut: 'K', group: 'export',
    keyTest: key('k', false), why: mapWhy, perform: ({ store }) => void exportMapPng(store),
  },
  {
    // No key of its own: the PNG has Shift+K (slides want a picture); the SVG is a click away beside it.
    id: 'export-chart-svg', label: 'Save the migration chart as SVG', short: 'SVG', shortcut: '', group: 'export',
    keyTest: () => false, why: chartWhy, perform: ({ store }) => void exportChartSvg(store),
  },
  {
    id: 'export-chart-png', label: 'Save the migration chart as PNG', short: 'PNG', shortcut: 'Shift+K', group: 'export',
    keyTest: key('k', true), why: chartWhy, perform: ({ store }) => void exportChartPng(store),
  },
];

export const EXPORT_ACTIONS: readonly Action[] = ENTRIES.map((a) => ({ ...a, enabled: (s: LabState) => a.why(s) === null }));

export const exportAction = (id: string): Action => {
  const a = EXPORT_ACTIONS.find((x) => x.id === id);
  if (!a) throw new Error(`no export action "${id}"`);
  return a;
};
