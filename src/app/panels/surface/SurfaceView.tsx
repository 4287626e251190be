import { useCallback, useMemo, useState } from 'react';
import { useLabClient } from '../../client-context';
import { useLab } from '../../store';
import { parseVmKey, vmKey as keyOf, vmLabel } from '../../vm-ref';
import type { SurfaceStep } from './format';
import { SurfaceBody } from './SurfaceBody';
import { useSurfaceViews } from './use-surface-views';
import './surface.css';

/**
 * The "Attack surface" view (full width, instead of the memory panels): what each VM's guest can
 * reach in the host, and the switches that shrink it. It changes the machine only through
 * `client.command`; the worker checks every step and its refusal is shown in the VM's card.
 */
export function SurfaceView() {
  const client = useLabClient();
  const focusRef = useLab((s) => s.focusVm);
  const focus = focusRef ? keyOf(focusRef) : null;
  const hostCount = useLab((s) => s.packet?.frame.hosts.length ?? 0);
  // Keys (host and name) as one string (compared by value): a new frame with the same VMs does not re-render the view.
  const vmKey = useLab((s) => s.packet?.frame.vms.map((v) => keyOf({ host: v.host, vm: v.name })).join('\n') ?? '');
  const all = useMemo(() => (vmKey ? vmKey.split('\n') : []), [vmKey]);
  const { views, was, refresh } = useSurfaceViews(all);
  const [single, setSingle] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const shown = single && focus && all.includes(focus) ? [focus] : all;
  const nameOf = useCallback((k: string) => vmLabel(parseVmKey(k), hostCount), [hostCount]);

  const send = useCallback(async (step: SurfaceStep) => {
    const r = await client.command(step);
    if (!r) return;
    // The card the command came from: a step names its VM as the scenario does (by name, VMM VMs'
    // names being unique in a scenario); the views carry their host.
    const key = Object.entries(views).find(([, v]) => v?.vm === step.vm)?.[0] ?? step.vm;
    setErrors((prev) => {
      const next = { ...prev };
      // A malformed step is refused by the worker; a well-formed one can still fail like a syscall (ret -1).
      if (!r.ok) next[key] = `${step.do} refused: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
      else if (r.result.ret < 0) next[key] = `${step.do} failed${r.result.errno ? ` (${r.result.errno})` : ''}${r.result.why ? `: ${r.result.why}` : ''}`;
      else delete next[key];
      return next;
    });
    await refresh();
  }, [client, refresh, views]);

  return (
    <section className="surface-view" aria-labelledby="surface-title" data-testid="surface-view">
      <div className="surface-bar">
        <h2 id="surface-title">Attack surface</h2>
        <p className="note">
          The figure counts the port ranges, MMIO ranges and MSRs through which the guest can make host code run
          (KVM or the VMM). Switch things off, reboot, and watch it drop.
        </p>
        {all.length > 1 && (
          <span className="single">
            <button type="button" aria-pressed={single} onClick={() => setSingle(!single)}>One VM only</button>
            {single && focus && <span className="note"> showing {nameOf(focus)} (choose with the tabs above)</span>}
          </span>
        )}
      </div>
      {all.length === 0
        ? <p className="note">Waiting for the lab…</p>
        : <SurfaceBody vms={shown} nameOf={nameOf} views={views} was={was} errors={errors} send={(s) => void send(s)} />}
    </section>
  );
}
