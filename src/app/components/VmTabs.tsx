import { NO_VMS } from '../empty';
import { useLab, useLabStore } from '../store';

/** Choose which VM a single-VM view shows; every panel that can shows VMs side by side anyway. */
export function VmTabs() {
  const vms = useLab((s) => s.packet?.frame.vms ?? NO_VMS);
  const focus = useLab((s) => s.focusVm);
  const store = useLabStore();
  if (vms.length < 2) return null;
  return (
    <div role="tablist" aria-label="Virtual machines" className="vm-tabs">
      {vms.map((v) => (
        <button key={v.name} role="tab" type="button" aria-selected={focus === v.name}
          onClick={() => store.setState({ focusVm: v.name })}>
          {v.name} <small>{v.isTd ? 'TD' : v.type.replace('KVM_X86_', '').replace('_VM', '').toLowerCase()}</small>
        </button>
      ))}
    </div>
  );
}
