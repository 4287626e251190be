import { NO_VMS } from '../../empty';
import { useLab } from '../../store';

/** The guest: its program, registers (unless protected) and serial console. */
export function GuestPanel() {
  const vms = useLab((s) => s.packet?.frame.vms ?? NO_VMS);
  return (
    <div className="vm-columns">
      {vms.map((v) => (
        <div key={v.name}>
          <h3>{v.name}</h3>
          <p>rip {v.rip ?? '—'} · {v.instructions.toLocaleString('en')} instructions</p>
          {v.regs ? <pre className="regs">{Object.entries(v.regs).map(([k, x]) => `${k.padEnd(4)} ${x}`).join('\n')}</pre> : <p className="note">{v.regsNote}</p>}
          <pre className="console" aria-label={`${v.name} serial console`}>{v.console}</pre>
        </div>
      ))}
    </div>
  );
}
