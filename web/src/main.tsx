// Entry point: one API client and one live stream for the whole dashboard.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApi } from './api/client';
import { App } from './app/App';
import { ApiContext, HubContext } from './app/context';
import { StreamHub } from './live/hub';
import './styles.css';

const api = createApi();
const hub = new StreamHub('api/v1/stream', {
  onMalformed: (reason) => console.warn(`corio: ignored a malformed stream event: ${reason}`),
});
hub.start();

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <ApiContext.Provider value={api}>
      <HubContext.Provider value={hub}>
        <App />
      </HubContext.Provider>
    </ApiContext.Provider>
  </StrictMode>,
);
