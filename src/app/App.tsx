import { useEffect, useRef, useState } from 'react';
import { PRESETS } from '../scenarios';
import type { Report } from '../sim/scenario/runner';
import type { FromWorker, ToWorker } from '../worker/protocol';

type Status = { kind: 'idle' } | { kind: 'running' } | { kind: 'done'; report: Report; inWorker: boolean } | { kind: 'error'; lines: string[] };

/**
 * The first screen of the lab: pick a lesson, run it in the lab worker, read what happened. The
 * panels (page maps, host view, guest, trace) come with the UI issue; this page already runs the
 * real simulation off the main thread.
 */
export function App() {
  const ids = Object.keys(PRESETS);
  const [preset, setPreset] = useState(ids[0]);
  const [status, setStatus] = useState<Status>({ kind: 'idle' });
  const worker = useRef<Worker | null>(null);
  const seq = useRef(0);

  useEffect(() => {
    const w = new Worker(new URL('../worker/lab.worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.id !== seq.current) return;
      if (m.kind === 'report') setStatus({ kind: 'done', report: m.report, inWorker: m.inWorker });
      else if (m.kind === 'invalid') setStatus({ kind: 'error', lines: m.issues.map((i) => `${i.path}: ${i.message}`) });
      else setStatus({ kind: 'error', lines: [`The simulation stopped: ${m.message}`] });
    };
    w.onerror = (e) => setStatus({ kind: 'error', lines: [`The lab worker failed: ${e.message}. Reload to restart it.`] });
    worker.current = w;
    return () => w.terminate();
  }, []);

  const run = () => {
    seq.current++;
    setStatus({ kind: 'running' });
    const msg: ToWorker = { kind: 'run', id: seq.current, scenario: PRESETS[preset] };
    worker.current?.postMessage(msg);
  };

  const lesson = PRESETS[preset] as { title: string; explanation: string };
  return (
    <main>
      <header>
        <h1>Guest Memory Lab</h1>
        <label>
          Lesson{' '}
          <select value={preset} onChange={(e) => { setPreset(e.target.value); setStatus({ kind: 'idle' }); }} aria-label="Lesson">
            {ids.map((id) => (
              <option key={id} value={id}>{(PRESETS[id] as { title: string }).title}</option>
            ))}
          </select>
        </label>
        <button onClick={run} disabled={status.kind === 'running'}>Run</button>
      </header>
      <section aria-label="About this lesson">
        <h2>{lesson.title}</h2>
        <p>{lesson.explanation}</p>
      </section>
      {status.kind === 'running' && <p role="status">Running in the lab worker…</p>}
      {status.kind === 'error' && (
        <section role="alert">{status.lines.map((l) => <p key={l}>{l}</p>)}</section>
      )}
      {status.kind === 'done' && <Results report={status.report} inWorker={status.inWorker} />}
    </main>
  );
}

function Results({ report, inWorker }: { report: Report; inWorker: boolean }) {
  const steps = (PRESETS[Object.keys(PRESETS).find((k) => (PRESETS[k] as { title: string }).title === report.title)!] as { steps: { note?: string }[] }).steps;
  return (
    <>
      <p className="meta" data-testid="ran-in">{inWorker ? 'Simulated in a web worker' : 'Simulated on the main thread'} · {report.events.length} events · {(report.summary.time_ns / 1000).toFixed(1)} µs of virtual time</p>
      <section aria-label="Steps">
        <h2>Steps</h2>
        <ol className="steps">
          {report.results.map((r) => (
            <li key={r.step} data-testid={`step-${r.step}`} className={r.ret === -1 ? 'failed' : 'ok'}>
              <code>{r.do}</code> → {r.ret === -1 ? <strong>-1 {r.errno}</strong> : <span>{String(r.ret)}</span>}
              {steps[r.step]?.note && <div className="note">{steps[r.step].note}</div>}
              {r.why && <div className="why">{r.why}</div>}
              {r.value && typeof r.value === 'object' && 'text' in r.value && (
                <pre className="bytes">{String((r.value as { hex: string }).hex)}{'\n'}{String((r.value as { text: string }).text)}</pre>
              )}
            </li>
          ))}
        </ol>
      </section>
      <section aria-label="Trace">
        <h2>Trace</h2>
        <ol className="trace">
          {report.events.slice(-400).map((e) => (
            <li key={e.seq} className={`layer-${e.layer}`}>
              <span className="layer">{e.layer}</span> <code>{e.name}</code> {e.vm && <em>{e.vm}</em>} — {e.text}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}
