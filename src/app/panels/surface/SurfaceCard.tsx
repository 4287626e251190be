import { useId } from 'react';
import type { DesignMode } from '../../../sim/vmm/devices/types';
import type { AttackSurfaceView } from '../../../sim/vmm/surface-view';
import { noun } from '../../format';
import { DESIGN_TEXT, type SurfaceStep } from './format';

/**
 * The top of one VM's column: the single figure (ranges and MSRs through which the guest reaches host
 * code), the design mode, the allow-list and freeze status, and the reboot that applies pending changes.
 */
export function SurfaceCard({ v, was, scale, error, send }: {
  v: AttackSurfaceView;
  /** The figure before it last changed, to show the drop. */
  was: number | undefined;
  /** The largest total among the VMs shown, so the bars compare. */
  scale: number;
  error: string | undefined;
  send: (step: SurfaceStep) => void;
}) {
  const id = useId();
  const s = v.surface;
  const pending = v.needsReboot.length > 0;
  // The radios say what the next boot will be, like the device switches; the status line says what runs.
  const next = v.nextMode;
  const freezeWhy = v.mode !== 'talk'
    ? next === 'talk'
      ? "Freezing device state is the talk's proposal: reboot to start it."
      : "Freezing device state is the talk's proposal: choose it as the design and reboot."
    : v.frozen ? 'Device state is frozen.' : null;
  const seg = (n: number) => `${scale > 0 ? (100 * n) / scale : 0}%`;
  return (
    <section className="surface-card" aria-labelledby={`${id}-title`} data-testid={`surface-card-${v.vm}`}>
      <h3 id={`${id}-title`}>{v.vm} <small>{v.isTd ? 'TD' : v.type}</small></h3>
      <div className="figure-row">
        <p className="figure" data-testid="surface-figure">
          <span className="figure-total" data-testid="surface-total">{s.total}</span>
          <span className="figure-words">
            ways into host code
            {was !== undefined && was !== s.total && (
              <span className={`figure-delta ${s.total < was ? 'down' : 'up'}`}>
                {s.total < was ? '▼ down' : '▲ up'} from {was}
              </span>
            )}
          </span>
        </p>
        <p className="figure-parts">
          <span className="part ports"><b>{s.ports}</b> {noun(s.ports, 'port range')}</span>
          <span className="part mmio"><b>{s.mmio}</b> {noun(s.mmio, 'MMIO range')}</span>
          <span className="part msrs"><b>{s.msrs}</b> {noun(s.msrs, 'MSR')}</span>
        </p>
      </div>
      <div className="figure-bar" aria-hidden="true">
        <span className="seg ports" style={{ width: seg(s.ports) }} />
        <span className="seg mmio" style={{ width: seg(s.mmio) }} />
        <span className="seg msrs" style={{ width: seg(s.msrs) }} />
      </div>
      <div className="card-controls">
        <fieldset className="design">
          <legend>Design (next boot)</legend>
          {(['upstream', 'talk'] as DesignMode[]).map((m) => (
            <label key={m} className="check">
              <input type="radio" name={`${id}-mode`} checked={next === m}
                onChange={() => send({ do: 'set_design_mode', vm: v.vm, mode: m })} />
              {DESIGN_TEXT[m]}
            </label>
          ))}
        </fieldset>
        {/* Each "label: value" stays on one line when the card is narrow. */}
        <p className="status-line" data-testid="surface-status">
          <span>Running: <b>{DESIGN_TEXT[v.mode]}</b></span> · <span>Allow-list: <b>{v.allowList ? 'in force' : 'none'}</b></span>
          {' · '}<span>Device state: <b>{v.frozen ? 'frozen' : 'live'}</b></span> · <span>Boot {v.boots}</span>
        </p>
        <div className="freeze">
          <button type="button" disabled={freezeWhy !== null} aria-describedby={freezeWhy ? `${id}-freeze` : undefined}
            onClick={() => send({ do: 'freeze_devices', vm: v.vm })}>
            Freeze devices
          </button>
          {freezeWhy && <span id={`${id}-freeze`} className="note">{freezeWhy}</span>}
        </div>
      </div>
      <div className={`reboot${pending ? ' pending' : ''}`} data-testid="reboot">
        <p role="status" className={pending ? undefined : 'note'}>
          {pending ? <><strong>Needs a reboot:</strong> {v.needsReboot.join(', ')}</> : 'Running the configuration it booted with.'}
        </p>
        <button type="button" className={pending ? 'primary' : undefined} onClick={() => send({ do: 'reboot', vm: v.vm })}>
          Reboot {v.vm}
        </button>
      </div>
      {error && <p className="problem" role="alert">{error}</p>}
    </section>
  );
}
