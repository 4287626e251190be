import type { AcpiNode, AcpiTableView } from '../../../sim/vmm/surface-view';

const CHANGE_TEXT: Record<AcpiTableView['change'], string | null> = {
  same: null,
  changed: 'changed since the last boot',
  new: 'new since the last boot',
  removed: 'removed since the last boot',
};

/**
 * The ACPI tables the guest found, one collapsible tree per table. What differs from the previous boot
 * is marked in words as well as colour; a removed table stays, struck out, so the change shows.
 */
export function AcpiTree({ vm, tables }: { vm: string; tables: readonly AcpiTableView[] }) {
  if (tables.length === 0) return <p className="note">No ACPI tables.</p>;
  return (
    <ul className="acpi-tables" aria-label={`ACPI tables of ${vm}`}>
      {tables.map((t) => <AcpiTable key={t.signature + t.address} t={t} />)}
    </ul>
  );
}

function AcpiTable({ t }: { t: AcpiTableView }) {
  const change = CHANGE_TEXT[t.change];
  const head = (
    <>
      <code className="sig">{t.signature}</code> at <span className="mono">{t.address}</span>, {t.length} bytes,{' '}
      {t.checksumOk ? 'checksum ok' : <b className="bad">checksum BAD</b>}
    </>
  );
  return (
    <li className={`acpi-table change-${t.change}`} data-testid={`acpi-table-${t.signature}`} data-change={t.change}>
      <details open={t.change !== 'same' && t.change !== 'removed'}>
        <summary>
          {t.change === 'removed' ? <del>{head}</del> : head}
          {change && <span className={`badge change-${t.change}`}>{change}</span>}
        </summary>
        <NodeList nodes={t.tree} />
      </details>
    </li>
  );
}

function NodeList({ nodes }: { nodes: readonly AcpiNode[] }) {
  return (
    <ul className="acpi-tree">
      {nodes.map((n, i) => (
        <li key={i} className={n.changed ? 'changed' : undefined}>
          <span className="acpi-label">{n.label}</span>
          {n.value !== undefined && <>: <span className="mono">{n.value}</span></>}
          {n.changed && <span className="badge change-changed">changed</span>}
          {n.children && n.children.length > 0 && <NodeList nodes={n.children} />}
        </li>
      ))}
    </ul>
  );
}
