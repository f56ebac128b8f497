import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchBounded, isPrivateAddress } from '../../src/ingest/net.js';
import { decodeDataUri, resolvePicture } from '../../src/ingest/pictures.js';
import { rejection } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';

describe('isPrivateAddress', () => {
  const table: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['10.0.0.1', true],
    ['10.255.255.255', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.15.255.255', false],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['192.169.0.1', false],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['100.127.255.255', true],
    ['100.63.255.255', false],
    ['100.128.0.0', false],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['255.255.255.255', true],
    ['8.8.8.8', false],
    ['93.184.216.34', false],
    ['::1', true],
    ['::', true],
    ['[::1]', true],
    ['fc00::1', true],
    ['fd12:3456:789a::1', true],
    ['fe80::1', true],
    ['fe80::1%eth0', true],
    ['febf::1', true],
    ['fec0::1', false],
    ['ff02::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['::ffff:10.1.2.3', true],
    ['::ffff:8.8.8.8', false],
    ['64:ff9b::a00:1', true],
    ['64:ff9b::808:808', false],
    ['2001:4860:4860::8888', false],
    ['2606:4700::1111', false],
    ['not-an-ip', true],
    ['', true],
    ['1.2.3', true],
  ];
  it.each(table)('%s -> %s', (ip, expected) => {
    expect(isPrivateAddress(ip)).toBe(expected);
  });
});

describe('decodeDataUri', () => {
  it('decodes base64 (with whitespace) and percent-encoded payloads', () => {
    expect(Buffer.from(decodeDataUri('data:text/plain;base64,aGVs\n bG8=', 100).bytes).toString()).toBe(
      'hello',
    );
    expect(Buffer.from(decodeDataUri('data:,a%20b%E2%82%AC', 100).bytes).toString()).toBe('a b€');
    expect(decodeDataUri('data:image/png;base64,AAAA', 100).prefix).toBe('data:image/png;base64');
  });

  it('refuses a payload over the size limit', () => {
    expect(() => decodeDataUri(`data:;base64,${'A'.repeat(40)}`, 10)).toThrow(/over the limit/);
  });
});

describe('resolvePicture (local)', () => {
  let dir: string;
  let png: Uint8Array;
  const page = () => join(dir, 'page.html');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mmrag-pictures-'));
    png = new Uint8Array(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } })
        .png()
        .toBuffer(),
    );
    await mkdir(join(dir, 'page_files'));
    await writeFile(join(dir, 'page_files', 'red dot.png'), png);
    await writeFile(join(dir, 'not-a-picture.png'), 'just some text, not a picture');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a relative path, URL-decoded, without query or fragment', async () => {
    const picture = await resolvePicture('page_files/red%20dot.png?v=3#top', page(), testLoaderContext());
    expect(picture.mime).toBe('image/png');
    expect(Buffer.from(picture.bytes).equals(Buffer.from(png))).toBe(true);
    expect(picture.origin).toBe(join(dir, 'page_files', 'red dot.png'));
  });

  it('reads ./relative, absolute paths and file:// URLs', async () => {
    const absolute = join(dir, 'page_files', 'red dot.png');
    for (const ref of ['./page_files/red dot.png', absolute, pathToFileURL(absolute).href]) {
      const picture = await resolvePicture(ref, page(), testLoaderContext());
      expect(picture.bytes.byteLength, ref).toBe(png.byteLength);
    }
  });

  it('decodes data: URIs in base64 and percent encoding', async () => {
    const base64 = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
    const fromBase64 = await resolvePicture(base64, page(), testLoaderContext());
    expect(Buffer.from(fromBase64.bytes).equals(Buffer.from(png))).toBe(true);
    expect(fromBase64.origin).toBe('data:image/png;base64');

    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><circle r="2" fill="red"/></svg>';
    const fromPercent = await resolvePicture(
      `data:image/svg+xml,${encodeURIComponent(svg)}`,
      page(),
      testLoaderContext(),
    );
    expect(fromPercent.mime).toBe('image/svg+xml');
    expect(Buffer.from(fromPercent.bytes).toString()).toBe(svg);
  });

  it('names the missing file', async () => {
    const err = await rejection(resolvePicture('page_files/nothing.png', page(), testLoaderContext()));
    expect(err.code).toBe('not_found');
    expect(err.message).toContain(join(dir, 'page_files', 'nothing.png'));
  });

  it('refuses bytes that are not a picture', async () => {
    const err = await rejection(resolvePicture('not-a-picture.png', page(), testLoaderContext()));
    expect(err.code).toBe('not_image');
    expect(err.message).toMatch(/not a picture/);
  });

  it('enforces maxImageBytes for files and data: URIs', async () => {
    const small = testLoaderContext({ limits: { maxImageBytes: 20 } });
    expect((await rejection(resolvePicture('page_files/red%20dot.png', page(), small))).code).toBe(
      'too_large',
    );
    const base64 = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
    expect((await rejection(resolvePicture(base64, page(), small))).code).toBe('too_large');
  });

  it('refuses remote pictures when remote fetching is off, protocol-relative ones as https', async () => {
    const ctx = testLoaderContext({ fetchRemote: false });
    const err = await rejection(resolvePicture('//cdn.example.com/x.png', page(), ctx));
    expect(err.code).toBe('remote_off');
    expect(err.message).toContain('https://cdn.example.com/x.png');
    expect(err.message).toMatch(/remote fetching is off/);
  });

  it('refuses unsupported schemes', async () => {
    const err = await rejection(resolvePicture('javascript:alert(1)', page(), testLoaderContext()));
    expect(err.code).toBe('bad_ref');
  });

  it('never reads a local file for a page that came from the web', async () => {
    const local = join(dir, 'page_files', 'red dot.png');
    const ctx = testLoaderContext({ fetchRemote: false });
    const fileUrl = await rejection(
      resolvePicture(pathToFileURL(local).href, 'https://example.com/page.html', ctx),
    );
    expect(fileUrl.code).toBe('bad_ref');
    expect(fileUrl.message).toMatch(/web page may not refer to "file:"/);
    // An absolute path on a web page is a path on that web site, not on this machine.
    const absolute = await rejection(resolvePicture(local, 'https://example.com/page.html', ctx));
    expect(absolute.code).toBe('remote_off');
    expect(absolute.message).toContain('https://example.com/');
  });

  it('with a local root (uploads), reads pictures inside it and refuses the rest of the disk', async () => {
    const root = join(dir, 'page_files');
    const ctx = testLoaderContext({ localRoot: root });
    const inside = await resolvePicture('red%20dot.png', join(root, 'upload.html'), ctx);
    expect(inside.bytes).toEqual(png);
    for (const ref of [
      '../not-a-picture.png',
      join(dir, 'not-a-picture.png'),
      pathToFileURL(join(dir, 'not-a-picture.png')).href,
    ]) {
      const err = await rejection(resolvePicture(ref, join(root, 'upload.html'), ctx));
      expect(err.code).toBe('not_found');
      expect(err.message).toMatch(/not found among the files uploaded with it/);
    }
  });

  // Issue 18, finding 9: a file outside the upload folder that exists and one that does not gave two different
  // warnings, which told an uploader which files exist on the server.
  it('with a local root, a file outside it that exists and one that does not get the same warning', async () => {
    const root = join(dir, 'page_files');
    const page = join(root, 'upload.md');
    const ctx = testLoaderContext({ localRoot: root });
    const warningOf = async (path: string) =>
      (await rejection(resolvePicture(path, page, ctx))).message.replace(path, '<path>');
    const existing = join(dir, 'not-a-picture.png');
    const missing = join(dir, 'no-such-file.png');
    expect(await warningOf(existing)).toBe(await warningOf(missing));
    expect(await warningOf('/etc/passwd')).toBe(await warningOf('/etc/no-such-file'));
    const viaFileUrl = async (path: string) =>
      (await rejection(resolvePicture(pathToFileURL(path).href, page, ctx))).message.replace(path, '<path>');
    expect(await viaFileUrl(existing)).toBe(await viaFileUrl(missing));
  });
});

describe('fetchBounded and remote pictures over loopback', () => {
  let server: Server;
  let base: string;
  let port: number;
  let png: Buffer;

  beforeAll(async () => {
    png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#0000ff' } })
      .png()
      .toBuffer();
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/blue.png') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
        res.end(png);
      } else if (path === '/to-image') {
        res.writeHead(302, { location: '/blue.png' });
        res.end();
      } else if (path === '/to-other-loopback') {
        res.writeHead(301, { location: `http://127.0.0.2:${port}/blue.png` });
        res.end();
      } else if (path === '/to-file') {
        res.writeHead(302, { location: 'file:///etc/passwd' });
        res.end();
      } else if (path === '/loop') {
        res.writeHead(307, { location: '/loop' });
        res.end();
      } else if (path === '/big') {
        res.writeHead(200, { 'content-length': 10_000 });
        res.end(Buffer.alloc(10_000, 1));
      } else if (path === '/big-chunked') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000, 2));
        res.end();
      } else if (path === '/text') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end('this is not a png');
      } else if (path === '/hang') {
        // never answers: the client's timeout must end it
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not here');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const open = { timeoutMs: 10_000, maxBytes: 1_000_000, allowPrivateNetwork: true };
  const onlyThisHost = (ip: string) => ip === '127.0.0.1';

  it('refuses a loopback host unless the private network is allowed', async () => {
    const err = await rejection(fetchBounded(`${base}/blue.png`, { ...open, allowPrivateNetwork: false }));
    expect(err.code).toBe('private_address');
    expect(err.message).toContain('127.0.0.1');

    const viaName = await rejection(
      fetchBounded(`http://localhost:${port}/blue.png`, { ...open, allowPrivateNetwork: false }),
    );
    expect(viaName.code).toBe('private_address');

    const fetched = await fetchBounded(`${base}/blue.png`, open);
    expect(Buffer.from(fetched.bytes).equals(png)).toBe(true);
    expect(fetched.contentType).toBe('image/png');
    expect(fetched.finalUrl).toBe(`${base}/blue.png`);
  });

  it('follows redirects and reports the final URL', async () => {
    const fetched = await fetchBounded(`${base}/to-image`, open);
    expect(fetched.finalUrl).toBe(`${base}/blue.png`);
    expect(fetched.bytes.byteLength).toBe(png.length);
  });

  it('checks every redirect hop: a redirect to a private address is refused', async () => {
    // 127.0.0.1 is allowed by name; the redirect target 127.0.0.2 is not, and is never contacted.
    const guarded = { ...open, allowPrivateNetwork: false, allowAddress: onlyThisHost };
    expect((await fetchBounded(`${base}/blue.png`, guarded)).bytes.byteLength).toBe(png.length);
    const err = await rejection(fetchBounded(`${base}/to-other-loopback`, guarded));
    expect(err.code).toBe('private_address');
    expect(err.message).toContain('127.0.0.2');
  });

  it('refuses redirects to other schemes and redirect loops', async () => {
    expect((await rejection(fetchBounded(`${base}/to-file`, open))).code).toBe('bad_url');
    const loop = await rejection(fetchBounded(`${base}/loop`, { ...open, maxRedirects: 3 }));
    expect(loop.code).toBe('too_many_redirects');
  });

  it('enforces maxBytes with and without a Content-Length', async () => {
    expect((await rejection(fetchBounded(`${base}/big`, { ...open, maxBytes: 5000 }))).code).toBe(
      'too_large',
    );
    expect((await rejection(fetchBounded(`${base}/big-chunked`, { ...open, maxBytes: 5000 }))).code).toBe(
      'too_large',
    );
    expect((await fetchBounded(`${base}/big-chunked`, { ...open, maxBytes: 10_000 })).bytes.byteLength).toBe(
      10_000,
    );
  });

  it('reports HTTP errors, timeouts and unresolvable hosts clearly', async () => {
    const notFound = await rejection(fetchBounded(`${base}/nothing`, open));
    expect(notFound.code).toBe('http_status');
    expect(notFound.message).toContain('404');

    const slow = await rejection(fetchBounded(`${base}/hang`, { ...open, timeoutMs: 300 }));
    expect(slow.code).toBe('timeout');

    const dns = await rejection(
      fetchBounded('http://no-such-host.invalid/x.png', { ...open, allowPrivateNetwork: false }),
    );
    expect(dns.code).toBe('network');
    expect(dns.message).toContain('network unavailable?');
  });

  it('refuses non-http URLs', async () => {
    expect((await rejection(fetchBounded('ftp://127.0.0.1/x', open))).code).toBe('bad_url');
  });

  it('resolvePicture downloads through the same guard', async () => {
    const dir = '/nonexistent-folder';
    const refused = await rejection(
      resolvePicture(`${base}/blue.png`, join(dir, 'p.html'), testLoaderContext()),
    );
    expect(refused.code).toBe('private_address');

    const allowed = testLoaderContext({ allowPrivateNetwork: true });
    const picture = await resolvePicture(`${base}/to-image`, join(dir, 'p.html'), allowed);
    expect(picture.mime).toBe('image/png');
    expect(picture.origin).toBe(`${base}/blue.png`);

    const notPicture = await rejection(resolvePicture(`${base}/text`, join(dir, 'p.html'), allowed));
    expect(notPicture.code).toBe('not_image');

    const small = testLoaderContext({ allowPrivateNetwork: true, limits: { maxImageBytes: 20 } });
    expect((await rejection(resolvePicture(`${base}/blue.png`, join(dir, 'p.html'), small))).code).toBe(
      'too_large',
    );
  });

  it('resolves relative refs against a page fetched by URL', async () => {
    const picture = await resolvePicture(
      'blue.png',
      `${base}/articles/../index.html`,
      testLoaderContext({ allowPrivateNetwork: true }),
    );
    expect(picture.origin).toBe(`${base}/blue.png`);
  });
});
