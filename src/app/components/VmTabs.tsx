import { NO_VMS } from '../empty';
import { focusVm, useLab, useLabStore } from '../store';
import { refOf, sameVm, vmKey } from '../vm-ref';

/** Choose which VM a single-VM view shows; every panel that can shows VMs side by side anyway. */
export function VmTabs() {
  const vms = useLab((s) => s.packet?.frame.vms ?? NO_VMS);
  const hostCount = useLab((s) => s.packet?.frame.hosts.length ?? 0);
  const focus = useLab((s) => s.focusVm);
  const store = useLabStore();
  if (vms.length < 2) return null;
  return (
    <div role="tablist" aria-label="Virtual machines" className="vm-tabs">
      {vms.map((v) => (
        <button key={vmKey(refOf(v))} role="tab" type="button" aria-selected={sameVm(focus, refOf(v))}
          data-host={v.host} onClick={() => focusVm(store, refOf(v))}>
          {v.name}{hostCount > 1 && <span className="vm-tab-host"> on {v.host}</span>}{' '}
          <small>{v.isTd ? 'TD' : v.type.replace('KVM_X86_', '').replace('_VM', '').toLowerCase()}</small>
        </button>
      ))}
    </div>
  );
}
