import { memslotFlagNames, type VmFacts } from './format';

/** The VM's memslots as KVM_SET_USER_MEMORY_REGION2 set them, in a scroll container of its own. */
export function MemslotTable({ vm }: { vm: VmFacts }) {
  return (
    <div className="tx-scroll" role="region" aria-label={`Memslots of ${vm.name}`} tabIndex={0}>
      <table className="tx-slots">
        <caption className="tx-sr-only">Memslots of {vm.name}</caption>
        <thead>
          <tr>
            <th scope="col">slot</th>
            <th scope="col">guest_phys_addr</th>
            <th scope="col">memory_size</th>
            <th scope="col">flags</th>
            <th scope="col">userspace_addr</th>
            <th scope="col">guest_memfd</th>
            <th scope="col">guest_memfd_offset</th>
          </tr>
        </thead>
        <tbody>
          {vm.memslots.map((m) => {
            const names = memslotFlagNames(m.flags);
            return (
              <tr key={m.slot}>
                <td>{m.slot}</td>
                <td className="mono">{m.guest_phys_addr}</td>
                <td className="mono">{m.memory_size}</td>
                <td className="mono tx-flags" title={`flags = ${m.flags}`}>
                  {names.length ? names.map((n) => <div key={n}>{n}</div>) : '0'}
                </td>
                <td className="mono">{m.userspace_addr}</td>
                <td className="mono">{m.guest_memfd < 0 ? '—' : m.guest_memfd}</td>
                <td className="mono">{m.guest_memfd < 0 ? '—' : m.guest_memfd_offset}</td>
              </tr>
            );
          })}
          {vm.memslots.length === 0 && (
            <tr><td colSpan={7}>No memslots yet.</td></tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
