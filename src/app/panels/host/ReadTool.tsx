import { useId, useState, type FormEvent } from 'react';
import type { StepResult } from '../../../sim/scenario/runner';
import { useLabClient } from '../../client-context';
import { HexDump } from './HexDump';
import { PAGE_SIZE, hex } from './owners';
import { VIA_LABELS, bytesOf, checkForm, explain, type FormInput, type Via } from './read-form';

export interface ReadToolVm {
  name: string;
  isTd: boolean;
  gfnCount: number;
  /** The shared bit's value for a TD (2^(GPAW-1)), else null. */
  sharedBit: number | null;
}

interface Outcome {
  /** The call as written, e.g. host_read(vm=td, gpa=0x102000, length=32, via=physical). */
  call: string;
  result: StepResult;
  input: FormInput;
  address: number;
  isTd: boolean;
  /** Poisoned lines in the frame read, if the frame was TD-owned (asked after the read). */
  poisoned: number;
  /** The sentence of the last trace event the call recorded. */
  traceText: string | null;
}

/** "Read as the host": a GPA of a VM (three ways) or an HPA, as a hex dump or a failure with its reason. */
export function ReadTool({ host, vms, namesakes, hostFrames, form, setForm, onShowFrame }: {
  /** The host that reads: an HPA is one of its frames, a VM one of its VMs. */
  host: string;
  /** Per VM name of this host, the other hosts that run a VM of that name. */
  namesakes: Readonly<Record<string, readonly string[]>>;
  vms: readonly ReadToolVm[];
  hostFrames: number;
  form: FormInput;
  setForm: (f: (prev: FormInput) => FormInput) => void;
  onShowFrame: (frame: number) => void;
}) {
  const client = useLabClient();
  const id = useId();
  const [problem, setProblem] = useState<{ field: string; message: string } | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  const vm = vms.find((v) => v.name === form.vm) ?? null;
  const gpaMode = form.mode === 'gpa';

  const set = <K extends keyof FormInput>(k: K, v: FormInput[K]) => {
    setProblem(null);
    setForm((f) => ({ ...f, [k]: v }));
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const check = checkForm(form, {
      hostFrames, vmBytes: (vm?.gfnCount ?? 0) * PAGE_SIZE, sharedBit: vm?.sharedBit ?? null, host, namesakesOn: namesakes[form.vm],
    });
    if (!check.ok) {
      setProblem({ field: check.field, message: check.message });
      // The result shown was for the previous input: under "Nothing was sent" it would look like this one's.
      setOutcome(null);
      return;
    }
    setProblem(null);
    setBusy(true);
    try {
      const r = await client.command(check.step);
      if (!r) return;
      if (!r.ok) {
        setProblem({ field: 'address', message: r.issues.map((i) => `${i.path}: ${i.message}`).join('; ') });
        return;
      }
      const v = (r.result.value ?? {}) as { hpa?: string };
      let poisoned = 0;
      if (r.result.ret !== -1 && v.hpa) {
        const info = await client.frameInfo(host, Math.floor(Number.parseInt(v.hpa.slice(2), 16) / PAGE_SIZE));
        if (info && info.hkid !== 0) poisoned = info.poisonedLines;
      }
      // The trace's own sentence for this call: the last event it recorded.
      const [a, b] = r.result.events;
      const traceText = b > a ? (await client.events(b - 1, b))?.[0]?.text ?? null : null;
      const { do: op, ...args } = check.step;
      const call = `${op}(${Object.entries(args).map(([k, x]) => `${k}=${typeof x === 'string' && k === 'data' ? JSON.stringify(x) : String(x)}`).join(', ')})`;
      setOutcome({ call, result: r.result, input: form, address: check.address, isTd: vm?.isTd ?? false, poisoned, traceText });
    } finally {
      setBusy(false);
    }
  };

  const err = (field: string) => (problem?.field === field ? `${id}-problem` : undefined);
  const viaOptions: Via[] = form.write ? ['vmm_mapping', 'physical'] : ['vmm_mapping', 'physical', 'guest_memfd'];

  return (
    <div className={`read-tool${form.write ? ' attack' : ''}`}>
      <form onSubmit={(e) => void submit(e)} noValidate aria-label={form.write ? 'Write as the host (attack)' : 'Read as the host'}>
        <fieldset className="row">
          <legend>Address</legend>
          <label className="check"><input type="radio" name={`${id}-mode`} checked={gpaMode} onChange={() => set('mode', 'gpa')} /> GPA of a VM</label>
          <label className="check"><input type="radio" name={`${id}-mode`} checked={!gpaMode} onChange={() => set('mode', 'hpa')} /> host-physical (HPA)</label>
        </fieldset>
        <div className="row">
          <label>
            VM{' '}
            <select value={form.vm} disabled={!gpaMode} onChange={(e) => set('vm', e.target.value)} aria-describedby={err('vm')}>
              {vms.map((v) => <option key={v.name} value={v.name}>{v.name}{v.isTd ? ' (TD)' : ''}</option>)}
            </select>
          </label>
          <label>
            {gpaMode ? 'GPA' : 'HPA'}{' '}
            <input className="mono addr" type="text" value={form.address} spellCheck={false} autoComplete="off"
              placeholder="0x102000" onChange={(e) => set('address', e.target.value)}
              aria-invalid={problem?.field === 'address'} aria-describedby={err('address')} />
          </label>
          {!form.write && (
            <label>
              length{' '}
              <input className="mono len" type="text" inputMode="numeric" value={form.length} onChange={(e) => set('length', e.target.value)}
                aria-invalid={problem?.field === 'length'} aria-describedby={err('length')} />
            </label>
          )}
        </div>
        <fieldset className="row" disabled={!gpaMode}>
          <legend>Via {!gpaMode && <span className="note">(an HPA is always read from physical memory)</span>}</legend>
          {viaOptions.map((v) => (
            <label key={v} className="check">
              <input type="radio" name={`${id}-via`} checked={gpaMode ? form.via === v : v === 'physical'} onChange={() => set('via', v)} /> {VIA_LABELS[v]}
            </label>
          ))}
        </fieldset>
        <div className="row">
          <label className="check attack-toggle">
            <input type="checkbox" checked={form.write} onChange={(e) => {
              const write = e.target.checked;
              setProblem(null);
              setForm((f) => ({ ...f, write, via: write && f.via === 'guest_memfd' ? 'physical' : f.via }));
            }} />
            Write as the host (attack)
          </label>
          {form.write && (
            <label>
              bytes{' '}
              <input className="mono data" type="text" value={form.data} spellCheck={false} onChange={(e) => set('data', e.target.value)}
                placeholder='text, or "hex:de ad"' aria-invalid={problem?.field === 'data'} aria-describedby={err('data')} />
            </label>
          )}
          <button type="submit" className={form.write ? 'danger' : 'primary'} disabled={busy}>
            {form.write ? 'Write (attack)' : 'Read as the host'}
          </button>
        </div>
        {form.write && (
          <p className="note attack-note">
            Attack: the host overwrites memory it does not own. Writing a TD&apos;s private line with the host&apos;s key poisons it; the TD takes a machine check when it next reads it.
          </p>
        )}
        {problem && <p id={`${id}-problem`} className="problem" role="alert">{problem.message} Nothing was sent.</p>}
      </form>
      {outcome && <OutcomeView o={outcome} onShowFrame={onShowFrame} />}
    </div>
  );
}

function OutcomeView({ o, onShowFrame }: { o: Outcome; onShowFrame: (f: number) => void }) {
  const r = o.result;
  const v = (r.value ?? {}) as { hex?: string; hpa?: string; td_owned_lines?: number; poisoned_lines?: number };
  const failed = r.ret === -1;
  const via = o.input.mode === 'hpa' ? 'hpa' : o.input.via;
  const sentence = explain(r, { via, isTd: o.isTd, write: o.input.write });
  const hpa = v.hpa ? Number.parseInt(v.hpa.slice(2), 16) : null;
  return (
    <section className={`outcome${failed ? ' failed' : ''}`} aria-label="Result" aria-live="polite" data-testid="read-result">
      <p className="call mono">
        {o.call} → <strong className={failed ? 'danger-text' : undefined}>{failed ? `-1 ${r.errno ?? ''}` : `ret ${r.ret}`}</strong>
      </p>
      <p className="why-sentence" data-testid="read-sentence">{sentence}</p>
      {o.poisoned > 0 && !o.input.write && (
        <p className="danger-text">{o.poisoned} line(s) of this frame are poisoned: the host still reads zeros, and the TD takes a machine check if it reads them.</p>
      )}
      {r.why && <p className="note">why: {r.why}</p>}
      {o.traceText && <p className="note">trace: {o.traceText}</p>}
      {!failed && v.hex !== undefined && (
        <HexDump bytes={bytesOf(v.hex)} base={o.input.mode === 'hpa' ? o.address : o.address}
          label={`${o.input.mode === 'hpa' ? 'HPA' : `GPA of ${o.input.vm}`} ${hex(o.address)}`} />
      )}
      {hpa !== null && (
        <p className="note">
          {o.input.mode === 'gpa' && <>Backed by HPA <span className="mono">{v.hpa}</span>. </>}
          <button type="button" className="link" onClick={() => onShowFrame(Math.floor(hpa / PAGE_SIZE))}>Show frame {hex(Math.floor(hpa / PAGE_SIZE))} in the map</button>
        </p>
      )}
    </section>
  );
}
