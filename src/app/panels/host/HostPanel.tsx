import { useCallback, useEffect, useMemo, useState } from 'react';
import { useLab, useLabStore } from '../../store';
import { FrameMapView } from './FrameMapView';
import { PAGE_SIZE, hex, type OwnerVm } from './owners';
import { ReadTool, type ReadToolVm } from './ReadTool';
import type { FormInput } from './read-form';
import { VmmSpaces } from './VmmSpaces';
import './host.css';

const INITIAL_FORM: FormInput = { mode: 'gpa', vm: '', address: '0x100000', length: '32', via: 'vmm_mapping', write: false, data: 'hex:ff' };

/**
 * Host view (host-unmapped memory): who owns each host frame, the VMM's address space, and a tool
 * to read (or, as an attack, write) guest memory the way a privileged host would.
 */
export function HostPanel() {
  const store = useLabStore();
  const focus = useLab((s) => s.focusVm);
  const hostFrames = useLab((s) => s.packet?.frame.hostFrames ?? 0);
  const hostName = useLab((s) => s.packet?.frame.hostName ?? '');
  // A string (compared by value): a new frame with the same VMs does not re-render the panel.
  const vmKey = useLab((s) => s.packet?.frame.vms.map((v) => [v.name, v.isTd ? 1 : 0, v.gfnCount, v.td ? v.td.sharedBit : -1].join('\t')).join('\n') ?? '');
  const vms = useMemo<ReadToolVm[]>(() => (vmKey ? vmKey.split('\n') : []).map((line) => {
    const [name, td, gfns, bit] = line.split('\t');
    return { name, isTd: td === '1', gfnCount: Number(gfns), sharedBit: Number(bit) >= 0 ? 2 ** Number(bit) : null };
  }), [vmKey]);
  const ownerVms = useMemo<OwnerVm[]>(() => vms.map((v) => ({ name: v.name, isTd: v.isTd })), [vms]);

  const [form, setForm] = useState<FormInput>(INITIAL_FORM);
  useEffect(() => {
    if (focus) setForm((f) => ({ ...f, vm: focus }));
  }, [focus]);
  const vm = vms.some((v) => v.name === form.vm) ? form.vm : (focus ?? vms[0]?.name ?? '');
  const shownForm = vm === form.vm ? form : { ...form, vm };

  const selectFrame = useCallback((frame: number) => store.setState({ selectedFrame: frame }), [store]);
  /** A frame chosen in the map fills the read tool's HPA. */
  const pickFrame = useCallback((frame: number) => {
    selectFrame(frame);
    setForm((f) => ({ ...f, mode: 'hpa', address: hex(frame * PAGE_SIZE) }));
  }, [selectFrame]);
  const useGpa = useCallback((vmName: string, gpa: string) => {
    setForm((f) => ({ ...f, mode: 'gpa', vm: vmName, address: gpa }));
  }, []);

  if (!hostFrames) return <p className="note">Waiting for the lab…</p>;
  return (
    <div className="host-panel">
      <div className="host-grid">
        <section className="host-map" aria-labelledby="host-map-title">
          <h3 id="host-map-title">Physical frames of {hostName}</h3>
          <FrameMapView vms={ownerVms} onPick={pickFrame} onUseGpa={useGpa} />
        </section>
        <section className="host-read" aria-labelledby="host-read-title">
          <h3 id="host-read-title">{form.write ? 'Write as the host (attack)' : 'Read as the host'}</h3>
          <ReadTool vms={vms} hostFrames={hostFrames} form={shownForm} onShowFrame={selectFrame}
            setForm={(f) => setForm((prev) => f(prev.vm === vm ? prev : { ...prev, vm }))} />
        </section>
      </div>
      <section className="host-vmm" aria-labelledby="host-vmm-title">
        <h3 id="host-vmm-title">The VMM&apos;s address space: which guest pages it maps</h3>
        <VmmSpaces />
      </section>
    </div>
  );
}
