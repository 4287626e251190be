/// <reference types="vite-plugin-pwa/client" />
import { registerSW } from 'virtual:pwa-register';
import { offlineStatus } from './offline';

/**
 * Register the lab's service worker (the built page: in the dev server the plugin's module does
 * nothing). It registers once the page has loaded, so the first lesson does not wait for the cache
 * to fill; a new version's worker waits (registerType 'prompt') until the banner's Reload.
 */
export function registerServiceWorker(): void {
  const update = registerSW({
    onNeedRefresh: () => offlineStatus.needRefresh(() => update()),
    onOfflineReady: () => offlineStatus.offlineReady(),
    // The lab still works online without it: say why in the console, nothing more.
    onRegisterError: (e: unknown) => console.warn('The offline cache could not be set up:', e),
  });
}
