/** Server-Sent Events framing. JSON never contains a raw newline, so each event is one `data:` line. */
export function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line: ignored by every SSE parser, it keeps proxies and idle detectors from closing the stream. */
export const SSE_PING = ': ping\n\n';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  connection: 'keep-alive',
  // Tell buffering reverse proxies (nginx) to pass events through at once.
  'x-accel-buffering': 'no',
} as const;
