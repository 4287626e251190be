import { describe, expect, it } from 'vitest';
import { createOfflineStatus } from './offline';

describe('the offline status (a new version is offered, never forced)', () => {
  it('offers a waiting version, activates it only when asked, and can be put off', async () => {
    const status = createOfflineStatus();
    const seen: boolean[] = [];
    status.subscribe(() => seen.push(status.get().updateWaiting));
    expect(status.get()).toEqual({ updateWaiting: false, offlineReady: false });

    let activated = 0;
    status.needRefresh(async () => { activated++; });
    expect(status.get().updateWaiting).toBe(true);
    expect(activated).toBe(0);

    status.dismiss();
    expect(status.get().updateWaiting).toBe(false);
    expect(activated).toBe(0);
    // Put off, the new version still waits: Reload (from a later offer) activates it.
    await status.update();
    expect(activated).toBe(1);
    expect(seen).toEqual([true, false]);
  });

  it('says so when asked to update with no new version waiting', async () => {
    await expect(createOfflineStatus().update()).rejects.toThrow('no new version is waiting');
  });

  it('records that the lab is cached for offline use; a listener that left hears nothing', () => {
    const status = createOfflineStatus();
    let calls = 0;
    const leave = status.subscribe(() => calls++);
    status.offlineReady();
    leave();
    status.offlineReady();
    expect(status.get().offlineReady).toBe(true);
    expect(calls).toBe(1);
  });
});
