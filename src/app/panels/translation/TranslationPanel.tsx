import { PAGE_STATE_INFO } from '../../../sim/view-model';
import { useMemo } from 'react';
import { PAGE_STATE_COLORS } from '../../render/page-palette';
import { useLab } from '../../store';
import { findVm, parseVmKey, vmKey, vmLabel } from '../../vm-ref';
import type { VmFacts } from './format';
import { MemslotTable } from './MemslotTable';
import { PageMapView } from './PageMapView';
import { WalkView } from './WalkView';
import './translation.css';

/**
 * Address translation (GPA → HPA): per VM (side by side) a page map of its guest-physical space and
 * its memslots, the legend under them; below (or beside, when wide) the walk of the selected page.
 */
export function TranslationPanel() {
  // A string of keys (host and name), not the array: a new frame must not re-render the panel.
  const keys = useLab((s) => s.packet?.frame.vms.map((v) => vmKey({ host: v.host, vm: v.name })).join('\n') ?? '');
  const vmList = keys ? keys.split('\n') : [];
  return (
    <div className="tx">
      <div className="tx-main">
        <div className="tx-maps">
          <div className="tx-vms">
            {vmList.map((k) => <VmColumn key={k} vmKey={k} />)}
            {vmList.length === 0 && <p className="note">No scenario loaded.</p>}
          </div>
          <Legend />
        </div>
        <WalkView />
      </div>
    </div>
  );
}

function VmColumn({ vmKey: key }: { vmKey: string }) {
  const ref = useMemo(() => parseVmKey(key), [key]);
  const hostCount = useLab((s) => s.packet?.frame.hosts.length ?? 0);
  // The VM's view is new every frame; its memslots and TD facts rarely change. Select them as one
  // string (a primitive: stable for the store) and parse it only when it changes.
  const json = useLab((s) => {
    const v = findVm(s.packet?.frame, ref);
    return v ? JSON.stringify({ name: v.name, host: v.host, type: v.type, sharedBit: v.td ? v.td.sharedBit : -1, memslots: v.memslots } satisfies VmFacts) : '';
  });
  const vm = useMemo(() => (json ? (JSON.parse(json) as VmFacts) : null), [json]);
  if (!vm) return null;
  const label = vmLabel(ref, hostCount);
  return (
    <section className="tx-vm" aria-label={`${label}: memslots and page map`} data-host={vm.host} data-vm={vm.name}>
      <h3>
        {vm.name}{hostCount > 1 && <span className="tx-host"> on {vm.host}</span>} <small>{vm.type}{vm.sharedBit >= 0 ? ` · shared bit ${vm.sharedBit}` : ''}</small>
      </h3>
      <PageMapView vm={vm} />
      <MemslotTable vm={vm} />
    </section>
  );
}

function Legend() {
  const theme = useLab((s) => s.theme);
  const colors = PAGE_STATE_COLORS[theme];
  return (
    <ul className="tx-legend" aria-label="Page states">
      {PAGE_STATE_INFO.map((p) => (
        <li key={p.code} title={p.description}>
          <span className={p.code === 0 ? 'tx-swatch tx-swatch-none' : 'tx-swatch'} style={p.code === 0 ? undefined : { background: colors[p.code] }} aria-hidden="true" />
          {p.label}
          <span className="tx-sr-only">: {p.description}</span>
        </li>
      ))}
      <li><span className="tx-swatch tx-swatch-sel" aria-hidden="true" />selected page</li>
      <li><span className="tx-swatch tx-swatch-event" aria-hidden="true" />pages of the selected event</li>
    </ul>
  );
}
