import { createContext, useContext } from 'react';
import type { LabClient } from './lab-client';

export const LabClientContext = createContext<LabClient | null>(null);

/** The lab client: the only way panels change the machine (commands, steps, queries). */
export function useLabClient(): LabClient {
  const c = useContext(LabClientContext);
  if (!c) throw new Error('useLabClient outside LabClientContext');
  return c;
}
