import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { QueryMigrateTable } from './QueryMigrateTable';
import { RoundsChart } from './RoundsChart';

const MiB = 1024 * 1024;
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#x27;/g, "'").replace(/\s+/g, ' ');

describe('the migration panel parts', () => {
  it('query-migrate: every field with its value, a progress bar while there is RAM to send, absent fields as a dash', () => {
    const html = renderToString(<QueryMigrateTable info={{ status: 'active', 'total-time': 900, ram: { total: 64 * MiB, remaining: 16 * MiB, transferred: 50 * MiB, 'dirty-sync-count': 3 } }} />);
    const t = text(html);
    expect(t).toContain('status');
    expect(t).toMatch(/ram\.dirty-sync-count[^0-9]*3/);
    expect(t).toContain('900 ms');
    expect(t).toContain('16.0 MiB (16,777,216 bytes) of 64.0 MiB still to send');
    expect(html).toContain('aria-valuenow="25"');
    expect(t).toMatch(/downtime : Once completed[^—]*—/);
    expect(renderToString(<QueryMigrateTable info={{ status: 'setup' }} />)).not.toContain('progressbar');
  });

  it('rounds: a bar per round named for screen readers, the threshold and the remaining line', () => {
    const r = (round: number, bytes: number, remaining: number, final = false) => ({ round, bytes, pages: bytes / 4096, dirty_pages: remaining / 4096, remaining, threshold: 40 * MiB, throttle_pct: 0, final, duration_ns: 1e8 });
    const html = renderToString(<RoundsChart rounds={[r(0, 256 * MiB, 64 * MiB), r(1, 64 * MiB, 16 * MiB), r(2, 16 * MiB, 0, true)]} />);
    expect(html.match(/<rect/g)).toHaveLength(3);
    expect(html).toContain('mig-bar final');
    expect(html).toContain('mig-threshold');
    expect(html).toContain('mig-remaining');
    expect(html).toContain('aria-label="3 rounds: Round 0: 256.0 MiB sent');
    expect(renderToString(<RoundsChart rounds={[]} />)).toContain('No rounds yet');
    // The rate and downtime panels: two lines and a rule, each named; the round count.
    expect(html).toContain('mig-series dirty');
    expect(html).toContain('mig-series send');
    expect(html).toContain('mig-series expected');
    expect(html).toContain('mig-rule');
    expect(text(html)).toContain('3 rounds');
  });

  it('a capped tail of rounds says which rounds of how many it shows, and the throttle over its bars', () => {
    const r = (round: number) => ({ round, bytes: MiB, pages: 256, dirty_pages: 200, remaining: MiB, threshold: 40 * MiB, throttle_pct: round > 45 ? 30 : 0, final: false, duration_ns: 1e8 });
    const html = renderToString(<RoundsChart rounds={Array.from({ length: 40 }, (_, i) => r(i + 10))} roundCount={50} width={800} />);
    expect(text(html)).toContain('rounds 10–49 of 50');
    expect(html.match(/class="mig-throttle"/g)).toHaveLength(4);
    expect(text(html)).toContain('auto-converge throttle');
  });
});
