import { useState } from 'react';
import type { AttackSurfaceView, MsrRow } from '../../../sim/vmm/surface-view';
import { checkMsrValue, parseMsrIndex, type SurfaceStep } from './format';

const TD_CLASS_TEXT = { native: 'native', ve: '#VE', gp: '#GP' } as const;

type Send = (step: SurfaceStep) => void;

/**
 * The MSRs of one VM: where a read and a write go, and the policy the user can change per MSR: the
 * KVM_X86_SET_MSR_FILTER bit for each direction, and the talk's extra constraint (read-only, fixed).
 */
export function MsrTable({ v, send }: { v: AttackSurfaceView; send: Send }) {
  const f = v.msrFilter;
  return (
    <>
      <p className="note wrap">
        {f
          ? <>KVM_X86_SET_MSR_FILTER: default <b>{f.defaultAllow ? 'allow' : 'deny'}</b>
            {f.ranges.length > 0 && <>; ranges {f.ranges.map((r) => `${r.base} +${r.nmsrs} (${r.flags})`).join(', ')}</>}
            {f.userSpaceMsr.length > 0 && <>; KVM_CAP_X86_USER_SPACE_MSR: {f.userSpaceMsr.join(', ')}</>}</>
          : 'No MSR filter is set (KVM_X86_SET_MSR_FILTER not called).'}
      </p>
      <div className="table-scroll" tabIndex={0} role="region" aria-label={`MSRs of ${v.vm}`}>
        <table className="data surface-table msrs">
          <thead>
            <tr>
              <th scope="col">MSR</th>
              <th scope="col">Purpose · read path · write path</th>
              {v.isTd && <th scope="col">TDX module</th>}
              <th scope="col">Policy</th>
              <th scope="col">Reaches host</th>
              <th scope="col">Accesses</th>
            </tr>
          </thead>
          <tbody>
            {v.msrs.map((m) => <MsrLine key={m.index} vm={v.vm} isTd={v.isTd} m={m} send={send} />)}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** Rows whose policy differs from the default stand out in a table of dozens of MSRs. */
const rowClass = (m: MsrRow) => [
  m.reachesHost && 'reaches',
  (m.filter.read === 'deny' || m.filter.write === 'deny' || m.constraint) && 'policy-set',
].filter(Boolean).join(' ') || undefined;

function MsrLine({ vm, isTd, m, send }: { vm: string; isTd: boolean; m: MsrRow; send: Send }) {
  const msr = parseMsrIndex(m.index);
  const who = `${m.name} (${m.index})`;
  const policy = (p: Omit<Extract<SurfaceStep, { do: 'set_msr_policy' }>, 'do' | 'vm' | 'msr'>) => {
    if (msr !== null) send({ do: 'set_msr_policy', vm, msr, ...p });
  };
  return (
    <tr className={rowClass(m)} data-testid={`msr-${m.index}`}>
      <td><span className="mono">{m.index}</span><br /><b>{m.name}</b></td>
      <td className="wrap paths">
        {m.purpose}
        <div><span className="note">read:</span> {m.readPath}</div>
        <div><span className="note">write:</span> {m.writePath}</div>
      </td>
      {isTd && <td>{m.tdClass ? TD_CLASS_TEXT[m.tdClass] : '—'}</td>}
      <td>
        <div className="policy">
          <span className="policy-row">
            <span>read</span>
            <select aria-label={`Filter read of ${who}`} className={m.filter.read} value={m.filter.read} disabled={msr === null}
              onChange={(e) => policy({ read: e.target.value as 'allow' | 'deny' })}>
              <option value="allow">allow</option>
              <option value="deny">deny</option>
            </select>
          </span>
          <span className="policy-row">
            <span>write</span>
            <select aria-label={`Filter write of ${who}`} className={m.filter.write} value={m.filter.write} disabled={msr === null}
              onChange={(e) => policy({ write: e.target.value as 'allow' | 'deny' })}>
              <option value="allow">allow</option>
              <option value="deny">deny</option>
            </select>
          </span>
          <ConstraintControl who={who} m={m} disabled={msr === null} policy={policy} />
        </div>
      </td>
      <td>{m.reachesHost ? <b>yes</b> : 'no'}</td>
      <td className="num">{m.accesses.toLocaleString('en')}</td>
    </tr>
  );
}

/** none / read-only apply at once; fixed asks for the value first. */
function ConstraintControl({ who, m, disabled, policy }: {
  who: string;
  m: MsrRow;
  disabled: boolean;
  policy: (p: { constraint: 'none' | 'read-only' | 'fixed'; value?: string }) => void;
}) {
  const current = m.constraint?.kind ?? 'none';
  const [editing, setEditing] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const shown = editing !== null ? 'fixed' : current;
  const submit = () => {
    const value = checkMsrValue(editing ?? '');
    if (value === null) {
      setProblem('Give a 64-bit value, e.g. 0x0 or 42.');
      return;
    }
    setProblem(null);
    setEditing(null);
    policy({ constraint: 'fixed', value });
  };
  const choose = (k: 'none' | 'read-only' | 'fixed') => {
    setProblem(null);
    if (k === 'fixed') setEditing(m.constraint?.kind === 'fixed' ? m.constraint.value : '0x0');
    else {
      setEditing(null);
      policy({ constraint: k });
    }
  };
  return (
    <div className="constraint">
      <span className="policy-row">
        <span>constraint</span>
        <select aria-label={`Constraint on ${who}`} value={shown} disabled={disabled}
          onChange={(e) => choose(e.target.value as 'none' | 'read-only' | 'fixed')}>
          <option value="none">none</option>
          <option value="read-only">read-only</option>
          <option value="fixed">fixed</option>
        </select>
      </span>
      {editing === null && m.constraint?.kind === 'fixed' && (
        <span className="fixed-now">
          = <span className="mono">{m.constraint.value}</span>{' '}
          <button type="button" className="link" aria-label={`Change the fixed value of ${who}`}
            onClick={() => choose('fixed')}>change</button>
        </span>
      )}
      {editing !== null && (
        <form className="fixed-value" onSubmit={(e) => { e.preventDefault(); submit(); }}>
          <input className="mono" type="text" value={editing} spellCheck={false} aria-label={`Fixed value of ${who}`}
            aria-invalid={problem !== null} onChange={(e) => setEditing(e.target.value)} />
          <button type="submit">Set</button>
          <button type="button" className="link" onClick={() => { setEditing(null); setProblem(null); }}>Cancel</button>
          {problem && <span className="problem" role="alert">{problem}</span>}
        </form>
      )}
    </div>
  );
}
