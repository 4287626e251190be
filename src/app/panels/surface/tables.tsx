import type { AttackSurfaceView } from '../../../sim/vmm/surface-view';
import { isFlaggedLogLine, mergeReset } from './format';

/** The vCPU's state at reset, every VM shown side by side in one table so the differences line up. */
export function ResetTable({ views }: { views: readonly AttackSurfaceView[] }) {
  const rows = mergeReset(views);
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label="Reset state">
      <table className="data surface-table reset">
        <thead>
          <tr>
            <th scope="col" rowSpan={2}>Register</th>
            {views.map((v) => <th key={v.vm} scope="colgroup" colSpan={2}>{v.vm}{v.isTd ? ' (TD)' : ''}</th>)}
          </tr>
          <tr>
            {views.map((v) => [
              <th key={`${v.vm}-v`} scope="col">value</th>,
              <th key={`${v.vm}-s`} scope="col">set by</th>,
            ])}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.name}>
              <th scope="row" className="mono">{r.name}</th>
              {r.cells.map((c, i) => [
                <td key={`${i}-v`} className="mono">{c?.value ?? '—'}</td>,
                <td key={`${i}-s`}>{c?.setBy ?? ''}</td>,
              ])}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function CpuidTable({ v }: { v: AttackSurfaceView }) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={`CPUID of ${v.vm}`}>
      <table className="data surface-table cpuid">
        <thead>
          <tr>
            <th scope="col">Leaf.sub</th><th scope="col">Name · policy</th>
            <th scope="col">EAX</th><th scope="col">EBX</th><th scope="col">ECX</th><th scope="col">EDX</th>
            {v.isTd && <th scope="col">#VE</th>}
          </tr>
        </thead>
        <tbody>
          {v.cpuid.map((c) => (
            <tr key={`${c.leaf}.${c.subleaf}`}>
              <td className="mono">{c.leaf}.{c.subleaf}</td>
              <td className="wrap">{c.name}<div className="note">{c.policy}</div></td>
              <td className="mono">{c.eax}</td><td className="mono">{c.ebx}</td><td className="mono">{c.ecx}</td><td className="mono">{c.edx}</td>
              {v.isTd && <td>{c.ve ? <b>#VE</b> : 'no'}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** KVM_CHECK_EXTENSION asked of /dev/kvm and of this VM's fd: api.rst recommends the VM's answer. */
export function CapsTable({ v }: { v: AttackSurfaceView }) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={`Capabilities of ${v.vm}`}>
      <table className="data surface-table caps">
        <thead>
          <tr><th scope="col">Capability · note</th><th scope="col">Number</th><th scope="col">/dev/kvm</th><th scope="col">VM fd</th></tr>
        </thead>
        <tbody>
          {v.caps.map((c) => (
            <tr key={c.number} className={c.system !== c.vm ? 'differs' : undefined}>
              <td className="wrap"><span className="mono">{c.name}</span>{c.note && <div className="note">{c.note}</div>}</td>
              <td className="num">{c.number}</td>
              <td className="num mono">{c.system}</td>
              <td className="num mono">{c.vm}{c.system !== c.vm && <span className="badge">differs</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The guest's boot log; lines reporting errors or missing hardware are marked (✗) and highlighted. */
export function BootLog({ v }: { v: AttackSurfaceView }) {
  const lines = v.bootLog.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return (
    <pre className="boot-log" tabIndex={0} role="region" aria-label={`Boot log of ${v.vm}`} data-testid={`boot-log-${v.vm}`}>
      {lines.length === 0 ? <span className="note">The guest has not booted.</span> : lines.map((l, i) => isFlaggedLogLine(l)
        ? <mark key={i} className="flagged"><span className="flag" aria-hidden="true">✗ </span>{l}{'\n'}</mark>
        : <span key={i}><span className="flag" aria-hidden="true">{'  '}</span>{l}{'\n'}</span>)}
    </pre>
  );
}
