import { useState, type ReactNode } from 'react';
import type { AttackSurfaceView } from '../../../sim/vmm/surface-view';
import { AcpiTree } from './AcpiTree';
import { DeviceTable } from './DeviceTable';
import { DIGESTS, type SectionId, type SurfaceStep } from './format';
import { MsrTable } from './MsrTable';
import { RangeLegend, RangeMap } from './RangeMap';
import { SurfaceCard } from './SurfaceCard';
import { BootLog, CapsTable, CpuidTable, ResetTable } from './tables';

const SECTIONS: readonly { id: SectionId; title: string }[] = [
  { id: 'devices', title: 'Devices' },
  { id: 'ports', title: 'Port map' },
  { id: 'mmio', title: 'MMIO map' },
  { id: 'acpi', title: 'ACPI tables' },
  { id: 'reset', title: 'Reset state' },
  { id: 'msrs', title: 'MSRs' },
  { id: 'cpuid', title: 'CPUID' },
  { id: 'caps', title: 'Capabilities' },
  { id: 'boot', title: 'Boot log' },
];

type Cell = (v: AttackSurfaceView, send: (step: SurfaceStep) => void) => ReactNode;

const CELLS: Record<Exclude<SectionId, 'reset'>, Cell> = {
  devices: (v, send) => <DeviceTable v={v} send={send} />,
  ports: (v) => <RangeMap vm={v.vm} kind="Port" ranges={v.ports} />,
  mmio: (v) => <RangeMap vm={v.vm} kind="MMIO" ranges={v.mmio} />,
  acpi: (v) => <AcpiTree vm={v.vm} tables={v.acpi} />,
  msrs: (v, send) => <MsrTable v={v} send={send} />,
  cpuid: (v) => <CpuidTable v={v} />,
  caps: (v) => <CapsTable v={v} />,
  boot: (v) => <BootLog v={v} />,
};

export interface SurfaceBodyProps {
  /** The VMs shown, in column order, by key (the keys of views, was and errors). */
  vms: readonly string[];
  /** A VM's name as shown, from its key (default: the key itself). */
  nameOf?: (key: string) => string;
  /** Each VM's view: undefined while it is being asked for, null when the lab has none. */
  views: Readonly<Record<string, AttackSurfaceView | null | undefined>>;
  /** Each VM's figure before it last changed. */
  was: Readonly<Record<string, number>>;
  /** The last refused command's message per VM. */
  errors: Readonly<Record<string, string>>;
  send: (step: SurfaceStep) => void;
}

/**
 * The attack-surface view: a card per VM with the single figure, then one collapsible section per
 * topic with the VMs side by side inside it, so the same table of each VM lines up.
 */
export function SurfaceBody({ vms, nameOf = (k) => k, views, was, errors, send }: SurfaceBodyProps) {
  const [open, setOpen] = useState<ReadonlySet<SectionId>>(() => new Set(['devices']));
  const ready = vms.map((n) => views[n]).filter((v): v is AttackSurfaceView => !!v);
  const scale = Math.max(0, ...ready.map((v) => v.surface.total));
  const toggle = (id: SectionId, isOpen: boolean) => setOpen((prev) => {
    if (prev.has(id) === isOpen) return prev;
    const next = new Set(prev);
    if (isOpen) next.add(id);
    else next.delete(id);
    return next;
  });

  return (
    <>
      <div className="vm-columns surface-cards">
        {vms.map((n) => {
          const v = views[n];
          return v
            ? <SurfaceCard key={n} v={v} was={was[n]} scale={scale} error={errors[n]} send={send} />
            : <section key={n} className="surface-card" aria-label={`Attack surface of ${nameOf(n)}`}><h3>{nameOf(n)}</h3><p className="note">{v === null ? `No VMM runs ${nameOf(n)}: the scenario makes its KVM calls itself, as a kernel selftest does, so no device, port, MSR handler or ACPI table is emulated for it and there is no attack surface to show.` : 'Asking the lab…'}</p></section>;
        })}
      </div>
      {ready.length > 0 && SECTIONS.map((s) => (
        <details key={s.id} className="surface-section" data-section={s.id} open={open.has(s.id)}
          onToggle={(e) => toggle(s.id, e.currentTarget.open)}>
          <summary>
            <span className="section-title">{s.title}</span>
            <span className="digest">{ready.map((v) => (ready.length > 1 ? `${v.vm}: ` : '') + DIGESTS[s.id](v)).join(' · ')}</span>
          </summary>
          {s.id === 'reset' ? <ResetTable views={ready} /> : <Columns id={s.id} views={ready} send={send} />}
        </details>
      ))}
    </>
  );
}

/** One section's content for each VM, side by side. */
function Columns({ id, views, send }: {
  id: Exclude<SectionId, 'reset'>;
  views: readonly AttackSurfaceView[];
  send: (step: SurfaceStep) => void;
}) {
  return (
    <>
      {(id === 'ports' || id === 'mmio') && <RangeLegend />}
      <div className="vm-columns">
        {views.map((v) => (
          <div key={v.vm} className="surface-cell" data-testid={`${id}-${v.vm}`}>
            {views.length > 1 && <h4>{v.vm}{v.isTd ? ' (TD)' : ''}</h4>}
            {CELLS[id](v, send)}
          </div>
        ))}
      </div>
    </>
  );
}
