// The grid document, live: Server-Sent Events from /v1/grid/events, and when they cannot be had
// (refused, cut, a proxy that buffers) polling /v1/grid every two seconds, trying the stream
// again now and then. `onState` hears 'live', 'polling' or 'offline'.
const POLL_MS = 2000;
const RETRY_STREAM_MS = 30000;

export function connect({ onGrid, onState }) {
  let source = null;
  let pollTimer = null;
  let lastStreamTry = 0;

  const poll = async () => {
    pollTimer = null;
    try {
      const response = await fetch('/v1/grid', { cache: 'no-store' });
      if (!response.ok) throw new Error(`/v1/grid answered ${response.status}`);
      onGrid(await response.json());
      onState('polling');
    } catch {
      onState('offline');
    }
    if (Date.now() - lastStreamTry > RETRY_STREAM_MS) stream();
    else pollTimer = setTimeout(poll, POLL_MS);
  };

  const fallBack = () => {
    if (source) source.close();
    source = null;
    if (!pollTimer) pollTimer = setTimeout(poll, 0);
  };

  const stream = () => {
    lastStreamTry = Date.now();
    if (typeof EventSource === 'undefined') return fallBack();
    source = new EventSource('/v1/grid/events');
    source.onmessage = (event) => {
      onGrid(JSON.parse(event.data));
      onState('live');
    };
    source.onerror = fallBack;
  };

  stream();
}
