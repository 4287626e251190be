import { lazy, Suspense } from 'react';
import { useStartScreenOpen } from '../start-screen';

// The dialog is a chunk of its own: a returning visitor (or a link to a lesson) never fetches it.
const StartScreen = lazy(() => import('./StartScreen').then((m) => ({ default: m.StartScreen })));

/** Where the start screen goes in the shell: nothing unless it is open (start-screen.ts). */
export function StartScreenHost() {
  const open = useStartScreenOpen();
  if (!open) return null;
  return <Suspense fallback={null}><StartScreen /></Suspense>;
}
