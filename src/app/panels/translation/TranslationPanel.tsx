import { NO_VMS } from '../../empty';
import { useLab } from '../../store';

/** Address translation (GPA → HPA): memslots, the page map and the walk of a selected page. */
export function TranslationPanel() {
  const vms = useLab((s) => s.packet?.frame.vms ?? NO_VMS);
  return (
    <div className="vm-columns">
      {vms.map((v) => (
        <div key={v.name}>
          <h3>{v.name}</h3>
          <table className="data">
            <thead><tr><th>slot</th><th>guest_phys_addr</th><th>memory_size</th><th>flags</th><th>userspace_addr</th><th>guest_memfd</th></tr></thead>
            <tbody>
              {v.memslots.map((m) => (
                <tr key={m.slot}><td>{m.slot}</td><td>{m.guest_phys_addr}</td><td>{m.memory_size}</td><td>{m.flags}</td><td>{m.userspace_addr}</td><td>{m.guest_memfd < 0 ? '—' : `${m.guest_memfd} @ ${m.guest_memfd_offset}`}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}
