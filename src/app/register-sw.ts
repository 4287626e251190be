/// <reference types="vite-plugin-pwa/client" />
import { registerSW } from 'virtual:pwa-register';
import { offlineStatus } from './offline';

/**
 * Register the lab's service worker (the built page: in the dev server the plugin's module does
 * nothing). It registers once the page has loaded, so the first lesson does not wait for the cache
 * to fill; a new version's worker waits (registerType 'prompt') until the banner's Reload.
 */
export function registerServiceWorker(): void {
  const activate = registerSW({
    onNeedRefresh: () => offlineStatus.needRefresh(async () => {
      // The page reloads when the new version takes it over. (The plugin reloads only a page that
      // was already controlled when it loaded; a first visit that meets an update must too.)
      navigator.serviceWorker.addEventListener('controllerchange', () => window.location.reload(), { once: true });
      await activate();
    }),
    // The reload is ours, on the reader's word only (above): a version activated from another tab
    // takes this page over without reloading it.
    onNeedReload: () => {},
    onOfflineReady: () => offlineStatus.offlineReady(),
    // The lab still works online without it: say why in the console, nothing more.
    onRegisterError: (e: unknown) => console.warn('The offline cache could not be set up:', e),
  });
}
