export { type Stack, startStack } from '@scanner/test-stack';

export async function uploadFile(
  url: string,
  content: Buffer | string,
  filename: string,
  headers: Record<string, string> = {},
) {
  const form = new FormData();
  form.append('file', new Blob([content]), filename);
  const res = await fetch(`${url}/api/v1/files`, { method: 'POST', body: form, headers });
  return { res, body: (await res.json()) as Record<string, unknown> };
}
