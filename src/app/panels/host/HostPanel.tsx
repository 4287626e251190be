import { useLab } from '../../store';

/** Host view: who owns each host frame, and the VMM's address space. */
export function HostPanel() {
  const packet = useLab((s) => s.packet);
  if (!packet) return null;
  const counts = new Map<number, number>();
  for (const c of packet.hostOwners) counts.set(c, (counts.get(c) ?? 0) + 1);
  return <p>{packet.frame.hostName}: {packet.frame.hostFrames.toLocaleString('en')} frames, {(packet.frame.hostFrames - (counts.get(0) ?? 0)).toLocaleString('en')} in use.</p>;
}
