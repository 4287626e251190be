import type { AttackSurfaceView } from '../../../sim/vmm/surface-view';
import { rangeText, type SurfaceStep } from './format';

const HANDLER_TEXT = { kvm: 'KVM', vmm: 'VMM' } as const;

/** One switch per device (applied at the next boot), with where it lives and who answers it. */
export function DeviceTable({ v, send }: { v: AttackSurfaceView; send: (step: SurfaceStep) => void }) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={`Devices of ${v.vm}`}>
      <table className="data surface-table devices">
        <thead>
          <tr>
            <th scope="col">Device (on at next boot)</th>
            <th scope="col">Ports · MMIO</th>
            <th scope="col">IRQ</th>
            <th scope="col" title="KVM in the host kernel, or the VMM process">Answered by</th>
            <th scope="col">PNP ID</th>
          </tr>
        </thead>
        <tbody>
          {v.devices.map((d) => (
            <tr key={d.id} className={d.enabled ? undefined : 'off'} data-testid={`device-${d.id}`}>
              <td>
                <label className="switch">
                  <input type="checkbox" role="switch" checked={d.enabled} disabled={!d.canToggle}
                    onChange={(e) => send({ do: 'set_device', vm: v.vm, device: d.id, enabled: e.target.checked })} />
                  <span>{d.name}</span>
                  <span className="switch-state">{d.enabled ? 'on' : 'off'}</span>
                  {d.frozen && <span className="badge frozen">frozen</span>}
                </label>
                {d.forcedOff && <div className="note wrap">{d.forcedOff}</div>}
              </td>
              <td className="mono where">
                {d.ports.map((r) => <span key={`p${r.start}`} title={r.name}>{rangeText(r)}</span>)}
                {d.mmio.map((r) => <span key={`m${r.start}`} title={r.name}>{rangeText(r)}</span>)}
                {d.ports.length + d.mmio.length === 0 && <span className="note">none</span>}
              </td>
              <td>{d.irq ?? '—'}</td>
              <td>{HANDLER_TEXT[d.handler]}</td>
              <td className="mono">{d.pnpId ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
