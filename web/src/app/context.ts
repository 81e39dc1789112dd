// What every view shares: the API client and the live stream hub, provided once at the
// top of the tree so tests or other embeddings can swap them.
import { createContext, useContext } from 'react';
import type { Api } from '../api/client';
import type { StreamHub } from '../live/hub';

export const ApiContext = createContext<Api | null>(null);
export const HubContext = createContext<StreamHub | null>(null);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside ApiContext');
  return api;
}

export function useHub(): StreamHub {
  const hub = useContext(HubContext);
  if (!hub) throw new Error('useHub outside HubContext');
  return hub;
}
