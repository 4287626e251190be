import { useEffect, useId, useLayoutEffect, useRef, useState } from 'react';
import { useLabClient } from '../../client-context';
import { NO_VMS } from '../../empty';
import { useLab } from '../../store';
import { sameVm, refOf } from '../../vm-ref';
import type { VmView } from '../../../sim/lab';
import type { AsmDiagnostic, AsmEditor } from './asm-editor';
import { draftsFor, setDraft, useDraft, useDraftStore } from './drafts';
import { Registers } from './Registers';
import { editedSource, originOf, programOf, programPath, withPrograms } from './scenario-edit';
import './guest-panel.css';

const DIAGNOSE_DELAY_MS = 300;
const NO_DIAGNOSTICS: readonly AsmDiagnostic[] = [];

/** The guest: its program in an editor, the registers (unless protected), the serial console (stepping is the toolbar's and the lesson bar's: one set of controls). */
export function GuestPanel() {
  const vms = useLab((s) => s.packet?.frame.vms ?? NO_VMS);
  const focus = useLab((s) => s.focusVm);
  const vm = vms.find((v) => sameVm(refOf(v), focus)) ?? vms[0];
  if (!vm) return <p className="note">Loading the guest…</p>;
  return <GuestView vm={vm} />;
}

function GuestView({ vm }: { vm: VmView }) {
  const client = useLabClient();
  const scenario = useLab((s) => s.scenario);
  const source = useLab((s) => s.source);
  const loadIssues = useLab((s) => s.loadIssues);
  const hostCount = useLab((s) => s.packet?.frame.hosts.length ?? 0);
  const drafts = useDraftStore();
  const draft = useDraft(drafts, scenario, vm.name);
  // A VM built by the scenario's steps (KVM_CREATE_VM ...) has no program in `vms`: shown, not editable.
  const inSpec = programOf(scenario, vm.name);
  const editable = inSpec !== null;
  const loaded = inSpec ?? vm.program ?? '';
  const text = draft ?? loaded;
  const dirty = draft !== undefined && draft !== loaded;
  const origin = originOf(scenario, vm.name);
  const errorsId = useId();

  // The assembler's verdict on the text in the editor, asked for a moment after the typing stops.
  const [checked, setChecked] = useState<{ text: string; origin: number; errors: readonly AsmDiagnostic[] } | null>(null);
  useEffect(() => {
    if (!editable) return;
    let live = true;
    const t = setTimeout(() => {
      void client.diagnose(text, origin).then((errors) => {
        if (live && errors) setChecked({ text, origin, errors });
      });
    }, DIAGNOSE_DELAY_MS);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [client, text, origin, editable]);
  const current = checked && checked.text === text && checked.origin === origin ? checked.errors : null;

  const [applyNote, setApplyNote] = useState<string | null>(null);
  const apply = async () => {
    const edits = draftsFor(drafts, scenario);
    setApplyNote('Loading…');
    const ok = await client.load(withPrograms(scenario, edits), editedSource(source));
    // On success the new scenario carries the text and the drafts of the old one no longer apply.
    setApplyNote(ok ? null : 'Not applied: the scenario has errors (listed below). Your text is kept.');
  };
  // The scenario's own complaint about this program, unless the editor already lists the assembler's errors.
  const issues = (loadIssues ?? []).filter((i) => i.path.startsWith(programPath(scenario, vm.name)) &&
    !(current?.length && i.message.startsWith('assembler:')));

  const editor = useAsmEditor({
    key: `${vm.host}\n${vm.name}`,
    doc: text,
    label: `Program of ${vm.name}`,
    describedBy: errorsId,
    nextLine: dirty ? null : vm.line,
    readOnly: !editable,
    diagnostics: current ?? NO_DIAGNOSTICS,
    onChange: (t) => setDraft(drafts, scenario, vm.name, t === loaded ? undefined : t),
  });

  return (
    <div className="guest" data-testid="guest-view" data-vm={vm.name} data-host={vm.host}>
      <div className="guest-bar">
        <span className="guest-vm">
          <strong>{vm.name}</strong> <span className="guest-type">{vm.isTd ? 'TD' : vm.type}</span>{hostCount > 1 && <span className="guest-type"> on {vm.host}</span>}
        </span>
        <span className="guest-next" data-testid="next-instruction">
          {vm.dead ? <span className="guest-dead">VM dead: {vm.dead}</span>
            : vm.instruction ? <>Next: <code>{vm.instruction}</code>{vm.line && !vm.instruction.includes(`line ${vm.line}`) ? ` (line ${vm.line})` : ''}</>
              : <span className="muted">No instruction pending</span>}
          {' · '}<span data-testid="instruction-count">{vm.instructions.toLocaleString('en')} instructions</span>
        </span>
      </div>

      <div className="guest-main">
        <section className="guest-program" aria-label={`${vm.name} program`}>
          <h3>Program{dirty && <span className="guest-edited"> · edited, not applied</span>}</h3>
          <div className="guest-editor" data-testid="program-editor">
            {!editor.ready && <pre className="guest-editor-fallback">{text}</pre>}
            <div className="guest-editor-host" ref={editor.host} />
          </div>
          {!editable ? <p className="muted guest-readonly">This VM is built by the scenario's steps; its program is part of a step, so it is shown here read-only.</p> : <div className="guest-apply">
            <button type="button" className="primary" disabled={!dirty || applyNote === 'Loading…'} onClick={() => void apply()}>Apply and restart</button>
            <button type="button" disabled={!dirty} onClick={() => setDraft(drafts, scenario, vm.name, undefined)}>Discard edits</button>
          </div>}
          <div id={errorsId} className="asm-status" aria-live="polite" data-testid="asm-errors">
            {applyNote && <p className="asm-apply-note">{applyNote}</p>}
            {current === null ? (dirty ? <p className="muted">Checking…</p> : null)
              : current.length === 0 ? (dirty ? <p className="asm-ok">Assembles without errors.</p> : null)
                : (
                  <ul className="asm-errors">
                    {current.map((e, i) => (
                      <li key={i}>
                        <button type="button" className="link" onClick={() => editor.reveal(e.line, e.column)}>
                          line {e.line}, column {e.column}
                        </button>: {e.message}
                      </li>
                    ))}
                  </ul>
                )}
            {issues.length > 0 && (
              <ul className="asm-errors">{issues.map((i, k) => <li key={k}>{i.message}</li>)}</ul>
            )}
          </div>
        </section>

        <div className="guest-side">
          {vm.vcpus.length > 0 && (
            <section aria-label={`${vm.name} vCPUs`}>
              <h3>vCPUs</h3>
              <VcpuList vcpus={vm.vcpus} />
            </section>
          )}
          <section aria-label={`${vm.name} registers`}>
            <h3>Registers{vm.vcpus.length > 1 ? ' (vCPU 0)' : ''}</h3>
            <Registers key={`${vm.host}\n${vm.name}`} vm={vm.name} regs={vm.regs} note={vm.regsNote} />
          </section>
          <section aria-label={`${vm.name} serial console`}>
            <h3>Serial console (COM1)</h3>
            <Console vm={vm.name} text={vm.console} />
          </section>
        </div>
      </div>
    </div>
  );
}

/** Each vCPU's run state (running, halted, sleeping when throttled, ...) and how much it ran. */
function VcpuList({ vcpus }: { vcpus: VmView['vcpus'] }) {
  return (
    <ul className="guest-vcpus" data-testid="vcpu-list">
      {vcpus.map((c) => (
        <li key={c.index} data-state={c.state}>
          <span className="guest-vcpu-index">vCPU {c.index}</span>{' '}
          <span className="guest-vcpu-state">{c.state}</span>{' '}
          <span className="muted">{c.instructions.toLocaleString('en')} instr.</span>
        </li>
      ))}
    </ul>
  );
}

/** The serial console, scrolled to its end as text arrives unless the reader scrolled up. */
function Console({ vm, text }: { vm: string; text: string }) {
  const ref = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <pre ref={ref} className="guest-console" tabIndex={0} aria-label={`${vm} serial console output`} data-testid="console"
      onScroll={(e) => {
        const el = e.currentTarget;
        atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
      }}>
      {text || <span className="muted">(nothing printed yet)</span>}
    </pre>
  );
}

interface EditorBinding {
  key: string;
  readOnly: boolean;
  doc: string;
  label: string;
  describedBy: string;
  nextLine: number | null;
  diagnostics: readonly AsmDiagnostic[];
  onChange: (text: string) => void;
}

/**
 * Bind the CodeMirror factory to React: created once (CodeMirror is loaded lazily, so it stays out of
 * the initial bundle), updated when the props change, destroyed on unmount.
 */
function useAsmEditor(p: EditorBinding) {
  const host = useRef<HTMLDivElement>(null);
  const ed = useRef<AsmEditor | null>(null);
  const [ready, setReady] = useState(false);
  const latest = useRef(p);
  useLayoutEffect(() => {
    latest.current = p;
  });

  useEffect(() => {
    let live = true;
    void import('./asm-editor').then(({ createAsmEditor }) => {
      if (!live || !host.current) return;
      const q = latest.current;
      ed.current = createAsmEditor(host.current, {
        doc: q.doc, label: q.label, describedBy: q.describedBy,
        onChange: (t) => latest.current.onChange(t),
      });
      setReady(true);
    });
    return () => {
      live = false;
      ed.current?.destroy();
      ed.current = null;
      setReady(false);
    };
  }, []);

  const { key, doc, label, nextLine, diagnostics, readOnly } = p;
  useEffect(() => {
    ed.current?.update({ key, doc, label, nextLine, diagnostics, readOnly });
  }, [ready, key, doc, label, nextLine, diagnostics, readOnly]);

  return {
    host,
    ready,
    reveal: (line: number, column: number) => ed.current?.reveal(line, column),
  };
}
