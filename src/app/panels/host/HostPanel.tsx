import { useCallback, useEffect, useMemo, useState } from 'react';
import { primaryHost, secondHost, setSideBySide, useLab, useLabStore } from '../../store';
import { FrameMapView } from './FrameMapView';
import { PAGE_SIZE, hex, type OwnerVm } from './owners';
import { ReadTool, type ReadToolVm } from './ReadTool';
import type { FormInput } from './read-form';
import { VmmSpaces } from './VmmSpaces';
import './host.css';

const INITIAL_FORM: FormInput = { mode: 'gpa', vm: '', address: '0x100000', length: '32', via: 'vmm_mapping', write: false, data: 'hex:ff' };

/** The VMs of one host as a string (compared by value: a new frame with the same VMs renders nothing). */
const vmsOf = (host: string) => (s: Parameters<typeof primaryHost>[0]) =>
  s.packet?.frame.vms.filter((v) => v.host === host).map((v) => [v.name, v.isTd ? 1 : 0, v.gfnCount, v.td ? v.td.sharedBit : -1].join('\t')).join('\n') ?? '';

function parseVms(key: string): ReadToolVm[] {
  return (key ? key.split('\n') : []).map((line) => {
    const [name, td, gfns, bit] = line.split('\t');
    return { name, isTd: td === '1', gfnCount: Number(gfns), sharedBit: Number(bit) >= 0 ? 2 ** Number(bit) : null };
  });
}

/** The host view's title: the host (or the two hosts) it is about. */
export function HostTitle() {
  const primary = useLab(primaryHost);
  const second = useLab(secondHost);
  if (!primary) return null;
  return <span className="panel-subtitle" data-testid="host-title">: {second ? `${primary} and ${second}` : primary}</span>;
}

/**
 * Host view (host-unmapped memory): who owns each host frame, the VMM's address space, and a tool
 * to read (or, as an attack, write) guest memory the way a privileged host would. With several
 * hosts, a picker chooses the host it is about, and side by side shows a second host's frames.
 */
export function HostPanel() {
  const store = useLabStore();
  const focus = useLab((s) => s.focusVm);
  const host = useLab(primaryHost);
  const second = useLab(secondHost);
  const hostFrames = useLab((s) => s.packet?.frame.hosts.find((h) => h.name === host)?.frames ?? 0);
  const vmKey = useLab(vmsOf(host));
  const vms = useMemo(() => parseVms(vmKey), [vmKey]);
  // VM names of this host that other hosts use too (a string: compared by value).
  const namesakeKey = useLab((s) => {
    const all = s.packet?.frame.vms ?? [];
    return all.filter((v) => v.host === host && all.some((w) => w.host !== host && w.name === v.name))
      .map((v) => [v.name, ...all.filter((w) => w.host !== host && w.name === v.name).map((w) => w.host)].join('\t')).join('\n');
  });
  const namesakes = useMemo(() => Object.fromEntries((namesakeKey ? namesakeKey.split('\n') : []).map((l) => {
    const [name, ...hosts] = l.split('\t');
    return [name, hosts];
  })), [namesakeKey]);

  const [form, setForm] = useState<FormInput>(INITIAL_FORM);
  useEffect(() => {
    if (focus && focus.host === host) setForm((f) => ({ ...f, vm: focus.vm }));
  }, [focus, host]);
  // The read tool acts on this host: its VM is one of this host's.
  const focusHere = focus && focus.host === host ? focus.vm : null;
  const vm = vms.some((v) => v.name === form.vm) ? form.vm : (focusHere ?? vms[0]?.name ?? '');
  const shownForm = vm === form.vm ? form : { ...form, vm };

  const selectFrame = useCallback((h: string, frame: number) => store.setState({ selectedFrame: { host: h, frame } }), [store]);
  /** A frame chosen in this host's map fills the read tool's HPA. */
  const pickFrame = useCallback((h: string, frame: number) => {
    selectFrame(h, frame);
    if (h === host) setForm((f) => ({ ...f, mode: 'hpa', address: hex(frame * PAGE_SIZE) }));
  }, [selectFrame, host]);
  const useGpa = useCallback((h: string, vmName: string, gpa: string) => {
    // The read tool is the first host's: a frame of the second makes that host the first (they swap).
    if (h !== host) store.setState((s) => ({ focusHost: h, compareHost: s.compareHost ? host : null }));
    setForm((f) => ({ ...f, mode: 'gpa', vm: vmName, address: gpa }));
  }, [store, host]);

  if (!hostFrames) return <p className="note">Waiting for the lab…</p>;
  return (
    <div className={`host-panel${second ? ' side-by-side' : ''}`}>
      <HostPicker host={host} second={second} />
      {second ? (
        <div className="host-pair" data-testid="host-pair">
          <HostMap host={host} onPick={pickFrame} onUseGpa={useGpa} />
          <HostMap host={second} onPick={pickFrame} onUseGpa={useGpa} />
        </div>
      ) : null}
      <div className="host-grid">
        {!second && <HostMap host={host} onPick={pickFrame} onUseGpa={useGpa} />}
        <section className="host-read" aria-labelledby="host-read-title">
          <h3 id="host-read-title">{form.write ? `Write as ${host} (attack)` : `Read as ${host}`}</h3>
          <ReadTool host={host} vms={vms} namesakes={namesakes} hostFrames={hostFrames} form={shownForm} onShowFrame={(f) => selectFrame(host, f)}
            setForm={(f) => setForm((prev) => f(prev.vm === vm ? prev : { ...prev, vm }))} />
        </section>
      </div>
      <section className="host-vmm" aria-labelledby="host-vmm-title">
        <h3 id="host-vmm-title">The VMM&apos;s address space on {host}: which guest pages it maps</h3>
        <VmmSpaces key={host} host={host} />
      </section>
    </div>
  );
}

/** One host's frame map with its title and legend (its own renderer). */
function HostMap({ host, onPick, onUseGpa }: { host: string; onPick: (host: string, frame: number) => void; onUseGpa: (host: string, vm: string, gpa: string) => void }) {
  const vmKey = useLab(vmsOf(host));
  const ownerVms = useMemo<OwnerVm[]>(() => parseVms(vmKey).map((v) => ({ name: v.name, isTd: v.isTd })), [vmKey]);
  const id = `host-map-title-${host.replace(/[^\w-]/g, '_')}`;
  return (
    <section className="host-map" aria-labelledby={id} data-testid="host-map" data-host={host}>
      <h3 id={id}>Physical frames of {host}</h3>
      <FrameMapView host={host} vms={ownerVms} onPick={onPick} onUseGpa={onUseGpa} />
    </section>
  );
}

/** Which host the view is about, and whether a second one is shown beside it (only with several hosts). */
function HostPicker({ host, second }: { host: string; second: string }) {
  const store = useLabStore();
  const names = useLab((s) => s.packet?.frame.hosts.map((h) => h.name).join('\n') ?? '');
  const hosts = names ? names.split('\n') : [];
  if (hosts.length < 2) return null;
  return (
    <div className="host-picker" role="group" aria-label="Hosts">
      <label>
        Host{' '}
        <select value={host} onChange={(e) => {
          const h = e.target.value;
          // Choosing the host shown beside swaps the two.
          store.setState((s) => ({ focusHost: h, compareHost: s.compareHost === h ? host : s.compareHost }));
        }}>
          {hosts.map((h) => <option key={h} value={h}>{h}</option>)}
        </select>
      </label>
      <label className="check">
        <input type="checkbox" checked={second !== ''} onChange={(e) => setSideBySide(store, e.target.checked)} />
        Side by side
      </label>
      {second && (
        <label>
          beside it{' '}
          <select value={second} onChange={(e) => setSideBySide(store, true, e.target.value)}>
            {hosts.filter((h) => h !== host).map((h) => <option key={h} value={h}>{h}</option>)}
          </select>
        </label>
      )}
    </div>
  );
}
