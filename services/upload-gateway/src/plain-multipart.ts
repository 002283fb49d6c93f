/**
 * The form nearly every client sends for an upload (curl -F, browsers' and undici's FormData,
 * Python's requests), read in one pass over a body already in memory: the opening delimiter, one
 * part with a `form-data; name="file"; filename="…"` disposition (a plain ASCII filename) and
 * optionally a Content-Type, the content, the closing delimiter and at most a CRLF after it.
 *
 * Anything else returns undefined and is left to busboy: another part, other part headers, an
 * encoded, escaped, path-like or non-ASCII filename, a preamble or an epilogue, transport padding, a
 * broken frame. busboy judges every such body, so every answer and every error stays its own; this
 * only spares the common case its machinery (a parser stream, a file stream and their events),
 * which cost the gateway about a third of its CPU above a bare server on small uploads.
 */
export interface PlainFilePart {
  /** The filename as sent (what busboy reports for it: no path, no escapes, nothing decoded). */
  filename: string;
  content: Buffer;
}

// Boundary characters of RFC 2046 except the space, which busboy and the RFC treat differently at
// the end of a boundary; one other parameter (a charset, say) is also left to busboy.
const CONTENT_TYPE =
  /^multipart\/form-data[ \t]*;[ \t]*boundary=(?:"([0-9A-Za-z'()+_,\-./:=?]{1,70})"|([0-9A-Za-z'()+_,\-./:=?]{1,70}))[ \t]*$/i;

// Printable ASCII without `"` (ends the value), `\` (an escape to busboy; also a path separator to
// its basename, like `/`).
const DISPOSITION =
  /^form-data[ \t]*;[ \t]*name="file"[ \t]*;[ \t]*filename="([\x20\x21\x23-\x2e\x30-\x5b\x5d-\x7e]+)"$/;
// Values of visible ASCII only: busboy refuses control characters in a part header.
const HEADER_LINE = /^([A-Za-z-]+):[ \t]*([\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)[ \t]*$/;

// Part headers of the plain form take about a hundred bytes; a long filename a few hundred more.
const MAX_HEADER_BYTES = 1024;

const CRLF = 0x0a0d; // "\r\n" read as a little-endian uint16
const DASHES = 0x2d2d; // "--"

export function parsePlainFilePart(body: Buffer, contentType: string): PlainFilePart | undefined {
  const type = CONTENT_TYPE.exec(contentType);
  if (!type) return undefined;
  const delimiter = `--${type[1] ?? type[2]}`;

  if (body.toString('latin1', 0, delimiter.length) !== delimiter) return undefined;
  const headersStart = delimiter.length + 2;
  if (body.length < headersStart || body.readUInt16LE(delimiter.length) !== CRLF) return undefined;
  const headersEnd = body.indexOf('\r\n\r\n', headersStart - 2, 'latin1');
  if (headersEnd < headersStart || headersEnd - headersStart > MAX_HEADER_BYTES) return undefined;

  let filename: string | undefined;
  let typed = false;
  for (const line of body.toString('latin1', headersStart, headersEnd).split('\r\n')) {
    const header = HEADER_LINE.exec(line);
    if (!header) return undefined;
    const name = (header[1] as string).toLowerCase();
    const value = header[2] as string;
    if (name === 'content-disposition' && filename === undefined) {
      const disposition = DISPOSITION.exec(value);
      if (!disposition) return undefined;
      filename = disposition[1] as string;
    } else if (name === 'content-type' && !typed) typed = true;
    else return undefined;
  }
  if (filename === undefined) return undefined;

  // The content runs to the first CRLF + delimiter; that must be the closing one (`--` after it),
  // ending the body or followed by one CRLF. Anything else is another part or an epilogue.
  const contentStart = headersEnd + 4;
  const close = body.indexOf(`\r\n${delimiter}`, contentStart, 'latin1');
  if (close < 0) return undefined;
  const afterDelimiter = close + 2 + delimiter.length;
  const rest = body.length - afterDelimiter;
  if (rest < 2 || body.readUInt16LE(afterDelimiter) !== DASHES) return undefined;
  if (rest !== 2 && (rest !== 4 || body.readUInt16LE(afterDelimiter + 2) !== CRLF))
    return undefined;
  return { filename, content: body.subarray(contentStart, close) };
}
