import { useEffect, useId, useState } from 'react';
import type { WalkHop } from '../../../sim/inspect';
import { useLabClient } from '../../client-context';
import { useLab } from '../../store';
import { findPages, findVm } from '../../vm-ref';
import { PAGE_SIZE, hex } from './format';

/** Page states whose GFN is shared by attribute (src/sim/inspect.ts PageState 1, 3, 4). */
const SHARED_STATES = new Set([1, 3, 4]);

type Access = 'auto' | 'private' | 'shared';

/**
 * The translation walk of the selected page, hop by hop (GPA → memslot → attribute → backing → EPT or
 * Secure EPT → host frame), as plain HTML so that screen readers read it. It is fetched again when a
 * new frame may have changed the page (a new event, or a new state code for it).
 */
export function WalkView() {
  const client = useLabClient();
  const vm = useLab((s) => s.selection?.vm ?? null);
  const host = useLab((s) => s.selection?.host ?? null);
  const hostCount = useLab((s) => s.packet?.frame.hosts.length ?? 0);
  const gfn = useLab((s) => s.selection?.gfn ?? -1);
  const eventCount = useLab((s) => s.packet?.frame.eventCount ?? 0);
  const pausedFrame = useLab((s) => (s.packet && !s.packet.playing ? s.packet.n : -1));
  const state = useLab((s) => {
    const sel = s.selection;
    const p = findPages(s.packet, sel);
    return p && sel && sel.gfn < p.states.length ? p.states[sel.gfn] : -1;
  });
  const sharedBit = useLab((s) => findVm(s.packet?.frame, s.selection)?.td?.sharedBit ?? -1);
  const [access, setAccess] = useState<Access>('auto');
  const [walk, setWalk] = useState<{ key: string; hops: WalkHop[] } | null>(null);
  const headingId = useId();

  const isTd = sharedBit >= 0;
  const viaShared = isTd && (access === 'shared' || (access === 'auto' && SHARED_STATES.has(state)));
  const gpa = gfn < 0 ? -1 : gfn * PAGE_SIZE + (viaShared ? 2 ** sharedBit : 0);
  const key = JSON.stringify([host, vm, gpa]);
  // While the guest runs, refresh on events and on this page's state; when paused, on every frame
  // (a command, a step, a restart: all publish one).
  const version = `${eventCount}:${state}:${pausedFrame}`;

  useEffect(() => {
    if (vm === null || host === null || gpa < 0) return;
    let live = true;
    void client.walk({ host, vm }, gpa).then((hops) => {
      if (live && hops) setWalk({ key, hops });
    });
    return () => {
      live = false;
    };
  }, [client, host, vm, gpa, key, version]);

  if (vm === null || host === null || gfn < 0) {
    return (
      <section className="tx-walk" aria-labelledby={headingId}>
        <h3 id={headingId}>Translation walk</h3>
        <p className="note">Select a page in a map to follow its GPA to a host frame: memslot, attribute, backing, EPT or Secure EPT, frame.</p>
      </section>
    );
  }
  const hops = walk?.key === key ? walk.hops : null;
  const failed = hops?.findIndex((h) => !h.ok) ?? -1;
  return (
    <section className="tx-walk" aria-labelledby={headingId} data-testid="walk" data-host={host} data-vm={vm}>
      <h3 id={headingId}>
        Walk of GPA <span className="mono">{hex(gpa)}</span> in {vm}{hostCount > 1 && <> on {host}</>}
      </h3>
      {isTd && (
        <fieldset className="tx-access">
          <legend>The TD accesses the page through</legend>
          {(['auto', 'private', 'shared'] as const).map((a) => (
            <label key={a}>
              <input type="radio" name={`${headingId}-access`} value={a} checked={access === a} onChange={() => setAccess(a)} />
              {a === 'auto' ? 'its current attribute' : a === 'private' ? 'the private GPA' : `the shared alias (bit ${sharedBit} set)`}
            </label>
          ))}
        </fieldset>
      )}
      {!hops ? (
        <p className="note">Walking…</p>
      ) : (
        <ol className="tx-hops">
          {hops.map((h, i) => (
            <li key={`${h.hop}-${i}`} className={h.ok ? 'hop' : 'hop hop-bad'} data-hop={h.hop}>
              <div className="hop-head">
                <span className="hop-n" aria-hidden="true">{i + 1}</span>
                <span className="hop-title">{h.title}</span>
                {!h.ok && <span className="hop-flag">✗ {i === failed ? 'stops here' : 'not usable'}</span>}
              </div>
              <table className="tx-kv">
                <tbody>
                  {Object.entries(h.fields).map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row" className="mono">{k}</th>
                      <td className={typeof v === 'string' ? 'mono' : undefined}>{String(v)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="hop-text">{h.text}</p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
