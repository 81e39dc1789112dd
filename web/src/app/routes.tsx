// The dashboard's views and its navigation. A new view is one entry here: a URL
// pattern, the navigation section it belongs to, and how to render it.
import type { ReactNode } from 'react';
import { DevicePage } from '../pages/DevicePage';
import { DevicesPage } from '../pages/DevicesPage';

export interface Section {
  key: string;
  label: string;
  href: string;
}

export interface Route {
  pattern: string;
  section: string;
  title: (params: Record<string, string>) => string;
  render: (params: Record<string, string>, query: URLSearchParams) => ReactNode;
}

export const SECTIONS: readonly Section[] = [{ key: 'devices', label: 'Devices', href: '#/devices' }];

export const ROUTES: readonly Route[] = [
  { pattern: '/', section: 'devices', title: () => 'Devices', render: () => <DevicesPage /> },
  { pattern: '/devices', section: 'devices', title: () => 'Devices', render: () => <DevicesPage /> },
  {
    pattern: '/devices/:id',
    section: 'devices',
    title: (p) => `Device ${p.id ?? ''}`,
    render: (p, q) => <DevicePage id={p.id ?? ''} query={q} />,
  },
];
