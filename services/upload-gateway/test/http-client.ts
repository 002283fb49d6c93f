import { request } from 'node:http';
import type { Readable } from 'node:stream';

export interface Part {
  name: string;
  filename?: string;
  /** Raw bytes of the filename parameter, for names that are not valid UTF-8. */
  rawFilename?: Buffer;
  content: Buffer | string;
  contentType?: string;
}

export const BOUNDARY = '----scannerTestBoundary7MA4YWxkTrZu0gW';

/** A multipart/form-data body built by hand, so tests control every byte (including broken ones). */
export function multipart(parts: Part[], boundary = BOUNDARY): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const filename = p.rawFilename
      ? Buffer.concat([Buffer.from('; filename="'), p.rawFilename, Buffer.from('"')])
      : p.filename !== undefined
        ? Buffer.from(`; filename="${p.filename}"`)
        : Buffer.alloc(0);
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`),
      filename,
      // Like browsers: files are octet-streams, plain fields carry text (busboy treats an
      // octet-stream part as a file even without a filename).
      Buffer.from(
        `\r\nContent-Type: ${p.contentType ?? (filename.length > 0 ? 'application/octet-stream' : 'text/plain')}\r\n\r\n`,
      ),
      Buffer.isBuffer(p.content) ? p.content : Buffer.from(p.content),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** POSTs a body (buffer or stream) with exact headers, and reads the whole answer. */
export function post(
  url: string,
  body: Buffer | Readable | null,
  headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: () => JSON.parse(text),
        });
      });
      res.on('error', reject);
    });
    // A server that answers early and closes may reset a request still being written.
    req.on('error', reject);
    if (body === null) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

export function upload(
  url: string,
  content: Buffer | string,
  filename = 'test.txt',
  headers: Record<string, string> = {},
) {
  return post(`${url}/api/v1/files`, multipart([{ name: 'file', filename, content }]), {
    'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
    ...headers,
  });
}
