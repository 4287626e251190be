import { QUERY_MIGRATE_FIELDS, fieldValue, formatField, remainingEstimate, remainingShare, statusExplain } from './query-migrate';

/**
 * query-migrate as QEMU answers it, field by field with QEMU's names, each explained on hover (and
 * to screen readers), and a progress bar of the RAM still to send.
 */
export function QueryMigrateTable({ info }: { info: Record<string, unknown> | null }) {
  const share = remainingShare(info);
  const estimate = remainingEstimate(info);
  return (
    <div className="mig-query">
      {share !== null && (
        <div className="mig-progress" role="progressbar" aria-label="RAM still to send" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)}>
          <div className="mig-progress-fill" style={{ width: `${(1 - share) * 100}%` }} />
          <span>{formatField(fieldValue(info, 'ram.remaining'), 'bytes')} of {formatField(fieldValue(info, 'ram.total'), 'bytes').replace(/ \(.*\)$/, '')} still to send</span>
        </div>
      )}
      {share !== null && estimate && <p className="mig-estimate" data-testid="migration-estimate">{estimate}</p>}
      <table className="mig-table">
        <caption className="tx-sr-only">query-migrate</caption>
        <tbody>
          {QUERY_MIGRATE_FIELDS.map((f) => (
            <tr key={f.key} title={f.explain}>
              <th scope="row"><span className="mono">{f.key}</span><span className="tx-sr-only">: {f.explain}</span></th>
              <td className="mono" title={f.key === 'status' ? statusExplain(fieldValue(info, f.key)) : undefined}>{formatField(fieldValue(info, f.key), f.unit)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
